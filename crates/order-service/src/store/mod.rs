//! Persistence of orders, idempotency keys and the outbox of business transactions, behind
//! one trait with a PostgreSQL and a SQLite implementation.

mod error;
mod postgres;
mod sql;
mod sqlite;
mod statement;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{Order, Status};

pub use error::StoreError;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Opens the store named by the URL scheme, and brings its schema up to date.
pub async fn connect(url: &str) -> anyhow::Result<Arc<dyn OrderStore>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else {
        anyhow::bail!("unsupported database URL scheme (expected postgres:// or sqlite://)")
    }
}

/// Filters and position of one page of `GET /v1/orders`, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    pub customer_id: Option<String>,
    pub status: Option<Status>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Orders strictly older than this `(created_at, id)` position.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: u32,
}

/// A business transaction ready for the outbox: its id, its JSON, and the W3C trace context
/// of the call (so that its delivery continues the call's trace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub event_id: Uuid,
    pub payload: String,
    pub traceparent: Option<String>,
}

/// Proof that a write committed, and whether the call's event went into the outbox in its
/// transaction. Only the store makes one. The write's response carries it (an extension), which
/// tells the recording middleware that the call is recorded already; were it forgotten, the
/// middleware would write the same event again, which the outbox ignores (`event_id` is unique).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the write's response must carry it (see recording::record)"]
pub struct Committed {
    recorded: bool,
}

impl Committed {
    fn with(event: Option<&OutboxEvent>) -> Self {
        Self {
            recorded: event.is_some(),
        }
    }

    /// Whether the call's event was written with the change.
    pub fn recorded(&self) -> bool {
        self.recorded
    }
}

/// Idempotency keys are scoped per caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub caller: String,
    pub key: String,
}

/// The first answer to an idempotent request, replayed to later ones.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub location: Option<String>,
    pub etag: Option<String>,
    pub body: String,
}

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours: go ahead, and complete it in the write's transaction.
    Claimed,
    /// Another request with this key is still being served.
    InFlight,
    /// The key was used with a different body.
    Mismatch,
    Completed(StoredResponse),
}

/// An event the transaction log refused for good: its answer (a 4xx such as 422) says the
/// event itself is wrong, so sending it again can never succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub event_id: Uuid,
    pub status: u16,
    /// What the log said, cut to 2 000 characters.
    pub reason: String,
}

/// An event set aside in the dead-letter table (`outbox_dead_letters`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub event_id: Uuid,
    pub payload: String,
    pub status: u16,
    pub reason: String,
    pub failed_at: DateTime<Utc>,
}

/// What one [`OrderStore::deliver_outbox`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Events the log acknowledged (stored, or already stored before).
    pub delivered: usize,
    /// Events the log refused for good, now in the dead-letter table.
    pub dead_lettered: Vec<Refusal>,
}

impl Delivered {
    /// Events that left the outbox.
    pub fn count(&self) -> usize {
        self.delivered + self.dead_lettered.len()
    }
}

/// Receives a batch of outbox events. `Ok` means every event is durably delivered, except
/// those it returns: the ones the receiver refused for good. `Err` means try again later.
#[async_trait]
pub trait Deliver: Send + Sync {
    async fn deliver(&self, events: Vec<OutboxEvent>) -> anyhow::Result<Vec<Refusal>>;
}

/// Everything the order service keeps. Every write that changes an order takes its outbox
/// event along, in the same database transaction.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    async fn ping(&self) -> Result<(), StoreError>;
    async fn get(&self, id: Uuid) -> Result<Option<Order>, StoreError>;
    async fn list(&self, query: &ListQuery) -> Result<Vec<Order>, StoreError>;
    /// Inserts the order, stores the idempotent response when a key was claimed, and appends
    /// the event (absent only when call recording is switched off for benchmarks), all in one
    /// transaction.
    async fn create(
        &self,
        order: &Order,
        idempotency: Option<(&IdempotencyKey, &StoredResponse)>,
        event: Option<&OutboxEvent>,
    ) -> Result<Committed, StoreError>;
    /// Replaces the order if its stored version is still `expected`; `None` otherwise.
    async fn update(
        &self,
        order: &Order,
        expected: i64,
        event: Option<&OutboxEvent>,
    ) -> Result<Option<Committed>, StoreError>;
    /// Deletes the order if its stored version is still `expected`; `None` otherwise.
    async fn delete(
        &self,
        id: Uuid,
        expected: i64,
        event: Option<&OutboxEvent>,
    ) -> Result<Option<Committed>, StoreError>;

    async fn claim_idempotency_key(
        &self,
        key: &IdempotencyKey,
        request_hash: &str,
    ) -> Result<Claim, StoreError>;
    /// Gives a claimed key back after the request failed without effect.
    async fn release_idempotency_key(&self, key: &IdempotencyKey) -> Result<(), StoreError>;
    /// Forgets keys older than `before`; returns how many.
    async fn purge_idempotency_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Appends events in one statement (group commit of reads and failed calls).
    async fn append_outbox(&self, events: &[OutboxEvent]) -> Result<(), StoreError>;
    /// Hands up to `limit` of the oldest events to `deliver`, and removes them once delivered;
    /// the ones it refused for good move to the dead-letter table in the same transaction.
    async fn deliver_outbox(
        &self,
        limit: u32,
        deliver: &dyn Deliver,
    ) -> Result<Delivered, StoreError>;
    /// The newest `limit` dead letters, newest first.
    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StoreError>;
    /// Events waiting, and when the oldest was written.
    async fn outbox_backlog(&self) -> Result<(i64, Option<DateTime<Utc>>), StoreError>;
    /// Database connections open and idle.
    fn pool_usage(&self) -> (u32, usize);
}

/// How long idempotency keys live.
pub const IDEMPOTENCY_TTL: chrono::Duration = chrono::Duration::hours(24);
/// A claimed key whose request has not finished after this long is taken to be abandoned
/// (its process died) and may be claimed again.
pub const IDEMPOTENCY_IN_FLIGHT_TTL: chrono::Duration = chrono::Duration::seconds(60);
