//! The statements PostgreSQL and SQLite share, written once. Both speak `$N` placeholders, so
//! one generic implementation of [`OrderStore`] serves both pools. A backend says only what
//! differs, as a [`SqlBackend`]: the statement that opens a write transaction, and how a batch
//! of the outbox is claimed and delivered.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};
use uuid::Uuid;

use super::statement::Statement;
use super::{
    Claim, Committed, DeadLetter, Deliver, Delivered, IdempotencyKey, ListQuery, OrderStore,
    OutboxEvent, Refusal, StoreError, StoredResponse, IDEMPOTENCY_IN_FLIGHT_TTL, IDEMPOTENCY_TTL,
};
use crate::domain::Order;

/// What one SQL backend adds to the shared statements.
#[async_trait]
pub(super) trait SqlBackend: Send + Sync + 'static {
    type Db: Database;
    /// The statement that opens a write transaction.
    const BEGIN: &'static str;

    fn pool(&self) -> &Pool<Self::Db>;
    /// Rows a statement changed (sqlx has no common trait for it).
    fn rows_affected(result: &<Self::Db as Database>::QueryResult) -> u64;
    /// Hands up to `limit` of the oldest events to `deliver`, and removes them once delivered,
    /// moving the refused ones to the dead-letter table ([`move_to_dead_letters`]).
    async fn deliver_batch(
        &self,
        limit: u32,
        deliver: &dyn Deliver,
    ) -> Result<Delivered, StoreError>;
}

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

