//! The production store: PostgreSQL.

use std::time::Duration;

use sqlx::postgres::{PgPoolOptions, PgQueryResult};

use super::sql::{Dialect, SqlStore};

/// PostgreSQL's [`Dialect`].
pub struct Postgres;

impl Dialect for Postgres {
    type Db = sqlx::Postgres;
    const BEGIN: &'static str = "BEGIN";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

pub type PgStore = SqlStore<Postgres>;

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
        let mut migrations = sqlx::migrate!("./migrations/postgres");
        super::sql::tolerate_newer(&mut migrations);
        migrations.run(&pool).await?;
        Ok(Self::new(pool))
    }
}
