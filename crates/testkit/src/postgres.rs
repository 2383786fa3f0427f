//! A PostgreSQL database of one test, dropped when the test ends.
//!
//! Tests create a database each (`ordersys_test_*`, `ordersys_e2e_*`) so that they cannot see
//! each other's rows; [`TestDatabase`] drops it again when it goes out of scope, also when the
//! test panics, so that runs do not leave thousands of databases behind.

use std::time::Duration;

use sqlx::{Connection, PgConnection};

/// The server tests use: `TEST_POSTGRES_URL` (a URL of its `postgres` database), or the
/// PostgreSQL that `bash .ci/postgres.sh` starts.
pub fn admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// How long dropping a database may take before it is left behind (with a notice).
const DROP_WITHIN: Duration = Duration::from_secs(15);

/// A database created for one test; dropped (with `FORCE`, so open connections do not keep it)
/// on a fresh connection when this value is dropped. A failure to drop it is printed, never a
/// panic: the test's own outcome is what matters.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates `<prefix>_<unique>` on the server of `admin_url` (a URL of an existing database
    /// there, such as `postgres`). `prefix` must be a plain SQL identifier.
    pub async fn create(admin_url: &str, prefix: &str) -> Result<Self, sqlx::Error> {
        assert!(
            prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "a database prefix is lowercase letters, digits and _"
        );
        let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::connect(admin_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        let _ = conn.close().await;
        let server = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(server, _)| server);
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: format!("{server}/{name}"),
            name,
        })
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop may run inside a Tokio runtime (which must not be blocked on itself) or outside
        // any; a thread with a runtime of its own works in both.
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                tokio::time::timeout(DROP_WITHIN, drop_database(&admin, &name))
                    .await
                    .map_err(|_| format!("no answer within {DROP_WITHIN:?}"))?
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(why)) => eprintln!("the test database {} was left behind: {why}", self.name),
            Err(_) => eprintln!("the test database {} was left behind", self.name),
        }
    }
}

/// `DROP DATABASE IF EXISTS name WITH (FORCE)` on a fresh connection to `admin_url`.
pub async fn drop_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(())
}
