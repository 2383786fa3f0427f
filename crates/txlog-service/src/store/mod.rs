//! Where records live. The stores only store: the [`Sequencer`](crate::transparency::Sequencer)
//! decides what a record is, where it goes and what tree hashes it adds, and asks the store
//! through a few narrow calls ("insert these at their `seq`s, or tell me one is taken", "read
//! these hashes"). One implementation per backend (SQLite embedded, MongoDB in production),
//! chosen by the database URL's scheme; the traits are small and named after what they hold.

mod cosignatures;
mod error;
pub mod mongo;
mod mongo_cosignatures;
mod mongo_tree;
mod sqlite;
mod sqlite_cosignatures;
mod tree_runs;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use txlog_api::VerifyHead;

pub use cosignatures::{Cosignature, Cosignatures};
pub use error::StoreError;
pub use mongo::{
    MongoStore, CHECKPOINTS_COLLECTION, OLD_TREE_COLLECTION, RECORDS_COLLECTION, TREE_COLLECTION,
    VERIFIED_COLLECTION,
};
pub use mongo_cosignatures::COSIGNATURES_COLLECTION;
pub use sqlite::SqliteStore;

use crate::chain::{Head, IndexFields, StatedHash, StoredRecord};
use crate::ids::{EventId, TransactionId};
use tlog_tiles::Hash;

/// Records per page when the whole chain is walked.
pub const CHAIN_PAGE: u32 = 1000;

/// Records in the order they were chained. Every method is safe with several replicas at once.
#[async_trait::async_trait]
pub trait Records: Send + Sync {
    /// The database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Whether the store itself refuses a second record of one `event_id` (a unique index), so
    /// that a writer may insert without looking the batch's events up first.
    fn refuses_duplicate_events(&self) -> bool {
        true
    }

    /// Whether [`Records::insert`] stores `batch.tree` in the records' own write. When it
    /// cannot (MongoDB: records and tree runs are two collections, so the hashes are a second
    /// round trip), the sequencer keeps an append's tree hashes and stores them once per
    /// checkpoint round instead ([`Sequencer::known_tree`](crate::transparency::Sequencer::known_tree)).
    fn stores_tree_with_records(&self) -> bool {
        true
    }

