//! Witness cosignatures (SPEC section 12), kept append-only beside the checkpoint they cosign:
//! a trait of their own, so that the records' [`Store`](super::Store) stays as it is.

use super::StoreError;
use super::StoredCheckpoint;

/// The cosignature lines one witness returned for the checkpoint of `size`, each a whole
/// signed-note signature line ending in `\n`, already verified with that witness's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    pub size: u64,
    /// The name of the witness's key (the name in its signature lines).
    pub witness: String,
    pub lines: String,
}

/// Where cosignatures live. Every method is safe with several replicas at once.
#[async_trait::async_trait]
pub trait Cosignatures: Send + Sync {
    /// Keeps a cosignature for good; one stored before for the same size and witness is kept
    /// instead (either verifies: both are that witness's signatures of the same checkpoint).
    async fn add_cosignature(&self, cosignature: &Cosignature) -> Result<(), StoreError>;

    /// Cosignatures of checkpoints smaller than `below`, the largest size first, at most
    /// `limit` of them.
    async fn cosignatures_below(
        &self,
        below: u64,
        limit: u32,
    ) -> Result<Vec<Cosignature>, StoreError>;

    /// The stored checkpoint of exactly `size`.
    async fn checkpoint_at(&self, size: u64) -> Result<Option<StoredCheckpoint>, StoreError>;
}
