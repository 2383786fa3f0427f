//! The RFC 9162 Merkle tree over the records, kept in the store as the stored hashes of
//! C2SP tlog-tiles (`tlog_tiles`, a port of Go's `sumdb/tlog`): leaf `i` is record `seq` `i`,
//! and every hash is written once, in index order, so a proof costs O(log n) reads.
//!
//! The tree is derived from the records and nothing else, so any replica may extend it: two
//! replicas extending at once compute the same hashes, and the store keeps the first copy.

use std::cell::RefCell;
use std::collections::HashMap;

use tlog_tiles::{
    stored_hash_count, stored_hash_index, stored_hashes_for_record_hash, Hash, HashReader,
};

use crate::chain::StoredRecord;
use crate::store::{StoreError, TreeHashes};
#[cfg(test)]
use txlog_verify::tree::MemoryTree;

/// The leaf data of a record: the record as the API serves it ([`StoredRecord::text`]).
pub fn leaf_data(record: &StoredRecord) -> Result<String, StoreError> {
    Ok(record.text()?)
}

/// [`leaf_data`] by parsing the record and writing it again with its hash.
pub fn leaf_data_slow(record: &StoredRecord) -> Result<String, StoreError> {
    Ok(txlog_verify::leaf::record_text_slow(
        &record.canonical,
        &record.hash.text(),
    )?)
}

/// A record's leaf hash: SHA-256(0x00 ‖ leaf data).
pub fn leaf_hash(record: &StoredRecord) -> Result<Hash, StoreError> {
    Ok(Hash(txlog_verify::leaf::leaf_hash(
        &record.canonical,
        &record.hash.text(),
    )?))
}

