use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions, PgQueryResult};

use super::sql::{move_to_dead_letters, SqlBackend};
use super::{Deliver, Delivered, OutboxEvent, StoreError};

/// The production store.
pub struct PgStore {
    pool: PgPool,
}

/// Connections per replica: PostgreSQL does best with few busy connections.
const POOL_SIZE: u32 = 16;

impl PgStore {
    /// Connects and runs pending migrations; sqlx holds a PostgreSQL advisory lock while
    /// migrating, so replicas starting together migrate once.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(5))
            // A broken connection fails its statement and is replaced; pinging before every
            // checkout costs a round trip per statement (docs/BENCHMARKS.md).
            .test_before_acquire(false)
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }
}

/// Everything else is the shared SQL of [`super::sql`].
#[async_trait]
impl SqlBackend for PgStore {
    type Db = sqlx::Postgres;
    const BEGIN: &'static str = "BEGIN";

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    /// Locks a batch of the oldest events (`SKIP LOCKED`, so replicas share the work), delivers
    /// them, and in the same transaction moves the refused ones to the dead-letter table and
    /// deletes them all.
    async fn deliver_batch(
        &self,
        limit: u32,
        deliver: &dyn Deliver,
    ) -> Result<Delivered, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(i64, uuid::Uuid, String, Option<String>)> = sqlx::query_as(
            "SELECT id, event_id, payload, traceparent FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(Delivered::default());
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let events = rows
            .into_iter()
            .map(|(_, event_id, payload, traceparent)| OutboxEvent {
                event_id,
                payload,
                traceparent,
            });
        let refused = deliver
            .deliver(events.collect())
            .await
            .map_err(StoreError::Delivery)?;
        move_to_dead_letters::<sqlx::Postgres>(&mut tx, &refused).await?;
        sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Delivered {
            delivered: ids.len().saturating_sub(refused.len()),
            dead_lettered: refused,
        })
    }
}