#[async_trait]
impl<B: SqlBackend> OrderStore for B
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<String>: Encode<'q, B::Db> + Decode<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<i64>: Decode<'q, B::Db>,
    for<'q> Uuid: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    usize: ColumnIndex<<B::Db as Database>::Row>,
{
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Order>, StoreError> {
        let doc: Option<String> = sqlx::query_scalar("SELECT doc FROM orders WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(doc.map(|d| serde_json::from_str(&d)).transpose()?)
    }

    async fn list(&self, q: &ListQuery) -> Result<Vec<Order>, StoreError> {
        let mut st = Statement::<B::Db>::new("SELECT doc FROM orders WHERE 1 = 1");
        if let Some(customer) = &q.customer_id {
            st.push(" AND customer_id = ").bind(customer.clone());
        }
        if let Some(status) = q.status {
            st.push(" AND status = ").bind(status.as_str());
        }
        if let Some(t) = q.created_after {
            st.push(" AND created_at > ").bind(micros(t));
        }
        if let Some(t) = q.created_before {
            st.push(" AND created_at < ").bind(micros(t));
        }
        if let Some((t, id)) = q.after {
            st.push(" AND (created_at, id) < (").bind(micros(t));
            st.push(", ").bind(id).push(")");
        }
        st.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .bind(i64::from(q.limit));
        let (sql, args) = st.into_parts()?;
        let docs: Vec<String> = sqlx::query_scalar_with(&sql, args)
            .fetch_all(self.pool())
            .await?;
        docs.iter().map(|d| Ok(serde_json::from_str(d)?)).collect()
    }

    async fn create(
        &self,
        order: &Order,
        idempotency: Option<(&IdempotencyKey, &StoredResponse)>,
        event: Option<&OutboxEvent>,
    ) -> Result<Committed, StoreError> {
        let mut tx = self.pool().begin_with(B::BEGIN).await?;
        sqlx::query(
            "INSERT INTO orders (id, customer_id, status, version, created_at, doc) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(order.id)
        .bind(order.customer_id.as_str())
        .bind(order.status.as_str())
        .bind(order.version)
        .bind(micros(order.created_at))
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
        if let Some(event) = event {
            insert_events(&mut *tx, std::slice::from_ref(event)).await?;
        }
        tx.commit().await?;
        Ok(Committed::with(event))
    }

    async fn update(
        &self,
        order: &Order,
        expected: i64,
        event: Option<&OutboxEvent>,
    ) -> Result<Option<Committed>, StoreError> {
        let mut tx = self.pool().begin_with(B::BEGIN).await?;
        let done = sqlx::query(
            "UPDATE orders SET status = $1, version = $2, doc = $3 WHERE id = $4 AND version = $5",
        )
        .bind(order.status.as_str())
        .bind(order.version)
        .bind(serde_json::to_string(order)?)
        .bind(order.id)
        .bind(expected)
        .execute(&mut *tx)
        .await?;
        finish_write::<B>(tx, &done, event).await
    }

    async fn delete(
        &self,
        id: Uuid,
        expected: i64,
        event: Option<&OutboxEvent>,
    ) -> Result<Option<Committed>, StoreError> {
        let mut tx = self.pool().begin_with(B::BEGIN).await?;
        let done = sqlx::query("DELETE FROM orders WHERE id = $1 AND version = $2")
            .bind(id)
            .bind(expected)
            .execute(&mut *tx)
            .await?;
        finish_write::<B>(tx, &done, event).await
    }

    async fn claim_idempotency_key(
        &self,
        key: &IdempotencyKey,
        request_hash: &str,
    ) -> Result<Claim, StoreError> {
        for _ in 0..3 {
            let now = Utc::now();
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys (caller, idem_key, request_hash, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (caller, idem_key) DO NOTHING",
            )
            .bind(key.caller.as_str())
            .bind(key.key.as_str())
            .bind(request_hash)
            .bind(micros(now))
            .execute(self.pool())
            .await?;
            if B::rows_affected(&inserted) == 1 {
                return Ok(Claim::Claimed);
            }
            let row: Option<(String, Option<String>, i64)> = sqlx::query_as(
                "SELECT request_hash, response, created_at FROM idempotency_keys \
                 WHERE caller = $1 AND idem_key = $2",
            )
            .bind(key.caller.as_str())
            .bind(key.key.as_str())
            .fetch_optional(self.pool())
            .await?;
            let Some((hash, response, created_at)) = row else {
                continue;
            };
            if let Some(claim) = existing_claim(&hash, response, created_at, request_hash, now)? {
                return Ok(claim);
            }
            // Expired or abandoned: take it over, unless another request just did.
            let taken = sqlx::query(
                "UPDATE idempotency_keys SET request_hash = $1, response = NULL, created_at = $2 \
                 WHERE caller = $3 AND idem_key = $4 AND created_at = $5",
            )
            .bind(request_hash)
            .bind(micros(now))
            .bind(key.caller.as_str())
            .bind(key.key.as_str())
            .bind(created_at)
            .execute(self.pool())
            .await?;
            if B::rows_affected(&taken) == 1 {
                return Ok(Claim::Claimed);
            }
        }
        Ok(Claim::InFlight)
    }

    async fn release_idempotency_key(&self, key: &IdempotencyKey) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE caller = $1 AND idem_key = $2 AND response IS NULL",
        )
        .bind(key.caller.as_str())
        .bind(key.key.as_str())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn purge_idempotency_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(micros(before))
            .execute(self.pool())
            .await?;
        Ok(B::rows_affected(&done))
    }

    async fn append_outbox(&self, events: &[OutboxEvent]) -> Result<(), StoreError> {
        insert_events(self.pool(), events).await
    }

    async fn deliver_outbox(
        &self,
        limit: u32,
        deliver: &dyn Deliver,
    ) -> Result<Delivered, StoreError> {
        self.deliver_batch(limit, deliver).await
    }

    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StoreError> {
        let rows: Vec<(Uuid, String, i64, String, i64)> = sqlx::query_as(
            "SELECT event_id, payload, status, reason, failed_at FROM outbox_dead_letters \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(event_id, payload, status, reason, failed_at)| DeadLetter {
                    event_id,
                    payload,
                    status: u16::try_from(status).unwrap_or_default(),
                    reason,
                    failed_at: from_micros(failed_at),
                },
            )
            .collect())
    }

    async fn outbox_backlog(&self) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
        let (count, oldest): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM outbox")
                .fetch_one(self.pool())
                .await?;
        Ok((count, oldest.map(from_micros)))
    }

    fn pool_usage(&self) -> (u32, usize) {
        (self.pool().size(), self.pool().num_idle())
    }
}

