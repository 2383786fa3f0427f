//! Seals (SPEC section 12): each record carries HMAC-SHA256 over its 32-byte Merkle leaf hash,
//! under a key only a holder of the log's signing key can derive. A database writer can insert
//! or edit records, but cannot seal them, and the signer signs no record without a valid seal.
//!
//! The seal key is `HMAC-SHA256(key = Ed25519 seed, message = "ordersys/txlog/seal/v1")`: a
//! fixed, documented label, so the raw signing key is never used for anything but signatures,
//! and a new label makes an unrelated key. The seal is kept beside the record (SQLite column,
//! MongoDB field `seal`), outside the leaf data, so records as served and leaf hashes do not
//! change.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tlog_tiles::Hash;

use super::checkpoint::TreeHead;
use super::tree::{self, Growth, KnownTree};
use crate::chain::StoredRecord;
use crate::store::{SealedRecord, Store, StoreError};

/// The label the seal key is derived with.
pub const SEAL_LABEL: &[u8] = b"ordersys/txlog/seal/v1";
/// Records read per round trip while seals are checked.
const SEAL_PAGE: u32 = 1000;

type HmacSha256 = Hmac<Sha256>;

/// The key records are sealed with.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl SealKey {
    /// The seal key of the Ed25519 signing key whose seed is `seed`.
    pub fn derive(seed: &[u8; 32]) -> SealKey {
        let mut mac = HmacSha256::new_from_slice(seed).expect("HMAC takes keys of any length");
        mac.update(SEAL_LABEL);
        SealKey(mac.finalize().into_bytes().into())
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }

    /// The seal of the record whose leaf hash is `leaf`.
    pub fn seal(&self, leaf: &Hash) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(&leaf.0);
        mac.finalize().into_bytes().into()
    }

    /// Whether `seal` is the seal of `leaf`, compared in constant time.
    pub fn check(&self, leaf: &Hash, seal: &[u8]) -> bool {
        let mut mac = self.mac();
        mac.update(&leaf.0);
        mac.verify_slice(seal).is_ok()
    }

    /// The seal of `record`.
    pub fn seal_record(&self, record: &StoredRecord) -> Result<[u8; 32], StoreError> {
        Ok(self.seal(&tree::leaf_hash(record)?))
    }
}

/// Why a tree must not be signed: a short `reason` (the metric's label) and a message naming
/// what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub why: String,
}

impl Refusal {
    fn new(reason: &'static str, why: String) -> Refusal {
        Refusal { reason, why }
    }
}

/// Whether one record's seal is valid; a refusal naming its `seq` if not.
pub fn check_record(key: &SealKey, sealed: &SealedRecord) -> Result<Option<Refusal>, StoreError> {
    let seq = sealed.record.index.seq;
    Ok(match &sealed.seal {
        None => Some(Refusal::new(
            "unsealed",
            format!("record seq {seq} has no seal (inserted or changed in the database)"),
        )),
        Some(seal) if !key.check(&tree::leaf_hash(&sealed.record)?, seal) => Some(Refusal::new(
            "unsealed",
            format!(
                "record seq {seq} does not match its seal (inserted or changed in the database)"
            ),
        )),
        Some(_) => None,
    })
}

/// The root of the tree of `size` rebuilt from `start` (the last checkpoint; the empty tree
/// when `None`) over the stored records `start.size..size`, each checked against its seal:
/// O(new records) reads, in pages. The stored hashes of `start`'s tree that the new leaves
/// combine with (its frontier) are checked against `start`'s signed root first, so the root
/// returned covers exactly the checkpointed tree and sealed records. A refusal names the first
/// record missing or without a valid seal, or a frontier that is not `start`'s.
pub async fn sealed_root(
    store: &dyn Store,
    key: &SealKey,
    start: Option<&TreeHead>,
    size: u64,
) -> anyhow::Result<Result<Hash, Refusal>> {
    let from = start.map_or(0, |s| s.size);
    let mut frontier: HashMap<u64, Hash> = HashMap::new();
    if let Some(start) = start.filter(|s| s.size > 0) {
        let indexes = tree::frontier(start.size);
        let hashes = store.tree_hashes(&indexes).await?;
        frontier = indexes.into_iter().zip(hashes).collect();
        let known = KnownTree::from_frontier(0, start.size, &frontier)?;
        if known.root != start.root {
            return Ok(Err(Refusal::new(
                "tree_mismatch",
                format!(
                    "the stored tree hashes do not give the root of the last checkpoint (size {})",
                    start.size
                ),
            )));
        }
        if size == start.size {
            return Ok(Ok(start.root));
        }
    }
    let mut next = from;
    while next < size {
        let limit = u32::try_from((size - next).min(u64::from(SEAL_PAGE)))?;
        let page = store.sealed_page(next.checked_sub(1), limit).await?;
        let mut records = Vec::with_capacity(page.len());
        for sealed in page {
            if sealed.record.index.seq != next {
                break;
            }
            if let Some(refusal) = check_record(key, &sealed)? {
                return Ok(Err(refusal));
            }
            records.push(sealed.record);
            next += 1;
        }
        let Some(growth) = Growth::of(&records)? else {
            return Ok(Err(Refusal::new(
                "missing",
                format!("record seq {next} is missing (the stored tree holds {size} leaves)"),
            )));
        };
        let earlier = growth
            .earlier_in(&frontier)
            .ok_or_else(|| anyhow::anyhow!("the frontier of {} is incomplete", growth.first()))?;
        frontier = growth.grow(earlier)?.1;
    }
    Ok(Ok(KnownTree::from_frontier(0, size, &frontier)?.root))
}