/// The size of the complete tree that `count` stored hashes hold.
pub fn size_for_count(count: u64) -> u64 {
    // stored_hash_count grows with n and stored_hash_count(n) >= n.
    let (mut lo, mut hi) = (0, count);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if stored_hash_count(mid) <= count {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// Runs `compute` over the stored hashes: first with a reader that only notes which indexes
/// it asks for (they never depend on the hashes' values), then, after one store read, for real.
pub async fn with_stored_hashes<T>(
    store: &dyn TreeHashes,
    compute: impl Fn(&TreeReader) -> Result<T, tlog_tiles::Error>,
) -> Result<T, StoreError> {
    let collector = TreeReader::collecting();
    compute(&collector)?;
    let indexes = collector.asked();
    let reader = TreeReader::known(store, indexes).await?;
    Ok(compute(&reader)?)
}

/// The root hash of the tree of size `n`.
pub async fn root(store: &dyn TreeHashes, n: u64) -> Result<Hash, StoreError> {
    with_stored_hashes(store, |r| tlog_tiles::tree_hash(n, r)).await
}

/// What records with consecutive `seq`s add to a tree holding exactly the records before
/// them: their leaves and, once the earlier hashes those combine with are read, the new
/// stored hashes. The sequencer grows the tree through it in its appends and when it catches
/// up.
pub struct Growth {
    first: u64,
    leaves: Vec<Hash>,
    /// The indexes of the stored hashes the new ones combine with: the frontier of the tree
    /// they extend.
    pub earlier: Vec<u64>,
}

impl Growth {
    /// `None` when there are no records; an error when their `seq`s have a gap.
    pub fn of(records: &[StoredRecord]) -> Result<Option<Growth>, StoreError> {
        let Some(first) = records.first().map(|r| r.index.seq) else {
            return Ok(None);
        };
        let mut leaves = Vec::with_capacity(records.len());
        for (offset, record) in records.iter().enumerate() {
            let expected = first + offset as u64;
            if record.index.seq != expected {
                return Err(StoreError::corrupt(format!(
                    "record seq {expected} is missing (the next stored is seq {})",
                    record.index.seq
                )));
            }
            leaves.push(leaf_hash(record)?);
        }
        let earlier = frontier(first);
        Ok(Some(Growth {
            first,
            leaves,
            earlier,
        }))
    }

    /// The hashes at [`Growth::earlier`] from a frontier remembered from an earlier write, when
    /// it holds them all. Stored hashes never change, so any remembered one is still true.
    pub fn earlier_in(&self, known: &HashMap<u64, Hash>) -> Option<Vec<Hash>> {
        self.earlier.iter().map(|i| known.get(i).copied()).collect()
    }

    /// The records' leaf hashes, in order (what their seals cover).
    pub fn leaves(&self) -> &[Hash] {
        &self.leaves
    }

    /// The `seq` of the first record, which is also the size of the tree it extends.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// The index of the first new stored hash, which is also how many the tree it extends holds.
    pub fn first_index(&self) -> u64 {
        stored_hash_index(0, self.first)
    }

    /// The frontier (see [`frontier`]) of the tree these records make, from the hashes at
    /// [`Growth::earlier`] and the ones [`Growth::hashes`] added: all a writer that remembers
    /// it needs to add the next records without reading the store.
    pub fn next_frontier(
        &self,
        earlier: &[Hash],
        added: &[Hash],
    ) -> Result<HashMap<u64, Hash>, StoreError> {
        let size = self.first + self.leaves.len() as u64;
        let indexes = frontier(size);
        let hashes = self.reader(earlier, added).read_hashes(&indexes)?;
        Ok(indexes.into_iter().zip(hashes).collect())
    }

    fn reader<'a>(&'a self, earlier: &'a [Hash], added: &'a [Hash]) -> GrowthReader<'a> {
        GrowthReader {
            earlier: (&self.earlier, earlier),
            first_index: self.first_index(),
            added,
        }
    }

    /// The new stored hashes in index order and the [`Growth::next_frontier`] they make, given
    /// the hashes at [`Growth::earlier`]: what a store that writes the tree in its appends
    /// stores, and remembers for the next append.
    pub fn grow(&self, earlier: Vec<Hash>) -> Result<(Vec<Hash>, HashMap<u64, Hash>), StoreError> {
        let added = self.hashes(earlier.clone())?;
        let frontier = self.next_frontier(&earlier, &added)?;
        Ok((added, frontier))
    }

    /// The new stored hashes in index order, given the hashes at [`Growth::earlier`].
    pub fn hashes(&self, earlier: Vec<Hash>) -> Result<Vec<Hash>, StoreError> {
        if earlier.len() != self.earlier.len() {
            return Err(StoreError::corrupt(format!(
                "{} earlier tree hashes given, {} needed",
                earlier.len(),
                self.earlier.len()
            )));
        }
        let mut added = Vec::with_capacity(2 * self.leaves.len());
        for (offset, leaf) in self.leaves.iter().enumerate() {
            let n = self.first + offset as u64;
            let hashes = stored_hashes_for_record_hash(n, *leaf, &self.reader(&earlier, &added))?;
            added.extend(hashes);
        }
        Ok(added)
    }
}

/// The stored hashes a [`Growth`] combines with: the frontier it extends, then what it added
/// (indexes from `first_index` on, in order), without a map.
struct GrowthReader<'a> {
    earlier: (&'a [u64], &'a [Hash]),
    first_index: u64,
    added: &'a [Hash],
}

impl HashReader for GrowthReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let (at, hashes) = self.earlier;
        indexes
            .iter()
            .map(|&i| match i.checked_sub(self.first_index) {
                Some(k) => usize::try_from(k).ok().and_then(|k| self.added.get(k)),
                None => at.iter().position(|&e| e == i).and_then(|p| hashes.get(p)),
            })
            .map(|hash| hash.copied().ok_or(tlog_tiles::Error::IndexesNotInTree))
            .collect()
    }
}

/// A tree whose hashes this replica wrote itself: its size and root, and the run of appends
/// (`lineage`) it belongs to. Each append of a lineage started from the tail the one before
/// left, so within a lineage every tree extends the earlier ones; a replica that had to read
/// the store's end (another replica appended, or it restarted) starts a new lineage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnownTree {
    pub lineage: u64,
    pub size: u64,
    pub root: Hash,
}

impl KnownTree {
    /// The tree of `size` leaves whose [`frontier`] hashes are `frontier`.
    pub fn from_frontier(
        lineage: u64,
        size: u64,
        frontier: &HashMap<u64, Hash>,
    ) -> Result<KnownTree, StoreError> {
        // The root combines exactly the complete subtrees' hashes, which the frontier holds.
        let reader = TreeReader {
            known: frontier.clone(),
            asked: None,
        };
        Ok(KnownTree {
            lineage,
            size,
            root: tlog_tiles::tree_hash(size, &reader)?,
        })
    }
}

