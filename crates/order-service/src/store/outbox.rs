//! The outbox: business transactions waiting for the transaction log. Events are appended by
//! the writes' own transactions and by the group commit; the relay claims the oldest under a
//! [`Lease`], delivers them outside any database transaction, and acknowledges the lease (the
//! events leave the outbox, the refused ones for the dead-letter table) or releases it (they
//! wait for the next claim). A lease that is neither (its process died) runs out, and its
//! events are claimed again: the log stores each `event_id` once, so nothing is lost and
//! nothing is stored twice.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;

/// A business transaction ready for the outbox: its id, its JSON, and the W3C trace context
/// of the call (so that its delivery continues the call's trace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub event_id: Uuid,
    pub payload: String,
    pub traceparent: Option<String>,
}

/// The oldest events of the outbox, taken for one delivery: no other claim gets them until
/// the lease is acknowledged, released or runs out.
#[derive(Debug)]
#[must_use = "acknowledge the lease once delivered, or release it"]
pub struct Lease {
    /// Marks the leased rows.
    pub(super) id: i64,
    /// The smallest and largest row id leased, which bound the rows' primary keys.
    pub(super) rows: (i64, i64),
    /// Oldest first.
    pub events: Vec<OutboxEvent>,
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

/// What waits in the outbox: how many events (leased or not), and when the oldest was
/// written (`None` when none waits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub events: u64,
    pub oldest: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Appends events in one statement (group commit of reads and failed calls). An event
    /// already there (`event_id` is unique) is not written again, and does not fail the others.
    async fn append(&self, events: &[OutboxEvent]) -> Result<(), StoreError>;
    /// Leases up to `limit` of the oldest events no other lease holds, for `lease_for`; `None`
    /// when there are none. A short statement of its own: no transaction stays open.
    async fn claim(&self, limit: u32, lease_for: Duration) -> Result<Option<Lease>, StoreError>;
    /// Keeps the lease for `lease_for` from now (a delivery that takes long).
    async fn extend(&self, lease: &Lease, lease_for: Duration) -> Result<(), StoreError>;
    /// The leased events were delivered: they leave the outbox, and the `refused` ones move to
    /// the dead-letter table, in one transaction. Events another claim took over after the
    /// lease ran out are left to that claim.
    async fn ack(&self, lease: Lease, refused: &[Refusal]) -> Result<(), StoreError>;
    /// The delivery failed: the lease runs out now, and the events wait for the next claim.
    async fn release(&self, lease: Lease) -> Result<(), StoreError>;
    /// The newest `limit` dead letters, newest first.
    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StoreError>;
    /// What waits in the outbox.
    async fn backlog(&self) -> Result<Backlog, StoreError>;
}