/// `txlog-service setup --seal-existing`: checks the whole store, then seals every record
/// stored without a seal (records of releases before seals). The check, all before anything
/// is sealed: the hash chain (continuity, links, hashes, stored fields), every existing seal,
/// the stored tree hashes against the tree of the records, and the last checkpoint's root.
/// An error names the first `seq` (or tree index) that fails; nothing is sealed then. Records
/// appended while it runs are sealed by the service that appends them.
pub async fn seal_existing(store: &dyn Store, key: &SealKey) -> anyhow::Result<String> {
    let checkpoint = match store.latest_checkpoint().await? {
        Some(stored) => Some(super::checkpoint::read(&stored.note)?),
        None => None,
    };
    let stored_hashes = store.tree_hash_count().await?;
    let mut chain = crate::chain::ChainVerifier::default();
    let mut frontier: HashMap<u64, Hash> = HashMap::new();
    let (mut next, mut unsealed) = (0u64, 0u64);
    loop {
        // Pages end at the checkpoint's size, so its root can be compared on the way.
        let mut limit = u64::from(SEAL_PAGE);
        if let Some(cp) = checkpoint.as_ref().filter(|cp| cp.size > next) {
            limit = limit.min(cp.size - next);
        }
        let page = store
            .sealed_page(next.checked_sub(1), u32::try_from(limit)?)
            .await?;
        let mut records = Vec::with_capacity(page.len());
        for sealed in page {
            chain.push(&sealed.record);
            match (&sealed.seal, check_record(key, &sealed)?) {
                (None, _) => unsealed += 1,
                (Some(_), Some(refusal)) => anyhow::bail!("refusing to seal: {}", refusal.why),
                (Some(_), None) => {}
            }
            records.push(sealed.record);
        }
        let Some(growth) = Growth::of(&records).unwrap_or(None) else {
            break;
        };
        let earlier = growth
            .earlier_in(&frontier)
            .ok_or_else(|| anyhow::anyhow!("the frontier of {} is incomplete", growth.first()))?;
        let (added, next_frontier) = growth.grow(earlier)?;
        let first = growth.first_index();
        let compare: Vec<u64> = (first..first + added.len() as u64)
            .take_while(|&i| i < stored_hashes)
            .collect();
        let stored = store.tree_hashes(&compare).await?;
        if let Some(k) = (0..stored.len()).find(|&k| stored[k] != added[k]) {
            // The record whose leaf (or the subtree it completes) the hash is.
            let seq = records
                .iter()
                .map(|r| r.index.seq)
                .take_while(|&n| tlog_tiles::stored_hash_index(0, n) <= compare[k])
                .last()
                .unwrap_or(growth.first());
            anyhow::bail!(
                "refusing to seal: the stored tree does not match record seq {seq} (stored \
                 hash {} differs from the tree of the records)",
                compare[k]
            );
        }
        frontier = next_frontier;
        next += records.len() as u64;
        if let Some(cp) = checkpoint.as_ref().filter(|cp| cp.size == next) {
            let root = KnownTree::from_frontier(0, next, &frontier)?.root;
            anyhow::ensure!(
                root == cp.root,
                "refusing to seal: the records up to seq {} do not make the tree of the last \
                 checkpoint (size {})",
                next - 1,
                cp.size
            );
        }
    }
    let report = chain.report();
    if let Some(seq) = report.first_invalid_seq {
        anyhow::bail!("refusing to seal: the hash chain is broken at seq {seq}");
    }
    if let Some(cp) = checkpoint.as_ref().filter(|cp| cp.size > next) {
        anyhow::bail!(
            "refusing to seal: the last checkpoint covers {} records but the store holds {next} \
             (record seq {next} is missing)",
            cp.size
        );
    }
    let checked = next;
    // Only the records checked above, in pages.
    let mut sealed_now = 0u64;
    let mut at = 0u64;
    while at < checked {
        let limit = u32::try_from((checked - at).min(u64::from(SEAL_PAGE)))?;
        let page = store.sealed_page(at.checked_sub(1), limit).await?;
        let Some(last) = page.last().map(|s| s.record.index.seq) else {
            break;
        };
        let mut seals = Vec::new();
        for sealed in page.iter().filter(|s| s.seal.is_none()) {
            seals.push((sealed.record.index.seq, key.seal_record(&sealed.record)?));
        }
        store.add_seals(&seals).await?;
        sealed_now += seals.len() as u64;
        at = last + 1;
    }
    Ok(format!(
        "checked {checked} records (hash chain, tree, seals, last checkpoint); sealed the \
         {sealed_now} stored without a seal ({unsealed} found)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_check_only_their_leaf_under_their_key() {
        let key = SealKey::derive(&[7; 32]);
        let other = SealKey::derive(&[8; 32]);
        let leaf = Hash([1; 32]);
        let seal = key.seal(&leaf);
        assert!(key.check(&leaf, &seal));
        assert!(!key.check(&Hash([2; 32]), &seal));
        assert!(!other.check(&leaf, &seal));
        assert!(!key.check(&leaf, &seal[..31]));
        assert!(!format!("{key:?}").contains('7'));
    }

    #[test]
    fn the_seal_key_is_hmac_of_the_label_under_the_seed() {
        // HMAC-SHA256(key = 32 zero bytes, "ordersys/txlog/seal/v1"), for other implementations.
        let key = SealKey::derive(&[0; 32]);
        let mut mac = HmacSha256::new_from_slice(&[0; 32]).unwrap();
        mac.update(b"ordersys/txlog/seal/v1");
        assert_eq!(key.0, <[u8; 32]>::from(mac.finalize().into_bytes()));
    }
}