/// The indexes of the stored hashes of the tree of `size`'s complete subtrees, largest first:
/// its hashes that the leaves added after it can combine with, O(log size) of them.
pub fn frontier(size: u64) -> Vec<u64> {
    (0..u64::BITS)
        .rev()
        .filter(|level| size >> level & 1 == 1)
        .map(|level| stored_hash_index(level as u8, (size >> level) - 1))
        .collect()
}

/// Stored hashes for `tlog_tiles`: either the ones read from the store, or, while collecting,
/// zeros for whatever is asked (noting the indexes).
pub struct TreeReader {
    known: HashMap<u64, Hash>,
    asked: Option<RefCell<Vec<u64>>>,
}

impl TreeReader {
    fn collecting() -> TreeReader {
        TreeReader {
            known: HashMap::new(),
            asked: Some(RefCell::default()),
        }
    }

    /// The distinct indexes asked for, ascending.
    fn asked(self) -> Vec<u64> {
        let mut indexes = self.asked.map(RefCell::into_inner).unwrap_or_default();
        indexes.sort_unstable();
        indexes.dedup();
        indexes
    }

    async fn known(store: &dyn TreeHashes, indexes: Vec<u64>) -> Result<TreeReader, StoreError> {
        let hashes = store.tree_hashes(&indexes).await?;
        Ok(TreeReader {
            known: indexes.into_iter().zip(hashes).collect(),
            asked: None,
        })
    }
}

impl HashReader for TreeReader {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        if let Some(asked) = &self.asked {
            asked.borrow_mut().extend_from_slice(indexes);
            return Ok(vec![Hash::default(); indexes.len()]);
        }
        indexes
            .iter()
            .map(|i| {
                self.known
                    .get(i)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record stand-in whose leaf hash depends on `seq`.
    fn record(seq: u64) -> StoredRecord {
        StoredRecord {
            canonical: format!("{{\"seq\":{seq}}}"),
            hash: crate::chain::StatedHash::read(format!("h{seq}")),
            index: crate::chain::IndexFields {
                seq,
                event_id: uuid::Uuid::nil().into(),
                transaction_id: uuid::Uuid::nil().into(),
                order_id: None,
                actor: None,
                operation: "order.get".into(),
                outcome: "success".into(),
                recorded_at: chrono::DateTime::UNIX_EPOCH,
            },
        }
    }

    #[test]
    fn growth_from_the_frontier_alone_builds_the_same_tree() {
        let records: Vec<StoredRecord> = (0..200).map(record).collect();
        let mut whole = MemoryTree::default();
        let mut stored: Vec<Hash> = Vec::new();
        let mut frontier_hashes: HashMap<u64, Hash> = HashMap::new();
        let mut at = 0;
        for batch in [1usize, 1, 2, 3, 5, 8, 13, 21, 34, 55, 57] {
            let growth = Growth::of(&records[at..at + batch]).unwrap().unwrap();
            let earlier: Vec<Hash> = growth.earlier.iter().map(|i| frontier_hashes[i]).collect();
            let added = growth.hashes(earlier.clone()).unwrap();
            frontier_hashes = growth.next_frontier(&earlier, &added).unwrap();
            stored.extend(added);
            for r in &records[at..at + batch] {
                whole.push(leaf_hash(r).unwrap()).unwrap();
            }
            at += batch;
            assert_eq!(stored, whole.hashes(), "after {at} records");
            let known = KnownTree::from_frontier(1, at as u64, &frontier_hashes).unwrap();
            assert_eq!(known.root, whole.root(at as u64).unwrap(), "root of {at}");
        }
    }

    #[test]
    fn sizes_follow_from_hash_counts() {
        for n in 0..300 {
            let count = stored_hash_count(n);
            assert_eq!(size_for_count(count), n);
            if n > 0 {
                // A partly written leaf does not count.
                assert_eq!(size_for_count(count - 1), n - 1);
            }
        }
    }
}
