//! The statements PostgreSQL and SQLite share, written once. Both speak `$N` placeholders, so
//! one generic [`SqlStore`] implements every store trait for both pools; a backend says only
//! what differs, as a [`Dialect`]: the statement that opens a write transaction, and how the
//! outbox claim skips rows another claim is taking.

mod idempotency;
mod orders;
mod outbox;
mod statement;
mod writes;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Executor, IntoArguments, Pool};

use super::{Health, StoreError};

/// What differs between the SQL backends.
pub trait Dialect: Send + Sync + 'static {
    type Db: Database;
    /// The statement that opens a write transaction.
    const BEGIN: &'static str;
    /// Ends the outbox claim's choice of rows: PostgreSQL skips rows another claim has locked,
    /// so that replicas share the work; SQLite runs one writer at a time and needs nothing.
    const SKIP_LOCKED: &'static str;
    /// Whether a write and its outbox event go to the database as one statement (PostgreSQL's
    /// data-modifying `WITH`: one round trip, atomic on its own) rather than a transaction of
    /// several (SQLite has no data-modifying `WITH`, and its statements cost no round trip).
    const ONE_STATEMENT_WRITES: bool;
    /// Rows a statement changed (sqlx has no common trait for it).
    fn rows_affected(result: &<Self::Db as Database>::QueryResult) -> u64;
}

/// A store on one SQL database; [`super::PgStore`] and [`super::SqliteStore`] are its two
/// dialects.
pub struct SqlStore<D: Dialect> {
    pool: Pool<D::Db>,
}

impl<D: Dialect> SqlStore<D> {
    pub(super) fn new(pool: Pool<D::Db>) -> Self {
        Self { pool }
    }
}

/// Lets a binary start on a schema that a newer release migrated further: migrations only add
/// what an older release can ignore (docs/OPERATIONS.md, "Upgrade and rollback"), so that
/// `helm rollback` needs no change to the schema. sqlx refuses such a database by default.
pub(super) fn tolerate_newer(migrations: &mut sqlx::migrate::Migrator) {
    migrations.set_ignore_missing(true);
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// A stored timestamp; one out of chrono's range was not written by this service and is an
/// error, not 1970.
fn from_micros(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp of {us} microseconds")))
}

#[async_trait]
impl<D: Dialect> Health for SqlStore<D>
where
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
{
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn pool_usage(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }
}
