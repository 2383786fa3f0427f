//! The production store: PostgreSQL.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgQueryResult};
use sqlx::{ConnectOptions, Connection};

use super::sql::{Dialect, SqlStore};
use super::DatabaseOptions;

/// PostgreSQL's [`Dialect`].
pub struct Postgres;

impl Dialect for Postgres {
    type Db = sqlx::Postgres;
    const BEGIN: &'static str = "BEGIN";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    const ONE_STATEMENT_WRITES: bool = true;

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

pub type PgStore = SqlStore<Postgres>;

/// Connections per replica: PostgreSQL does best with few busy connections.
const POOL_SIZE: u32 = 16;
/// How long the first connection waits for a database that is not reachable yet (started
/// beside the service, or a network policy that admits a new pod a moment after it starts)
/// before the service gives up; below a pod's grace period and its probes' patience.
const START_PATIENCE: Duration = Duration::from_secs(30);

impl PgStore {
    /// Connects and runs pending migrations; sqlx holds a PostgreSQL advisory lock while
    /// migrating, so replicas starting together migrate once. Migrations run on a connection
    /// of their own, without the statement timeout: building an index on a large table may
    /// rightly take longer than any call should.
    pub async fn connect(url: &str, options: DatabaseOptions) -> anyhow::Result<Self> {
        let base = PgConnectOptions::from_str(url)?;
        let mut migrations = sqlx::migrate!("./migrations/postgres");
        super::sql::tolerate_newer(&mut migrations);
        let mut conn = first_connection(&base).await?;
        migrations.run(&mut conn).await?;
        conn.close().await?;
        // Set at connection start-up (the `options` parameter), so it holds for every
        // statement of every pooled connection, including one that reconnects.
        let pooled = match options.statement_timeout {
            Some(t) if !t.is_zero() => {
                base.options([("statement_timeout", format!("{}ms", t.as_millis()))])
            }
            _ => base,
        };
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(5))
            // A broken connection fails its statement and is replaced; pinging before every
            // checkout costs a round trip per statement (docs/BENCHMARKS.md).
            .test_before_acquire(false)
            .connect_with(pooled)
            .await?;
        Ok(Self::new(pool))
    }
}

/// A connection for the migrations, retried with backoff (250 ms doubling up to 4 s) while the
/// database is unreachable or refusing, for at most [`START_PATIENCE`]; any other error (a
/// wrong password, no such database) at once.
async fn first_connection(options: &PgConnectOptions) -> Result<PgConnection, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + START_PATIENCE;
    let mut pause = Duration::from_millis(250);
    loop {
        match options.connect().await {
            Err(e)
                if platform::database::is_unavailable(&e)
                    && tokio::time::Instant::now() + pause < deadline =>
            {
                tracing::warn!(
                    error = %e,
                    retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                    "the database is not reachable yet; retrying"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(4));
            }
            other => return other,
        }
    }
}
