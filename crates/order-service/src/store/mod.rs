//! Persistence, by job: orders ([`OrderStore`]), idempotency keys ([`IdempotencyStore`]), the
//! outbox of business transactions ([`OutboxStore`]) and the database itself ([`Health`]). One
//! generic SQL implementation ([`sql`]) serves PostgreSQL and SQLite, which differ only in a
//! small [`sql::Dialect`].

mod error;
mod idempotency;
mod orders;
mod outbox;
mod postgres;
mod sql;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use error::StoreError;
pub use idempotency::{
    Claim, IdempotencyKey, IdempotencyStore, StoredResponse, IDEMPOTENCY_IN_FLIGHT_TTL,
    IDEMPOTENCY_TTL,
};
pub use orders::{Committed, ListQuery, OrderStore};
pub use outbox::{Backlog, DeadLetter, Lease, OutboxEvent, OutboxStore, Refusal};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// The database as a whole: whether it answers, and its connections.
#[async_trait]
pub trait Health: Send + Sync + 'static {
    async fn ping(&self) -> Result<(), StoreError>;
    /// Database connections open and idle.
    fn pool_usage(&self) -> (u32, usize);
}

/// One database, seen by job: each part of the service holds the handles it needs.
#[derive(Clone)]
pub struct Store {
    pub orders: Arc<dyn OrderStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub outbox: Arc<dyn OutboxStore>,
    pub health: Arc<dyn Health>,
}

impl Store {
    fn new<S: OrderStore + IdempotencyStore + OutboxStore + Health>(store: S) -> Self {
        let store = Arc::new(store);
        Self {
            orders: store.clone(),
            idempotency: store.clone(),
            outbox: store.clone(),
            health: store,
        }
    }
}

/// How the service uses its database, besides where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseOptions {
    /// PostgreSQL's `statement_timeout` on every pooled connection
    /// (`ORDERS_DATABASE_STATEMENT_TIMEOUT`): a statement that waits longer (on a lock, say)
    /// is cancelled, and its call answered 503. `None` lets statements wait as long as the
    /// database does. SQLite has its own bound, the busy timeout.
    pub statement_timeout: Option<Duration>,
}

/// The default statement timeout: a few seconds above the handler timeout (30 s), which does
/// not cancel a write that has begun (`platform::timeout`), so that a stuck write is answered
/// soon after a stuck read would be.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(35);

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
        }
    }
}

/// Opens the store named by the URL scheme, and brings its schema up to date.
pub async fn connect(url: &str) -> anyhow::Result<Store> {
    connect_with(url, DatabaseOptions::default()).await
}

/// [`connect`] with these options.
pub async fn connect_with(url: &str, options: DatabaseOptions) -> anyhow::Result<Store> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Store::new(PgStore::connect(url, options).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Store::new(SqliteStore::connect(url).await?))
    } else {
        anyhow::bail!("unsupported database URL scheme (expected postgres:// or sqlite://)")
    }
}
