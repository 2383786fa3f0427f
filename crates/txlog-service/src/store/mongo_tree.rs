//! The Merkle tree's hashes and the signed checkpoints in MongoDB: one document per run of
//! hashes (`tree_runs.rs`; `_id` = the index of its first hash) and one per checkpoint (`_id` =
//! tree size), insert-only like the records; also the chain heads `verify` found valid
//! (`_id` = seq).

use mongodb::bson::{doc, spec::BinarySubtype, Binary, Document};
use mongodb::Collection;
use tlog_tiles::Hash;

use super::mongo::{aggregate, duplicate_at, to_i64, MongoStore};
use super::tree_runs::{self, Runs, TreeRun};
use super::StoredCheckpoint;
use super::{Checkpoints, StoreError, TreeHashes};
use txlog_api::VerifyHead;

#[async_trait::async_trait]
impl TreeHashes for MongoStore {
    async fn tree_hash_count(&self) -> Result<u64, StoreError> {
        Ok(last_by_id(&self.tree)
            .await?
            .map(|d| run_from_doc(&d))
            .transpose()?
            .map_or(0, |run| run.end()))
    }

    async fn tree_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
        let mut runs = Runs::default();
        while let Some(index) = runs.missing(indexes) {
            let pipeline = vec![
                doc! {"$match": {"_id": {"$lte": to_i64(index)?}}},
                doc! {"$sort": {"_id": -1}},
                doc! {"$limit": 1},
            ];
            let found = aggregate(&self.tree, pipeline).await?;
            runs.add(index, found.first().map(run_from_doc).transpose()?)?;
        }
        runs.hashes(indexes)
    }

    /// Stores what of `hashes` (at `first…`) the tree does not hold yet as one document. When
    /// another replica stored a run at the same index first (it holds the same hashes, maybe
    /// fewer or more), the rest goes after the stored ones.
    async fn add_tree_hashes(&self, first: u64, hashes: &[Hash]) -> Result<(), StoreError> {
        let mut count = first;
        loop {
            let Some((at, bytes)) = tree_runs::unstored(first, hashes, count)? else {
                return Ok(());
            };
            let run = doc! {
                "_id": to_i64(at)?,
                "hashes": Binary { subtype: BinarySubtype::Generic, bytes },
            };
            match self.tree.insert_one(run).await {
                Ok(_) => return Ok(()),
                Err(e) if duplicate_at(&e).is_some() => count = self.tree_hash_count().await?,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[async_trait::async_trait]
impl Checkpoints for MongoStore {
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        last_by_id(&self.checkpoints)
            .await?
            .map(|d| {
                Ok(StoredCheckpoint {
                    size: u64::try_from(d.get_i64("_id")?)?,
                    note: d.get_str("note")?.to_owned(),
                })
            })
            .transpose()
    }

    async fn add_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        let checkpoint = doc! {
            "_id": to_i64(size)?,
            "note": note,
            "signed_at": mongodb::bson::DateTime::now(),
        };
        Ok(insert_once(&self.checkpoints, checkpoint).await?)
    }

    async fn latest_verified(&self) -> Result<Option<VerifyHead>, StoreError> {
        last_by_id(&self.verified)
            .await?
            .map(|d| {
                Ok(VerifyHead {
                    seq: u64::try_from(d.get_i64("_id")?)?,
                    hash: d.get_str("hash")?.to_owned(),
                })
            })
            .transpose()
    }

    async fn add_verified(&self, head: &VerifyHead) -> Result<(), StoreError> {
        let verified = doc! {
            "_id": to_i64(head.seq)?,
            "hash": &head.hash,
            "verified_at": mongodb::bson::DateTime::now(),
        };
        Ok(insert_once(&self.verified, verified).await?)
    }
}

/// A stored run: `{_id: <first index>, hashes: <BinData>}`.
fn run_from_doc(d: &Document) -> Result<TreeRun, StoreError> {
    let first = u64::try_from(d.get_i64("_id")?)?;
    TreeRun::new(first, d.get_binary_generic("hashes")?.clone())
}

/// The document with the highest `_id` in `collection`.
async fn last_by_id(collection: &Collection<Document>) -> Result<Option<Document>, StoreError> {
    let last = aggregate(
        collection,
        vec![doc! {"$sort": {"_id": -1}}, doc! {"$limit": 1}],
    )
    .await?;
    Ok(last.into_iter().next())
}

/// Inserts `document`, or keeps the one stored before with the same `_id` (these collections
/// are insert-only and their documents a function of their `_id`'s record, so either will do).
async fn insert_once(
    collection: &Collection<Document>,
    document: Document,
) -> Result<(), mongodb::error::Error> {
    match collection.insert_one(document).await {
        Err(e) if duplicate_at(&e).is_some() => Ok(()),
        other => other.map(|_| ()),
    }
}