/// The shared end of a compare-and-set write (update, delete): nothing more when the version
/// moved on (the transaction rolls back as it is dropped); else the event, and commit.
async fn finish_write<B: SqlBackend>(
    mut tx: sqlx::Transaction<'static, B::Db>,
    done: &<B::Db as Database>::QueryResult,
    event: Option<&OutboxEvent>,
) -> Result<Option<Committed>, StoreError>
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<String>: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Uuid: Encode<'q, B::Db> + Type<B::Db>,
{
    if B::rows_affected(done) == 0 {
        return Ok(None);
    }
    if let Some(event) = event {
        insert_events(&mut *tx, std::slice::from_ref(event)).await?;
    }
    tx.commit().await?;
    Ok(Some(Committed::with(event)))
}

/// Moves the refused events from the outbox to the dead-letter table, in the delivery's
/// transaction (the caller deletes the delivered batch from the outbox afterwards).
pub(super) async fn move_to_dead_letters<Db>(
    conn: &mut Db::Connection,
    refused: &[Refusal],
) -> Result<(), StoreError>
where
    Db: Database,
    for<'c> &'c mut Db::Connection: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> String: Encode<'q, Db> + Type<Db>,
    for<'q> i64: Encode<'q, Db> + Type<Db>,
    for<'q> Uuid: Encode<'q, Db> + Type<Db>,
{
    let now = micros(Utc::now());
    for refusal in refused {
        sqlx::query(
            "INSERT INTO outbox_dead_letters \
             (event_id, payload, traceparent, status, reason, created_at, failed_at) \
             SELECT event_id, payload, traceparent, $1, $2, created_at, $3 FROM outbox \
             WHERE event_id = $4 ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(i64::from(refusal.status))
        .bind(refusal.reason.clone())
        .bind(now)
        .bind(refusal.event_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Appends events to the outbox in one statement, through a pool or in a write's transaction.
/// An event already there (`event_id` is unique) is not written again, and does not fail the
/// others.
async fn insert_events<'c, Db, E>(executor: E, events: &[OutboxEvent]) -> Result<(), StoreError>
where
    Db: Database,
    E: Executor<'c, Database = Db>,
    for<'q> Db::Arguments<'q>: IntoArguments<'q, Db>,
    for<'q> &'q str: Encode<'q, Db> + Type<Db>,
    for<'q> Option<String>: Encode<'q, Db> + Type<Db>,
    for<'q> i64: Encode<'q, Db> + Type<Db>,
    for<'q> Uuid: Encode<'q, Db> + Type<Db>,
{
    if events.is_empty() {
        return Ok(());
    }
    let now = micros(Utc::now());
    let mut st = Statement::<Db>::new(
        "INSERT INTO outbox (event_id, payload, created_at, traceparent) VALUES ",
    );
    for (i, e) in events.iter().enumerate() {
        st.push(if i == 0 { "(" } else { ", (" }).bind(e.event_id);
        st.push(", ").bind(e.payload.as_str());
        st.push(", ").bind(now);
        st.push(", ").bind(e.traceparent.clone()).push(")");
    }
    st.push(" ON CONFLICT (event_id) DO NOTHING");
    let (sql, args) = st.into_parts()?;
    sqlx::query_with(&sql, args).execute(executor).await?;
    Ok(())
}

/// What an idempotency key found in place means for this request; `None` when the key is
/// free to take over (expired, or its request abandoned).
fn existing_claim(
    hash: &str,
    response: Option<String>,
    created_at: i64,
    request_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Claim>, StoreError> {
    let expired = created_at < micros(now - IDEMPOTENCY_TTL);
    let abandoned = response.is_none() && created_at < micros(now - IDEMPOTENCY_IN_FLIGHT_TTL);
    if expired || abandoned {
        return Ok(None);
    }
    if hash != request_hash {
        return Ok(Some(Claim::Mismatch));
    }
    Ok(Some(match response {
        None => Claim::InFlight,
        Some(text) => Claim::Completed(serde_json::from_str(&text)?),
    }))
}
