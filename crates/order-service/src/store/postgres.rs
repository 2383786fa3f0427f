use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::sql::impl_order_store;
use super::Deliver;

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
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Locks a batch of the oldest events (`SKIP LOCKED`, so replicas share the work), delivers
    /// them, and deletes them in the same transaction.
    async fn deliver_batch(&self, limit: u32, deliver: &dyn Deliver) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, payload FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let (ids, payloads): (Vec<i64>, Vec<String>) = rows.into_iter().unzip();
        deliver.deliver(payloads).await?;
        sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ids.len())
    }
}

impl_order_store!(PgStore, sqlx::Postgres, "BEGIN");
