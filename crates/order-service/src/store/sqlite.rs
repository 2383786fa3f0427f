use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};

use super::sql::{move_to_dead_letters, SqlBackend};
use super::{Deliver, Delivered, OutboxEvent, StoreError};

/// The embedded store: one file, WAL, fully synchronous commits (an answered call's event
/// survives power loss), writers take the lock up front (`BEGIN IMMEDIATE`).
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        if let Some(dir) = options
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

/// Everything else is the shared SQL of [`super::sql`].
#[async_trait]
impl SqlBackend for SqliteStore {
    type Db = sqlx::Sqlite;
    /// Writers take the lock up front instead of failing when a read lock cannot be upgraded.
    const BEGIN: &'static str = "BEGIN IMMEDIATE";

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    /// Delivers the oldest events, then in one transaction moves the refused ones to the
    /// dead-letter table and deletes them all. Rows are numbered by AUTOINCREMENT under
    /// SQLite's single writer, so the delivered rows are exactly the id range read.
    async fn deliver_batch(
        &self,
        limit: u32,
        deliver: &dyn Deliver,
    ) -> Result<Delivered, StoreError> {
        let rows: Vec<(i64, uuid::Uuid, String, Option<String>)> = sqlx::query_as(
            "SELECT id, event_id, payload, traceparent FROM outbox ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let (Some(first), Some(last)) = (rows.first().map(|r| r.0), rows.last().map(|r| r.0))
        else {
            return Ok(Delivered::default());
        };
        let count = rows.len();
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
        let mut tx = self.pool.begin_with(Self::BEGIN).await?;
        move_to_dead_letters::<sqlx::Sqlite>(&mut tx, &refused).await?;
        sqlx::query("DELETE FROM outbox WHERE id BETWEEN $1 AND $2")
            .bind(first)
            .bind(last)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Delivered {
            delivered: count.saturating_sub(refused.len()),
            dead_lettered: refused,
        })
    }
}
