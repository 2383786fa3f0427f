//! The embedded store: SQLite, one file, WAL, fully synchronous commits (an answered call's
//! event survives power loss), writers take the lock up front (`BEGIN IMMEDIATE`).

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};

use super::sql::{Dialect, SqlStore};

/// SQLite's [`Dialect`].
pub struct Sqlite;

impl Dialect for Sqlite {
    type Db = sqlx::Sqlite;
    /// Writers take the lock up front instead of failing when a read lock cannot be upgraded.
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    /// One writer at a time: a claim's `UPDATE` sees every earlier claim.
    const SKIP_LOCKED: &'static str = "";

    const ONE_STATEMENT_WRITES: bool = false;

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

pub type SqliteStore = SqlStore<Sqlite>;

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
            std::fs::create_dir_all(dir).with_context(|| {
                format!(
                    "cannot create {}",
                    std::path::absolute(dir).unwrap_or(dir.into()).display()
                )
            })?;
        }
        let path =
            std::path::absolute(options.get_filename()).unwrap_or(options.get_filename().into());
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the SQLite database {}", path.display()))?;
        let mut migrations = sqlx::migrate!("./migrations/sqlite");
        super::sql::tolerate_newer(&mut migrations);
        migrations.run(&pool).await?;
        Ok(Self::new(pool))
    }
}
