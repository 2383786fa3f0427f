//! Where records live: one trait, one implementation per backend (SQLite embedded, MongoDB in
//! production), chosen by the database URL's scheme.

mod cosignatures;
pub mod mongo;
mod mongo_append;
mod mongo_cosignatures;
mod mongo_tree;
mod sqlite;
mod sqlite_cosignatures;
mod tree_runs;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use txlog_api::{AppendResult, Event, VerifyHead};
use uuid::Uuid;

pub use cosignatures::{Cosignature, Cosignatures};
pub use mongo::{
    MongoStore, CHECKPOINTS_COLLECTION, OLD_TREE_COLLECTION, RECORDS_COLLECTION, TREE_COLLECTION,
    VERIFIED_COLLECTION,
};
pub use mongo_cosignatures::COSIGNATURES_COLLECTION;
pub use sqlite::SqliteStore;

use crate::chain::{IndexFields, StoredRecord};
use crate::transparency::tree::KnownTree;
use crate::transparency::{SealKey, StoredCheckpoint};
use tlog_tiles::Hash;

/// Records per page when the whole chain is walked.
pub const CHAIN_PAGE: u32 = 1000;

/// The transaction log's storage. Every method is safe with several replicas at once.
#[async_trait::async_trait]
pub trait Store: Cosignatures + Send + Sync + 'static {
    /// The database answers.
    async fn ping(&self) -> anyhow::Result<()>;

    /// Appends validated events to the chain, in order; an `event_id` stored before (or earlier
    /// in the batch) answers with its first storage's ids and `duplicate: true`. Results are in
    /// input order. New records carry `submitted_by`.
    async fn append(
        &self,
        events: &[Event],
        submitted_by: &str,
    ) -> anyhow::Result<Vec<AppendResult>>;

    async fn get(&self, transaction_id: Uuid) -> anyhow::Result<Option<StoredRecord>>;

    /// Records matching `query`, in its order, at most `query.limit`.
    async fn list(&self, query: &ListQuery) -> anyhow::Result<Vec<StoredRecord>>;

    /// Records with `seq` above `after` (from the start when `None`), ascending, at most `limit`.
    async fn chain_page(&self, after: Option<u64>, limit: u32)
        -> anyhow::Result<Vec<StoredRecord>>;

    /// Like [`Store::chain_page`], each record with its seal (`None` when it has none).
    async fn sealed_page(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> anyhow::Result<Vec<SealedRecord>>;

    /// Stores each `(seq, seal)` on its record, only where the record has no seal yet
    /// (`txlog-service setup --seal-existing`).
    async fn add_seals(&self, seals: &[(u64, [u8; 32])]) -> anyhow::Result<()>;

    /// The highest `seq` stored.
    async fn head_seq(&self) -> anyhow::Result<Option<u64>>;

    /// How many Merkle tree hashes are stored. They are written in index order, so this is
    /// also the next index to write.
    async fn tree_hash_count(&self) -> anyhow::Result<u64>;

    /// The stored tree hashes at `indexes`, in that order; an error when one is missing.
    async fn tree_hashes(&self, indexes: &[u64]) -> anyhow::Result<Vec<Hash>>;

    /// Stores `hashes` at indexes `first…`, in order. Hashes are a function of the records, so
    /// an index another replica stored first already holds the same hash and is skipped.
    async fn add_tree_hashes(&self, first: u64, hashes: &[Hash]) -> anyhow::Result<()>;

    /// The tree whose hashes this replica last wrote in an append, when it remembers one (a
    /// store whose reads are cheap need not); the checkpoint loop signs it without reading.
    async fn known_tree(&self) -> Option<KnownTree> {
        None
    }

    /// The signed checkpoint of the largest tree.
    async fn latest_checkpoint(&self) -> anyhow::Result<Option<StoredCheckpoint>>;

    /// Keeps a signed checkpoint for good; one of the same size stored before is kept instead.
    async fn add_checkpoint(&self, size: u64, note: &str) -> anyhow::Result<()>;

    /// The highest chain head a verification found valid.
    async fn latest_verified(&self) -> anyhow::Result<Option<VerifyHead>>;

    /// Keeps a head a verification found valid; one at the same `seq` stored before is kept.
    async fn add_verified(&self, head: &VerifyHead) -> anyhow::Result<()>;
}

