//! Orders: read, list, and the writes that take the call's outbox event along in their
//! transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{IdempotencyKey, OutboxEvent, StoreError, StoredResponse};
use crate::domain::{Order, Status};

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
    pub(super) fn with(event: Option<&OutboxEvent>) -> Self {
        Self {
            recorded: event.is_some(),
        }
    }

    /// Whether the call's event was written with the change.
    pub fn recorded(&self) -> bool {
        self.recorded
    }
}

/// The orders. Every write that changes an order takes its outbox event along, in the same
/// database transaction.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
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
}