    /// Stores `batch.records` at their `seq`s with their seals and, when the stored tree
    /// hashes end exactly where `batch.tree` begins, those hashes; answers whether it stored
    /// them. [`StoreError::Taken`] when a `seq` or `event_id` is stored already: an atomic
    /// store then stored nothing, an ordered one the records before it.
    async fn insert(&self, batch: &NewRecords<'_>) -> Result<bool, StoreError>;

    /// The last record's link: its `seq`, `hash` and `recorded_at`; [`StoreError::Corrupt`]
    /// when its stored hash is not a hash (nothing is chained onto a record changed in the
    /// database).
    async fn head(&self) -> Result<Option<Head>, StoreError>;

    /// Where the given events are stored, those that are.
    async fn placements(
        &self,
        event_ids: &[EventId],
    ) -> Result<HashMap<EventId, Placement>, StoreError>;

    async fn get(&self, transaction_id: TransactionId) -> Result<Option<StoredRecord>, StoreError>;

    /// Records matching `query`, in its order, at most `query.limit`.
    async fn list(&self, query: &ListQuery) -> Result<Vec<StoredRecord>, StoreError>;

    /// Records with `seq` above `after` (from the start when `None`), ascending, at most `limit`.
    async fn chain_page(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<StoredRecord>, StoreError>;

    /// Like [`Records::chain_page`], each record with its seal (`None` when it has none).
    async fn sealed_page(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<SealedRecord>, StoreError>;

    /// Stores each `(seq, seal)` on its record, only where the record has no seal yet
    /// (`txlog-service setup --seal-existing`).
    async fn add_seals(&self, seals: &[(u64, [u8; 32])]) -> Result<(), StoreError>;
}

/// The Merkle tree's stored hashes (`tlog_tiles` indexes), written once each, in index order.
#[async_trait::async_trait]
pub trait TreeHashes: Send + Sync {
    /// How many are stored: also the next index to write.
    async fn tree_hash_count(&self) -> Result<u64, StoreError>;

    /// The hashes at `indexes`, in that order; [`StoreError::Corrupt`] when one is missing.
    async fn tree_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError>;

    /// Stores `hashes` at indexes `first…`, in order. Hashes are a function of the records, so
    /// an index another replica stored first already holds the same hash and is skipped.
    async fn add_tree_hashes(&self, first: u64, hashes: &[Hash]) -> Result<(), StoreError>;
}

/// Signed checkpoints and the chain heads a verification found valid, both kept for good.
#[async_trait::async_trait]
pub trait Checkpoints: Send + Sync {
    /// The signed checkpoint of the largest tree.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// Keeps a signed checkpoint; one of the same size stored before is kept instead.
    async fn add_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError>;

    /// The highest chain head a verification found valid.
    async fn latest_verified(&self) -> Result<Option<VerifyHead>, StoreError>;

    /// Keeps a head a verification found valid; one at the same `seq` stored before is kept.
    async fn add_verified(&self, head: &VerifyHead) -> Result<(), StoreError>;
}

/// All a backend holds: records, tree hashes, checkpoints and cosignatures.
pub trait Store: Records + TreeHashes + Checkpoints + Cosignatures + 'static {}

impl<T: Records + TreeHashes + Checkpoints + Cosignatures + 'static> Store for T {}

/// Opens the store named by `url` (`sqlite://…`, `mongodb://…` or `mongodb+srv://…`) and
/// makes sure its schema exists.
pub async fn connect(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("mongodb://") || url.starts_with("mongodb+srv://") {
        Ok(Arc::new(MongoStore::connect(url).await?))
    } else {
        anyhow::bail!("unsupported database URL scheme (expected sqlite:// or mongodb://)")
    }
}

/// What one [`Records::insert`] stores: chained records, the seal of each (`seals[i]` is
/// `records[i]`'s; `None` for a writer without the key), and the tree hashes they add, from
/// the index of the first.
pub struct NewRecords<'a> {
    pub records: &'a [StoredRecord],
    pub seals: &'a [Option<[u8; 32]>],
    pub tree: Option<(u64, &'a [Hash])>,
}

/// A checkpoint as kept in the store: its size and the whole signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub note: String,
}

/// A record with its seal (SPEC section 12), as the signer and `setup --seal-existing` read it.
#[derive(Debug, Clone)]
pub struct SealedRecord {
    pub record: StoredRecord,
    pub seal: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Desc,
    Asc,
}

/// Filters of `GET /v1/transactions`. `from` is inclusive, `to` exclusive.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub order_id: Option<String>,
    pub actor: Option<String>,
    pub operation: Option<String>,
    pub outcome: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub order: SortOrder,
    /// Continue after this `seq` (in `order`).
    pub after: Option<u64>,
    pub limit: u32,
}

/// Where an event was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub transaction_id: TransactionId,
    pub seq: u64,
}

impl From<&IndexFields> for Placement {
    fn from(index: &IndexFields) -> Placement {
        Placement {
            transaction_id: index.transaction_id,
            seq: index.seq,
        }
    }
}

/// The link after the last stored record, `seq`, from what the store states;
/// [`StoreError::Corrupt`] when its stored hash is not a hash.
pub(crate) fn head_of(
    seq: u64,
    hash: &StatedHash,
    recorded_at: DateTime<Utc>,
) -> Result<Head, StoreError> {
    let hash = hash.hash().ok_or_else(|| {
        StoreError::corrupt(format!(
            "the last record, seq {seq}, has a stored hash that is not a hash"
        ))
    })?;
    Ok(Head {
        seq,
        hash,
        recorded_at,
    })
}

/// `indexes`' hashes in order from `found`, or an error naming the first one missing.
pub(crate) fn in_order(
    indexes: &[u64],
    found: impl Fn(u64) -> Option<Hash>,
) -> Result<Vec<Hash>, StoreError> {
    indexes
        .iter()
        .map(|&i| found(i).ok_or_else(|| StoreError::corrupt(format!("tree hash {i} is missing"))))
        .collect()
}

/// A random pause of up to 2^attempt ms (at most 128 ms), so that writers and readers that
/// collided do not collide again in step.
pub(crate) fn backoff(attempt: u32) -> Duration {
    use rand::Rng as _;
    let cap = 2u64.saturating_pow(attempt.min(7));
    Duration::from_millis(rand::thread_rng().gen_range(1..=cap.max(1)))
}
