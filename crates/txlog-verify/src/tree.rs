//! The RFC 9162 Merkle tree as a reader rebuilds it from downloaded records, and the checks of
//! the proofs a log serves (C2SP tlog-tiles' stored-hash layout, through `tlog_tiles`).

use tlog_tiles::{stored_hashes_for_record_hash, Hash, HashReader};

pub use tlog_tiles::{check_record, check_tree};

/// A whole tree in memory, grown one leaf at a time.
#[derive(Default)]
pub struct MemoryTree {
    hashes: Vec<Hash>,
    size: u64,
}

impl MemoryTree {
    pub fn push(&mut self, leaf: Hash) -> Result<(), tlog_tiles::Error> {
        let added = stored_hashes_for_record_hash(self.size, leaf, &SliceReader(&self.hashes))?;
        self.hashes.extend(added);
        self.size += 1;
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the tree of its first `n` leaves.
    pub fn root(&self, n: u64) -> Result<Hash, tlog_tiles::Error> {
        if n > self.size {
            return Err(tlog_tiles::Error::IndexesNotInTree);
        }
        tlog_tiles::tree_hash(n, &SliceReader(&self.hashes))
    }

    /// The stored hashes so far, in tlog's index order.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }
}

struct SliceReader<'a>(&'a [Hash]);

impl HashReader for SliceReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.0.get(i).copied())
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}
