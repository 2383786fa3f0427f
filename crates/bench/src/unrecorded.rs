//! Baseline (d) without recording: the order service's own handlers, router and middleware, on
//! a store that writes orders without their events and an outbox that keeps nothing. The
//! service itself has no switch for this (every write takes its event, `store::OrderStore`);
//! the difference lives here, in the benchmark, which alone enables order-service's `bench`
//! feature for the one constructor it needs (`Committed::unrecorded_for_benchmark`).
//!
//! What (d) then prices is the outbox: the event row in each write's transaction, the group
//! commit of the other calls' events, and their delivery. Building each event (a few
//! microseconds of CPU) is still done and counted on both sides.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use order_service::domain::Order;
use order_service::store::{
    Backlog, Committed, DeadLetter, IdempotencyKey, Lease, ListQuery, OrderStore, OutboxEvent,
    OutboxStore, Refusal, Store, StoreError, StoredResponse,
};
use sqlx::PgPool;
use uuid::Uuid;

/// `store` with writes that leave no event and an outbox that keeps nothing.
pub fn without_recording(store: Store, pool: PgPool) -> Store {
    Store {
        orders: Arc::new(UnrecordedOrders {
            reads: store.orders,
            pool,
        }),
        idempotency: store.idempotency,
        outbox: Arc::new(NoOutbox),
        health: store.health,
    }
}

/// The order store's reads, and its writes' statements without the outbox insert.
struct UnrecordedOrders {
    reads: Arc<dyn OrderStore>,
    pool: PgPool,
}

#[async_trait]
impl OrderStore for UnrecordedOrders {
    async fn get(&self, id: Uuid) -> Result<Option<Order>, StoreError> {
        self.reads.get(id).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<Order>, StoreError> {
        self.reads.list(query).await
    }

    async fn create(
        &self,
        order: &Order,
        idempotency: Option<(&IdempotencyKey, &StoredResponse)>,
        _event: &OutboxEvent,
    ) -> Result<Committed, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO orders (id, customer_id, status, version, created_at, doc) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(order.id)
        .bind(order.customer_id.as_str())
        .bind(order.status.as_str())
        .bind(order.version)
        .bind(order.created_at.timestamp_micros())
        .bind(serde_json::to_string(order)?)
        .execute(&mut *tx)
        .await?;
        if let Some((key, response)) = idempotency {
            sqlx::query(
                "UPDATE idempotency_keys SET response = $1 WHERE caller = $2 AND idem_key = $3",
            )
            .bind(serde_json::to_string(response)?)
            .bind(key.caller.as_str())
            .bind(key.key.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Committed::unrecorded_for_benchmark())
    }

    async fn update(
        &self,
        order: &Order,
        expected: i64,
        _event: &OutboxEvent,
    ) -> Result<Option<Committed>, StoreError> {
        let done = sqlx::query(
            "UPDATE orders SET status = $1, version = $2, doc = $3 WHERE id = $4 AND version = $5",
        )
        .bind(order.status.as_str())
        .bind(order.version)
        .bind(serde_json::to_string(order)?)
        .bind(order.id)
        .bind(expected)
        .execute(&self.pool)
        .await?;
        Ok((done.rows_affected() == 1).then(Committed::unrecorded_for_benchmark))
    }

    async fn delete(
        &self,
        id: Uuid,
        expected: i64,
        _event: &OutboxEvent,
    ) -> Result<Option<Committed>, StoreError> {
        let done = sqlx::query("DELETE FROM orders WHERE id = $1 AND version = $2")
            .bind(id)
            .bind(expected)
            .execute(&self.pool)
            .await?;
        Ok((done.rows_affected() == 1).then(Committed::unrecorded_for_benchmark))
    }
}

/// An outbox that takes every event and keeps none: nothing to deliver.
struct NoOutbox;

#[async_trait]
impl OutboxStore for NoOutbox {
    async fn append(&self, _events: &[OutboxEvent]) -> Result<(), StoreError> {
        Ok(())
    }

    async fn claim(&self, _limit: u32, _lease_for: Duration) -> Result<Option<Lease>, StoreError> {
        Ok(None)
    }

    async fn extend(&self, _lease: &Lease, _lease_for: Duration) -> Result<(), StoreError> {
        Ok(())
    }

    async fn ack(&self, _lease: Lease, _refused: &[Refusal]) -> Result<(), StoreError> {
        Ok(())
    }

    async fn release(&self, _lease: Lease) -> Result<(), StoreError> {
        Ok(())
    }

    async fn dead_letters(&self, _limit: u32) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(Vec::new())
    }

    async fn backlog(&self) -> Result<Backlog, StoreError> {
        Ok(Backlog::default())
    }
}
