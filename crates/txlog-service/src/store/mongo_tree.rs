//! The Merkle tree's hashes and the signed checkpoints in MongoDB: one document per hash
//! (`_id` = its index) and one per checkpoint (`_id` = tree size), insert-only like the records;
//! also the chain heads `verify` found valid (`_id` = seq).

use std::collections::HashMap;

use anyhow::Context as _;
use mongodb::bson::{doc, spec::BinarySubtype, Binary, Bson, Document};
use mongodb::error::ErrorKind;
use mongodb::Collection;
use tlog_tiles::Hash;

use super::mongo::{aggregate, to_i64, MongoStore};
use crate::chain::StoredRecord;
use crate::transparency::tree::Growth;
use crate::transparency::StoredCheckpoint;
use txlog_api::VerifyHead;

/// Ids per `$in` lookup.
const LOOKUP_CHUNK: usize = 500;
/// MongoDB's duplicate key error.
const DUPLICATE_KEY: i32 = 11000;

impl MongoStore {
    pub(super) async fn stored_hash_count(&self) -> anyhow::Result<u64> {
        let last = aggregate(
            &self.tree,
            vec![doc! {"$sort": {"_id": -1}}, doc! {"$limit": 1}],
        )
        .await?;
        match last.first() {
            Some(d) => Ok(u64::try_from(d.get_i64("_id")?)? + 1),
            None => Ok(0),
        }
    }

    pub(super) async fn stored_hashes(&self, indexes: &[u64]) -> anyhow::Result<Vec<Hash>> {
        let found = self.found_hashes(indexes).await?;
        super::in_order(indexes, |i| found.get(&i).copied())
    }

    /// The stored hashes among `indexes`.
    async fn found_hashes(&self, indexes: &[u64]) -> anyhow::Result<HashMap<u64, Hash>> {
        let mut found = HashMap::with_capacity(indexes.len());
        for chunk in indexes.chunks(LOOKUP_CHUNK) {
            let ids = chunk
                .iter()
                .map(|&i| to_i64(i).map(Bson::Int64))
                .collect::<anyhow::Result<Vec<_>>>()?;
            for d in aggregate(&self.tree, vec![doc! {"$match": {"_id": {"$in": ids}}}]).await? {
                let bytes = d.get_binary_generic("hash")?.clone();
                let hash = Hash(
                    bytes
                        .try_into()
                        .map_err(|_| anyhow::anyhow!("a stored tree hash is not 32 bytes"))?,
                );
                found.insert(u64::try_from(d.get_i64("_id")?)?, hash);
            }
        }
        Ok(found)
    }

    /// After an append, the tree hashes of the records it stored, so that the checkpoint
    /// loop only signs and never reads records back. The hashes they combine with come from
    /// `frontier` (this replica wrote the records before them), else from one read, which also
    /// checks that the tree holds exactly the records before them (otherwise the loop catches
    /// up). Returns the new frontier, `None` when the tree was left to the loop. There is no
    /// transaction: a crash between the records and their hashes leaves the loop to write them.
    pub(super) async fn extend_tree(
        &self,
        records: &[StoredRecord],
        frontier: Option<HashMap<u64, Hash>>,
    ) -> anyhow::Result<Option<HashMap<u64, Hash>>> {
        let Some(growth) = Growth::of(records)? else {
            return Ok(frontier);
        };
        let remembered = frontier.and_then(|known| {
            growth
                .earlier
                .iter()
                .map(|i| known.get(i).copied())
                .collect::<Option<Vec<_>>>()
        });
        let earlier = match remembered {
            Some(earlier) => earlier,
            None => match self.earlier_hashes(&growth).await? {
                Some(earlier) => earlier,
                None => return Ok(None),
            },
        };
        let added = growth.hashes(earlier.clone())?;
        self.store_hashes(growth.first_index(), &added).await?;
        Ok(Some(growth.next_frontier(&earlier, &added)?))
    }

    /// The hashes `growth` combines with, read together with the tree's last hash and the
    /// slot after it: `None` unless the tree holds exactly the records before `growth`.
    async fn earlier_hashes(&self, growth: &Growth) -> anyhow::Result<Option<Vec<Hash>>> {
        let next = growth.first_index();
        let mut asked = growth.earlier.clone();
        asked.extend(next.checked_sub(1));
        asked.push(next);
        let found = self.found_hashes(&asked).await?;
        let complete = next
            .checked_sub(1)
            .is_none_or(|last| found.contains_key(&last));
        if !complete || found.contains_key(&next) {
            return Ok(None);
        }
        super::in_order(&growth.earlier, |i| found.get(&i).copied()).map(Some)
    }

    /// Inserts in index order, so the stored hashes never have a gap; an index another replica
    /// wrote first is skipped (it holds the same hash).
    pub(super) async fn store_hashes(&self, first: u64, hashes: &[Hash]) -> anyhow::Result<()> {
        let mut from = 0;
        while from < hashes.len() {
            let docs = hashes[from..]
                .iter()
                .enumerate()
                .map(|(k, h)| {
                    Ok(doc! {
                        "_id": to_i64(first + (from + k) as u64)?,
                        "hash": Binary { subtype: BinarySubtype::Generic, bytes: h.0.to_vec() },
                    })
                })
                .collect::<anyhow::Result<Vec<Document>>>()?;
            match self.tree.insert_many(docs).ordered(true).await {
                Ok(_) => return Ok(()),
                Err(e) => match duplicate_at(&e) {
                    Some(k) => from += k + 1,
                    None => return Err(anyhow::Error::new(e).context("cannot store tree hashes")),
                },
            }
        }
        Ok(())
    }

    pub(super) async fn last_checkpoint(&self) -> anyhow::Result<Option<StoredCheckpoint>> {
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

    pub(super) async fn keep_checkpoint(&self, size: u64, note: &str) -> anyhow::Result<()> {
        let checkpoint = doc! {
            "_id": to_i64(size)?,
            "note": note,
            "signed_at": mongodb::bson::DateTime::now(),
        };
        insert_once(&self.checkpoints, checkpoint)
            .await
            .context("cannot store a checkpoint")
    }

    pub(super) async fn last_verified(&self) -> anyhow::Result<Option<VerifyHead>> {
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

    pub(super) async fn keep_verified(&self, head: &VerifyHead) -> anyhow::Result<()> {
        let verified = doc! {
            "_id": to_i64(head.seq)?,
            "hash": &head.hash,
            "verified_at": mongodb::bson::DateTime::now(),
        };
        insert_once(&self.verified, verified)
            .await
            .context("cannot store a verified head")
    }
}

/// The document with the highest `_id` in `collection`.
async fn last_by_id(collection: &Collection<Document>) -> anyhow::Result<Option<Document>> {
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

/// Where a write failed on an `_id` stored before, if that is why it failed.
fn duplicate_at(error: &mongodb::error::Error) -> Option<usize> {
    let errors = match &*error.kind {
        ErrorKind::InsertMany(e) => e.write_errors.as_ref()?.clone(),
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(e)) => {
            return (e.code == DUPLICATE_KEY).then_some(0)
        }
        _ => return None,
    };
    let first = errors.iter().min_by_key(|e| e.index)?;
    (first.code == DUPLICATE_KEY).then_some(first.index)
}
