//! Property tests of the Merkle tree as the SQLite store keeps it: for random append batch
//! sizes, with the tree extended at random points, every root and every proof equals the one
//! computed from RFC 9162's own recursive definitions over the records' leaf data.

use crate::common;

use proptest::prelude::*;
use sha2::{Digest, Sha256};
use tlog_tiles::Hash;
use txlog_api::Event;
use txlog_service::store;
use txlog_service::transparency::tree;
use txlog_service::transparency::Sequencer;

/// MTH(D[n]) (RFC 9162 section 2.1.1).
fn mth(leaves: &[Vec<u8>]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => Sha256::new()
            .chain_update([0])
            .chain_update(&leaves[0])
            .finalize()
            .into(),
        n => {
            let k = split(n);
            node(mth(&leaves[..k]), mth(&leaves[k..]))
        }
    }
}

/// The largest power of two smaller than `n`.
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

fn node(left: [u8; 32], right: [u8; 32]) -> [u8; 32] {
    Sha256::new()
        .chain_update([1])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// PATH(m, D[n]) (RFC 9162 section 2.1.3.1).
fn path(m: usize, leaves: &[Vec<u8>]) -> Vec<[u8; 32]> {
    let n = leaves.len();
    if n <= 1 {
        return vec![];
    }
    let k = split(n);
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// PROOF(m, D[n]) via SUBPROOF (RFC 9162 section 2.1.4.1).
fn subproof(m: usize, leaves: &[Vec<u8>], complete: bool) -> Vec<[u8; 32]> {
    let n = leaves.len();
    if m == n {
        return if complete { vec![] } else { vec![mth(leaves)] };
    }
    let k = split(n);
    if m <= k {
        let mut p = subproof(m, &leaves[..k], complete);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = subproof(m - k, &leaves[k..], false);
        p.push(mth(&leaves[..k]));
        p
    }
}

fn raw(hashes: Vec<Hash>) -> Vec<[u8; 32]> {
    hashes.into_iter().map(|h| h.0).collect()
}

fn events(n: usize) -> Vec<Event> {
    common::events(n)
        .into_iter()
        .map(|e| serde_json::from_value(e).unwrap())
        .collect()
}

async fn check(batches: Vec<(usize, bool)>, probes: Vec<(usize, usize)>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let log = Sequencer::new(store::connect(&url).await.unwrap(), None);
    let store = log.store();
    for (size, extend_now) in batches {
        log.append(&events(size), "prop").await.unwrap();
        if extend_now {
            log.catch_up().await.unwrap();
        }
    }
    let n = log.catch_up().await.unwrap() as usize;
    let leaves: Vec<Vec<u8>> = store
        .chain_page(None, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|r| tree::leaf_data(r).unwrap().into_bytes())
        .collect();
    assert_eq!(leaves.len(), n);
    for size in 0..=n {
        let root = tree::root(&**store, size as u64).await.unwrap();
        assert_eq!(root.0, mth(&leaves[..size]), "root of {size}");
    }
    for (a, b) in probes {
        let (to, at) = (1 + b % n, a % n);
        let m = at % to;
        let inclusion = tree::with_stored_hashes(&**store, |r| {
            tlog_tiles::prove_record(to as u64, m as u64, r)
        })
        .await
        .unwrap();
        assert_eq!(
            raw(inclusion),
            path(m, &leaves[..to]),
            "inclusion {m} in {to}"
        );
        let from = 1 + at % to;
        let consistency = tree::with_stored_hashes(&**store, |r| {
            tlog_tiles::prove_tree(to as u64, from as u64, r)
        })
        .await
        .unwrap();
        assert_eq!(
            raw(consistency),
            subproof(from, &leaves[..to], true),
            "consistency {from} to {to}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_stored_tree_is_the_rfc_9162_tree(
        batches in prop::collection::vec((1usize..40, any::<bool>()), 1..8),
        probes in prop::collection::vec((any::<usize>(), any::<usize>()), 1..24),
    ) {
        tokio::runtime::Runtime::new().unwrap().block_on(check(batches, probes));
    }
}
