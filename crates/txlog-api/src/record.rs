use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Event;

/// `POST /v1/transactions` body: 1 to 1 000 events.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub transactions: Vec<Event>,
}

/// The outcome of appending one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AppendResult {
    pub event_id: Uuid,
    pub transaction_id: Uuid,
    pub seq: u64,
    /// True when the event had been stored before; the ids are those of the first storage.
    pub duplicate: bool,
}

/// `POST /v1/transactions` answer, in input order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchResult {
    pub results: Vec<AppendResult>,
}

/// A stored business transaction: the event plus its place in the hash chain.
/// `hash` = hex SHA-256 of `prev_hash` (hex) followed by the RFC 8785 canonical JSON of the
/// record without `hash`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Record {
    #[serde(flatten)]
    pub event: Event,
    pub transaction_id: Uuid,
    pub seq: u64,
    pub recorded_at: DateTime<Utc>,
    pub prev_hash: String,
    /// The `sub` of the `txlog:write` token that delivered the event (set by the log; absent
    /// on records stored before the log kept it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_by: Option<String>,
    pub hash: String,
}

/// `GET /v1/transactions` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordPage {
    pub items: Vec<Record>,
    pub next_cursor: Option<String>,
}

/// One record's filter fields exactly as the store keeps them (`GET /v1/transactions/index`):
/// what `?order_id=`, `?actor=`, `?operation=`, `?outcome=` and the time bounds read. An
/// auditor compares each with the same fields of the hashed record at `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IndexEntry {
    pub seq: u64,
    pub order_id: Option<String>,
    /// The stored `actor.sub`.
    pub actor: Option<String>,
    pub operation: String,
    pub outcome: String,
    /// RFC 3339 to the millisecond, as `recorded_at` is written in records.
    pub recorded_at: String,
}

/// `GET /v1/transactions/index` answer: entries in ascending `seq`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IndexPage {
    pub items: Vec<IndexEntry>,
    pub next_cursor: Option<String>,
}

/// `GET /v1/transactions/verify` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerifyReport {
    pub valid: bool,
    /// Records whose hash this verification recomputed.
    pub checked: u64,
    /// The last record checked (or, when nothing new was stored, the `since` head).
    pub head: Option<VerifyHead>,
    pub first_invalid_seq: Option<u64>,
    /// The head an earlier verification found valid, which this one started from; `null`
    /// for a walk from the first record (`?full=true`, or no earlier verification).
    #[serde(default)]
    pub since: Option<VerifyHead>,
    /// `false` when this call stopped at its bound before the end of the chain: `head` is the
    /// last record checked, and (when valid) the next call continues from it.
    #[serde(default = "complete_by_default")]
    pub complete: bool,
}

fn complete_by_default() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerifyHead {
    pub seq: u64,
    pub hash: String,
}
