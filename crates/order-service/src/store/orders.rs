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

/// Proof that a write committed, with the call's event in the outbox in its transaction. Only
/// the store makes one, and every write takes its event (there is no write without one). The
/// write's response carries it (an extension, see `api::orders`), which tells the recording
/// middleware that the call is recorded already; were it forgotten, the middleware would write
/// the same event again, which the outbox ignores (`event_id` is unique).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the write's response must carry it (see recording::record)"]
pub struct Committed {
    _private: (),
}

impl Committed {
    pub(super) fn new() -> Self {
        Self { _private: () }
    }

    /// For the benchmark's baseline without recording only (`crates/bench`, which enables the
    /// `bench` feature): the proof of a write made without its event, which no production path
    /// can make.
    #[cfg(feature = "bench")]
    pub fn unrecorded_for_benchmark() -> Self {
        Self::new()
    }
}

/// The orders. Every write that changes an order takes its outbox event along, in the same
/// database transaction.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    async fn get(&self, id: Uuid) -> Result<Option<Order>, StoreError>;
    async fn list(&self, query: &ListQuery) -> Result<Vec<Order>, StoreError>;
    /// Inserts the order, stores the idempotent response when a key was claimed, and appends
    /// the call's event, all in one transaction.
    async fn create(
        &self,
        order: &Order,
        idempotency: Option<(&IdempotencyKey, &StoredResponse)>,
        event: &OutboxEvent,
    ) -> Result<Committed, StoreError>;
    /// Replaces the order, and appends the call's event, if its stored version is still
    /// `expected`; `None` otherwise (nothing written).
    async fn update(
        &self,
        order: &Order,
        expected: i64,
        event: &OutboxEvent,
    ) -> Result<Option<Committed>, StoreError>;
    /// Deletes the order, and appends the call's event, if its stored version is still
    /// `expected`; `None` otherwise (nothing written).
    async fn delete(
        &self,
        id: Uuid,
        expected: i64,
        event: &OutboxEvent,
    ) -> Result<Option<Committed>, StoreError>;
}
