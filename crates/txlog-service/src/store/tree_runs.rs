//! The Merkle tree's stored hashes as runs: the hashes one write adds (an append's records, or
//! a catch-up page) are kept together as one row or document, keyed by the index of its first
//! hash, instead of one per hash. A run always starts where the stored hashes end, so runs
//! never overlap and leave no gap, and the run holding index `i` is the one with the largest
//! first index not above `i`.

use tlog_tiles::Hash;

use super::StoreError;

/// Consecutive stored hashes from index `first` on, as their 32-byte values end to end.
pub(crate) struct TreeRun {
    pub first: u64,
    pub hashes: Vec<u8>,
}

impl TreeRun {
    pub fn new(first: u64, hashes: Vec<u8>) -> Result<TreeRun, StoreError> {
        if hashes.is_empty() || !hashes.len().is_multiple_of(32) {
            return Err(StoreError::corrupt(format!(
                "a stored run of tree hashes at {first} is {} bytes, not a positive multiple of 32",
                hashes.len()
            )));
        }
        Ok(TreeRun { first, hashes })
    }

    /// The index just past the run's last hash.
    pub fn end(&self) -> u64 {
        self.first + (self.hashes.len() / 32) as u64
    }

    pub fn get(&self, index: u64) -> Option<Hash> {
        let at = usize::try_from(index.checked_sub(self.first)?).ok()? * 32;
        let bytes = self.hashes.get(at..at + 32)?;
        Some(Hash(bytes.try_into().ok()?))
    }
}

/// The runs read so far for a list of indexes. A store reads the run of each index
/// [`Runs::missing`] names (the one with the largest first index not above it) until none is:
///
/// ```ignore
/// let mut runs = Runs::default();
/// while let Some(index) = runs.missing(indexes) {
///     runs.add(index, run_at(index)?)?;
/// }
/// runs.hashes(indexes)
/// ```
#[derive(Default)]
pub(crate) struct Runs(Vec<TreeRun>);

impl Runs {
    fn get(&self, index: u64) -> Option<Hash> {
        self.0.iter().find_map(|run| run.get(index))
    }

    /// The first of `indexes` that no run read so far holds.
    pub fn missing(&self, indexes: &[u64]) -> Option<u64> {
        indexes.iter().copied().find(|&i| self.get(i).is_none())
    }

    /// Adds the run read for `index`: an error when there is none or it ends before `index`.
    pub fn add(&mut self, index: u64, run: Option<TreeRun>) -> Result<(), StoreError> {
        match run {
            Some(run) if run.get(index).is_some() => {
                self.0.push(run);
                Ok(())
            }
            _ => Err(StoreError::corrupt(format!("tree hash {index} is missing"))),
        }
    }

    /// The hashes at `indexes`, in that order, once none is missing.
    pub fn hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
        super::in_order(indexes, |i| self.get(i))
    }
}

/// Hashes as a run stores them: their 32-byte values end to end.
pub(crate) fn bytes(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.0).collect()
}

/// What of `hashes` (at `first…`) is still to be stored when `count` are: the index to store
/// the rest at, and their bytes; `None` when all are stored. An error when they would leave a
/// gap.
pub(crate) fn unstored(
    first: u64,
    hashes: &[Hash],
    count: u64,
) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    if first > count {
        return Err(StoreError::corrupt(format!(
            "tree hashes from {first} on would leave a gap after the {count} stored"
        )));
    }
    let skip = usize::try_from(count - first)?;
    if skip >= hashes.len() {
        return Ok(None);
    }
    Ok(Some((count, bytes(&hashes[skip..]))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> Hash {
        Hash([n; 32])
    }

    #[test]
    fn a_run_holds_its_indexes_only() {
        let run = TreeRun::new(10, bytes(&[hash(1), hash(2)])).unwrap();
        assert_eq!(run.end(), 12);
        assert_eq!(run.get(9), None);
        assert_eq!(run.get(10), Some(hash(1)));
        assert_eq!(run.get(11), Some(hash(2)));
        assert_eq!(run.get(12), None);
        assert!(TreeRun::new(0, vec![0; 31]).is_err());
        assert!(TreeRun::new(0, Vec::new()).is_err());
    }

    #[test]
    fn only_what_is_not_stored_is_written() {
        let hashes = [hash(1), hash(2), hash(3)];
        assert_eq!(
            unstored(4, &hashes, 5).unwrap(),
            Some((5, bytes(&[hash(2), hash(3)])))
        );
        assert_eq!(unstored(4, &hashes, 7).unwrap(), None);
        assert_eq!(unstored(4, &hashes, 9).unwrap(), None);
        assert!(unstored(4, &hashes, 3).is_err());
    }

    #[test]
    fn each_run_is_read_once() {
        let stored = [(0u64, 3u64), (3, 1), (4, 2)];
        let run_at = |i: u64| {
            let (first, len) = stored.iter().rev().find(|(f, _)| *f <= i).copied()?;
            let bytes = (first..first + len).flat_map(|k| hash(k as u8).0).collect();
            TreeRun::new(first, bytes).ok()
        };
        let indexes = [0, 2, 4, 5, 1, 3];
        let (mut runs, mut reads) = (Runs::default(), 0);
        while let Some(index) = runs.missing(&indexes) {
            reads += 1;
            runs.add(index, run_at(index)).unwrap();
        }
        let expected: Vec<Hash> = indexes.iter().map(|&k| hash(k as u8)).collect();
        assert_eq!(runs.hashes(&indexes).unwrap(), expected);
        assert_eq!(reads, 3);
        // Past the end, or nothing stored: an error, not another read.
        assert!(runs.add(6, run_at(6)).is_err());
        assert!(runs.add(0, None).is_err());
    }
}
