//! [`OutboxStore`] in SQL. A claim marks its rows with a random lease number and an expiry
//! (`outbox.lease`, `outbox.leased_until`, in microseconds); extending, releasing (the lease
//! runs out at once) and acknowledging touch only rows still marked with that number, found by
//! their primary key range.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::statement::Statement;
use super::{from_micros, micros, Dialect, SqlStore};
use crate::store::{Backlog, DeadLetter, Lease, OutboxEvent, OutboxStore, Refusal, StoreError};

#[async_trait]
impl<D: Dialect> OutboxStore for SqlStore<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Decode<'q, D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Decode<'q, D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
{
    async fn append(&self, events: &[OutboxEvent]) -> Result<(), StoreError> {
        insert_events(&self.pool, events).await
    }

    async fn claim(&self, limit: u32, lease_for: Duration) -> Result<Option<Lease>, StoreError> {
        let now = Utc::now();
        let id: i64 = rand::random();
        let sql = format!(
            "UPDATE outbox SET lease = $1, leased_until = $2 WHERE id IN (\
             SELECT id FROM outbox WHERE lease IS NULL OR leased_until < $3 \
             ORDER BY id LIMIT $4{}) \
             RETURNING id, event_id, payload, traceparent",
            D::SKIP_LOCKED
        );
        let mut rows: Vec<(i64, Uuid, String, Option<String>)> = sqlx::query_as(&sql)
            .bind(id)
            .bind(micros(now + lease_for))
            .bind(micros(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.sort_unstable_by_key(|row| row.0);
        let (Some(first), Some(last)) = (rows.first().map(|r| r.0), rows.last().map(|r| r.0))
        else {
            return Ok(None);
        };
        let events = rows
            .into_iter()
            .map(|(_, event_id, payload, traceparent)| OutboxEvent {
                event_id,
                payload,
                traceparent,
            })
            .collect();
        Ok(Some(Lease {
            id,
            rows: (first, last),
            events,
        }))
    }

    async fn extend(&self, lease: &Lease, lease_for: Duration) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET leased_until = $1 WHERE id BETWEEN $2 AND $3 AND lease = $4",
        )
        .bind(micros(Utc::now() + lease_for))
        .bind(lease.rows.0)
        .bind(lease.rows.1)
        .bind(lease.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn ack(&self, lease: Lease, refused: &[Refusal]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with(D::BEGIN).await?;
        let now = micros(Utc::now());
        for refusal in refused {
            sqlx::query(
                "INSERT INTO outbox_dead_letters \
                 (event_id, payload, traceparent, status, reason, created_at, failed_at) \
                 SELECT event_id, payload, traceparent, $1, $2, created_at, $3 FROM outbox \
                 WHERE event_id = $4 AND lease = $5 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(i64::from(refusal.status))
            .bind(refusal.reason.clone())
            .bind(now)
            .bind(refusal.event_id)
            .bind(lease.id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM outbox WHERE id BETWEEN $1 AND $2 AND lease = $3")
            .bind(lease.rows.0)
            .bind(lease.rows.1)
            .bind(lease.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The lease runs out now: the next claim takes the events.
    async fn release(&self, lease: Lease) -> Result<(), StoreError> {
        self.extend(&lease, Duration::ZERO).await
    }

    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StoreError> {
        let rows: Vec<(Uuid, String, i64, String, i64)> = sqlx::query_as(
            "SELECT event_id, payload, status, reason, failed_at FROM outbox_dead_letters \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(event_id, payload, status, reason, failed_at)| {
                Ok(DeadLetter {
                    event_id,
                    payload,
                    status: u16::try_from(status).map_err(|_| {
                        StoreError::Corrupt(format!("dead letter {event_id}: status {status}"))
                    })?,
                    reason,
                    failed_at: from_micros(failed_at)?,
                })
            })
            .collect()
    }

    async fn backlog(&self) -> Result<Backlog, StoreError> {
        let (count, oldest): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM outbox")
                .fetch_one(&self.pool)
                .await?;
        Ok(Backlog {
            events: u64::try_from(count)
                .map_err(|_| StoreError::Corrupt(format!("an outbox of {count} events")))?,
            oldest: oldest.map(from_micros).transpose()?,
        })
    }
}

/// Appends events to the outbox in one statement, through a pool or in a write's transaction.
/// An event already there (`event_id` is unique) is not written again, and does not fail the
/// others.
pub(super) async fn insert_events<'c, Db, E>(
    executor: E,
    events: &[OutboxEvent],
) -> Result<(), StoreError>
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
    let mut st = Statement::<Db>::new(INSERT_EVENTS);
    st.push(" VALUES ");
    for (i, e) in events.iter().enumerate() {
        st.push(if i == 0 { "(" } else { ", (" });
        bind_event(&mut st, e, now).push(")");
    }
    st.push(" ON CONFLICT (event_id) DO NOTHING");
    let (sql, args) = st.into_parts()?;
    sqlx::query_with(&sql, args).execute(executor).await?;
    Ok(())
}

/// The start of an outbox insert; [`bind_event`] gives one row's values in its column order.
pub(super) const INSERT_EVENTS: &str =
    "INSERT INTO outbox (event_id, payload, created_at, traceparent)";

/// Binds one event's outbox row, written at `now`: `$a, $b, $c, $d`.
pub(super) fn bind_event<'s, 'q, Db: Database>(
    st: &'s mut Statement<'q, Db>,
    event: &'q OutboxEvent,
    now: i64,
) -> &'s mut Statement<'q, Db>
where
    for<'a> &'a str: Encode<'a, Db> + Type<Db>,
    for<'a> Option<String>: Encode<'a, Db> + Type<Db>,
    for<'a> i64: Encode<'a, Db> + Type<Db>,
    for<'a> Uuid: Encode<'a, Db> + Type<Db>,
{
    st.bind(event.event_id);
    st.push(", ").bind(event.payload.as_str());
    st.push(", ").bind(now);
    st.push(", ").bind(event.traceparent.clone())
}