/// Opens the store named by `url` (`sqlite://…`, `mongodb://…` or `mongodb+srv://…`) and
/// makes sure its schema exists. Its appends store records without a seal, which the signer
/// never signs: for tools and tests; the service uses [`connect_sealing`].
pub async fn connect(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    open(url, None).await
}

/// [`connect`] for a store whose appends seal each record with `seal_key` in the same insert.
pub async fn connect_sealing(url: &str, seal_key: SealKey) -> anyhow::Result<Arc<dyn Store>> {
    open(url, Some(seal_key)).await
}

async fn open(url: &str, seal_key: Option<SealKey>) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?.sealing(seal_key)))
    } else if url.starts_with("mongodb://") || url.starts_with("mongodb+srv://") {
        Ok(Arc::new(MongoStore::connect(url).await?.sealing(seal_key)))
    } else {
        anyhow::bail!("unsupported database URL scheme (expected sqlite:// or mongodb://)")
    }
}

/// A record with its seal (SPEC section 12), as the signer and `setup --seal-existing` read it.
#[derive(Debug, Clone)]
pub struct SealedRecord {
    pub record: StoredRecord,
    pub seal: Option<Vec<u8>>,
}

/// The seal of each of `records` under `key`; `None` each when there is no key.
pub(crate) fn seals_of(
    key: Option<&SealKey>,
    records: &[StoredRecord],
) -> anyhow::Result<Vec<Option<[u8; 32]>>> {
    records
        .iter()
        .map(|r| key.map(|k| k.seal_record(r)).transpose())
        .collect()
}

/// The seal of each record whose leaf hash is in `leaves` under `key`; `None` each when there
/// is no key.
pub(crate) fn seals_of_leaves(key: Option<&SealKey>, leaves: &[Hash]) -> Vec<Option<[u8; 32]>> {
    leaves.iter().map(|l| key.map(|k| k.seal(l))).collect()
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
    pub transaction_id: Uuid,
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

/// The distinct events of a batch in input order (the first of each `event_id`) that are not
/// in `known`.
pub(crate) fn pending<'a>(events: &'a [Event], known: &HashMap<Uuid, Placement>) -> Vec<&'a Event> {
    let mut seen = std::collections::HashSet::new();
    events
        .iter()
        .filter(|e| !known.contains_key(&e.event_id) && seen.insert(e.event_id))
        .collect()
}

/// The answer for each input event: `stored` holds what this call stored, `existing` what was
/// there before.
pub(crate) fn results(
    events: &[Event],
    stored: &HashMap<Uuid, Placement>,
    existing: &HashMap<Uuid, Placement>,
) -> anyhow::Result<Vec<AppendResult>> {
    let mut reported = std::collections::HashSet::new();
    events
        .iter()
        .map(|e| {
            let (placement, new) = match (stored.get(&e.event_id), existing.get(&e.event_id)) {
                (Some(p), _) => (p, reported.insert(e.event_id)),
                (None, Some(p)) => (p, false),
                (None, None) => anyhow::bail!("event {} was neither stored nor found", e.event_id),
            };
            Ok(AppendResult {
                event_id: e.event_id,
                transaction_id: placement.transaction_id,
                seq: placement.seq,
                duplicate: !new,
            })
        })
        .collect()
}

/// `indexes`' hashes in order from `found`, or an error naming the first one missing.
pub(crate) fn in_order(
    indexes: &[u64],
    found: impl Fn(u64) -> Option<Hash>,
) -> anyhow::Result<Vec<Hash>> {
    indexes
        .iter()
        .map(|&i| {
            found(i).ok_or_else(|| anyhow::anyhow!("tree hash {i} is missing from the store"))
        })
        .collect()
}

/// Records what an append did in the process metrics.
pub(crate) fn count_appended(results: &[AppendResult]) {
    let duplicates = results.iter().filter(|r| r.duplicate).count() as u64;
    metrics::counter!(crate::metrics::RECORDS_APPENDED)
        .increment(results.len() as u64 - duplicates);
    metrics::counter!(crate::metrics::DUPLICATES).increment(duplicates);
    if let Some(head) = results.iter().filter(|r| !r.duplicate).map(|r| r.seq).max() {
        crate::metrics::observe_head(head);
    }
}
