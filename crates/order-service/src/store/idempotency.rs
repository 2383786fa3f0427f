//! Idempotency keys: a key is claimed before a create, completed in the create's transaction
//! with the response to replay, and forgotten after [`IDEMPOTENCY_TTL`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// How long idempotency keys live.
pub const IDEMPOTENCY_TTL: chrono::Duration = chrono::Duration::hours(24);
/// A claimed key whose request has not finished after this long is taken to be abandoned
/// (its process died) and may be claimed again.
pub const IDEMPOTENCY_IN_FLIGHT_TTL: chrono::Duration = chrono::Duration::seconds(60);

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
    /// The key is ours: go ahead, and complete it in the write's transaction
    /// ([`super::OrderStore::create`]).
    Claimed,
    /// Another request with this key is still being served.
    InFlight,
    /// The key was used with a different body.
    Mismatch,
    Completed(StoredResponse),
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    async fn claim(&self, key: &IdempotencyKey, request_hash: &str) -> Result<Claim, StoreError>;
    /// Gives a claimed key back after the request failed without effect.
    async fn release(&self, key: &IdempotencyKey) -> Result<(), StoreError>;
    /// Forgets keys older than `before`; returns how many.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
