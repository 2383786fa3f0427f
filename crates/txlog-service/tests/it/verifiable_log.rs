//! The verifiable log (SPEC section 10) on each backend: signed checkpoints that cover every
//! append, RFC 9162 proofs checked here and by the reference Go code, bad proof requests
//! refused with 422, and `ordersys audit` passing on an honest log and naming each tampering.

use crate::common;

use common::tamper::{self, Truncate};
use common::{events, log_key, Backend, TestApp};
use serde_json::Value;
use tlog_tiles::{record_hash, Hash};
use txlog_audit::AuditError;
use txlog_service::transparency::tree;
use txlog_service::transparency::Sequencer;
use txlog_service::transparency::{checkpoint, LogKey, Round, Signer, TreeSource};
use txlog_verify::tree::MemoryTree;

on_both_stores!(
    checkpoints_cover_every_append_and_prove_it,
    bad_proof_requests_are_refused_with_422,
    the_reference_go_implementation_agrees,
    an_honest_log_passes_the_audit,
    an_edited_record_fails_the_full_audit,
    swapped_records_fail_the_full_audit,
    a_log_cut_back_to_an_old_backup_fails_against_the_state_file,
    the_log_refuses_to_sign_a_shrunken_tree,
    another_key_fails_the_signature_check,
    appends_keep_the_tree_without_the_checkpoint_loop,
    the_loop_signs_the_tree_the_appends_left,
    a_tree_stored_a_hash_a_row_still_proves_and_grows,
);

/// The tree an auditor builds from the records the API returns.
async fn tree_of(app: &TestApp) -> MemoryTree {
    let mut tree = MemoryTree::default();
    for record in app.all("order=asc&limit=500").await {
        let leaf = serde_json_canonicalizer::to_string(&record).unwrap();
        tree.push(record_hash(leaf.as_bytes())).unwrap();
    }
    tree
}

fn hashes(value: &Value) -> Vec<Hash> {
    value["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            Hash(
                hex::decode(h.as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap(),
            )
        })
        .collect()
}

async fn checkpoints_cover_every_append_and_prove_it(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let mut total = 0;
    let mut heads = Vec::new();
    for batch in [1, 2, 5, 8, 1, 13] {
        app.append(&events(batch)).await;
        total += batch as u64;
        let (_, head) = app.checkpoint_of(total).await;
        assert_eq!(head.size, total, "one checkpoint per append here");
        assert_eq!(head.origin, common::ORIGIN);
        heads.push(head);
    }
    let tree = tree_of(&app).await;
    for head in &heads {
        assert_eq!(
            tree.root(head.size).unwrap(),
            head.root,
            "size {}",
            head.size
        );
    }
    // Every inclusion proof at every signed size, and every consistency proof between them.
    let records = app.all("order=asc&limit=500").await;
    for head in &heads {
        for seq in 0..head.size {
            let proof = app
                .get_json(&format!(
                    "/v1/proofs/inclusion?seq={seq}&tree_size={}",
                    head.size
                ))
                .await;
            let leaf = serde_json_canonicalizer::to_string(&records[seq as usize]).unwrap();
            let leaf = record_hash(leaf.as_bytes());
            assert_eq!(proof["leaf_hash"], hex::encode(leaf.0));
            tlog_tiles::check_record(&hashes(&proof), head.size, head.root, seq, leaf)
                .unwrap_or_else(|e| panic!("inclusion {seq} in {}: {e}", head.size));
        }
        for older in &heads {
            if older.size <= head.size {
                let proof = app
                    .get_json(&format!(
                        "/v1/proofs/consistency?from={}&to={}",
                        older.size, head.size
                    ))
                    .await;
                tlog_tiles::check_tree(
                    &hashes(&proof),
                    head.size,
                    head.root,
                    older.size,
                    older.root,
                )
                .unwrap_or_else(|e| panic!("consistency {} to {}: {e}", older.size, head.size));
            }
        }
    }
    // New records carry who delivered them.
    assert!(records.iter().all(|r| r["submitted_by"] == "order-service"));
}

async fn bad_proof_requests_are_refused_with_422(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.append(&events(4)).await;
    app.checkpoint_of(4).await;
    for query in [
        "/v1/proofs/inclusion?seq=4&tree_size=4",
        "/v1/proofs/inclusion?seq=0&tree_size=5",
        "/v1/proofs/inclusion?seq=0&tree_size=0",
        "/v1/proofs/inclusion?seq=-1&tree_size=3",
        "/v1/proofs/inclusion?seq=x&tree_size=3",
        "/v1/proofs/inclusion?seq=1",
        "/v1/proofs/inclusion?seq=0&tree_size=18446744073709551616",
        "/v1/proofs/inclusion?seq=0&tree_size=18446744073709551615",
        "/v1/proofs/consistency?from=0&to=3",
        "/v1/proofs/consistency?from=3&to=2",
        "/v1/proofs/consistency?from=1&to=5",
        "/v1/proofs/consistency?from=1.0&to=2",
        "/v1/proofs/consistency?to=2",
        "/v1/proofs/consistency?from=1&to=2&from=1",
    ] {
        let response = app.get(query).await;
        assert_eq!(response.status(), 422, "{query}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{query}"
        );
    }
    let unauthenticated = reqwest::get(app.url("/v1/proofs/consistency?from=1&to=2")).await;
    assert_eq!(unauthenticated.unwrap().status(), 401);
}

async fn the_reference_go_implementation_agrees(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let Some(checker) = common::process::tlogcheck() else {
        return;
    };
    for batch in [1, 6, 33, 100] {
        app.append(&events(batch)).await;
    }
    app.checkpoint_of(140).await;
    let output = std::process::Command::new(checker)
        .args([
            "--log",
            &app.url(""),
            "--key",
            &log_key().1,
            "--origin",
            common::ORIGIN,
        ])
        .args(["--token", &common::token("auditor", common::READ)])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "tlogcheck: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["size"], 140);
    assert!(summary["inclusion_checked"].as_u64().unwrap() > 50);
    assert!(summary["consistency_checked"].as_u64().unwrap() > 50);
}

pub(crate) fn failure(result: Result<Vec<String>, AuditError>) -> String {
    match result {
        Err(AuditError::Failed(what)) => what,
        other => panic!("the audit should fail with an inconsistency, got {other:?}"),
    }
}

async fn an_honest_log_passes_the_audit(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let state = app.db.dir.path().join("audit-state");
    app.append(&events(5)).await;
    app.checkpoint_of(5).await;
    let first = app.audit(&log_key().1, Some(&state), true).await.unwrap();
    assert!(first[0].contains("size 5"), "{first:?}");
    assert!(
        first.iter().any(|l| l.starts_with("records: 5 checked")),
        "{first:?}"
    );
    app.append(&events(7)).await;
    app.checkpoint_of(12).await;
    let second = app.audit(&log_key().1, Some(&state), false).await.unwrap();
    assert!(
        second
            .iter()
            .any(|l| l == "consistency from size 5 to 12: verified"),
        "{second:?}"
    );
}

/// A log whose tree an older release stored, a row or document per hash: the SQLite store
/// takes its hashes over, the MongoDB store builds its own from the records; either way the
/// proofs and the tree the next appends grow still pass the audit.
async fn a_tree_stored_a_hash_a_row_still_proves_and_grows(backend: Backend) {
    let Some((app, state)) = audited(backend, 7).await else {
        return;
    };
    let db = app.stop().await;
    tamper::store_a_hash_a_row(&db).await;
    let app = TestApp::spawn_on(db).await;
    app.append(&events(6)).await;
    app.checkpoint_of(13).await;
    let lines = app.audit(&log_key().1, Some(&state), true).await.unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l == "consistency from size 7 to 13: verified"),
        "{lines:?}"
    );
    assert_eq!(
        tree_of(&app).await.root(13).unwrap(),
        app.checkpoint_of(13).await.1.root
    );
}

/// An honest log of `n` records, audited once with a state file (which now holds size `n`).
pub(crate) async fn audited(backend: Backend, n: usize) -> Option<(TestApp, std::path::PathBuf)> {
    let app = TestApp::spawn(backend).await?;
    app.append(&events(n)).await;
    app.checkpoint_of(n as u64).await;
    let state = app.db.dir.path().join("audit-state");
    app.audit(&log_key().1, Some(&state), true).await.unwrap();
    Some((app, state))
}

async fn an_edited_record_fails_the_full_audit(backend: Backend) {
    let Some((app, state)) = audited(backend, 6).await else {
        return;
    };
    tamper::edit_record(&app.db, 2).await;
    let what = failure(app.audit(&log_key().1, Some(&state), true).await);
    assert_eq!(what, "record seq 2: hash does not match its content");
}

async fn swapped_records_fail_the_full_audit(backend: Backend) {
    let Some((app, state)) = audited(backend, 6).await else {
        return;
    };
    tamper::swap(&app.db, 3, 4).await;
    let what = failure(app.audit(&log_key().1, Some(&state), true).await);
    assert!(what.starts_with("record seq 3: missing"), "{what}");
}

async fn a_log_cut_back_to_an_old_backup_fails_against_the_state_file(backend: Backend) {
    let Some((app, state)) = audited(backend, 8).await else {
        return;
    };
    let db = app.stop().await;
    let what = Truncate {
        checkpoints: true,
        tree: true,
    };
    tamper::truncate(&db, 5, what).await;
    let app = TestApp::spawn_on(db).await;
    // The restarted log, knowing nothing of size 8, signs a tree of 5 again...
    app.append(&events(1)).await;
    app.checkpoint_of(6).await;
    // ...which the auditor's state file shows does not extend what was signed before.
    for full in [false, true] {
        let what = failure(app.audit(&log_key().1, Some(&state), full).await);
        assert!(
            what.starts_with("consistency from size 8 to 6: the log shrank"),
            "{what}"
        );
    }
    // Grown past the old size again, the rewritten history still fails: no proof links it.
    app.append(&events(4)).await;
    app.checkpoint_of(10).await;
    let what = failure(app.audit(&log_key().1, Some(&state), false).await);
    assert!(
        what.starts_with("consistency from size 8 to 10: the proof does not verify"),
        "{what}"
    );
}

async fn the_log_refuses_to_sign_a_shrunken_tree(backend: Backend) {
    let Some((app, state)) = audited(backend, 8).await else {
        return;
    };
    let db = app.stop().await;
    let what = Truncate {
        checkpoints: false,
        tree: true,
    };
    tamper::truncate(&db, 5, what).await;
    let app = TestApp::spawn_on(db).await;
    // Not ready, saying why, and the checkpoint of size 8 is still the latest.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let detail = loop {
        let response = reqwest::get(app.url("/readyz")).await.unwrap();
        if response.status() == 503 {
            break response.json::<Value>().await.unwrap()["detail"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "/readyz stayed 200");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let detail = detail.as_str().unwrap();
    assert!(
        detail.contains("size 5") && detail.contains("size 8"),
        "{detail}"
    );
    assert_eq!(app.checkpoint_of(0).await.1.size, 8);
    let what = failure(app.audit(&log_key().1, Some(&state), true).await);
    assert_eq!(
        what,
        "records: the checkpoint signs 8 records, the log returned 5"
    );
}

async fn another_key_fails_the_signature_check(backend: Backend) {
    let Some((app, state)) = audited(backend, 3).await else {
        return;
    };
    let (other_private, other_verifier) =
        txlog_service::transparency::LogKey::generate("txlog-test").unwrap();
    // An auditor holding another key refuses the log's checkpoint...
    let what = failure(app.audit(&other_verifier, None, false).await);
    assert!(what.starts_with("signature: "), "{what}");
    // ...and a log that signs with another key fails the auditor holding the real one.
    let db = app.stop().await;
    let app = TestApp::spawn_with_key(db, &other_private).await;
    app.append(&events(1)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let what = loop {
        match app.audit(&log_key().1, Some(&state), false).await {
            Err(AuditError::Failed(what)) => break what,
            Ok(_) => {} // the old checkpoint is still the latest
            Err(e) => panic!("{e}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never signed with the other key"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(what.starts_with("signature: "), "{what}");
}

/// Each store keeps the tree hashes of what it appends without the checkpoint loop hashing
/// records again: SQLite stores them in the append itself; MongoDB, where they would be a
/// second round trip per append, once per checkpoint round, when the loop asks the sequencer
/// for the tree it remembers. After appends of several sizes and that call, with no loop
/// running, the stored tree holds every record and its root is the auditor's.
async fn appends_keep_the_tree_without_the_checkpoint_loop(backend: Backend) {
    let Some(db) = common::TestDb::new(backend) else {
        return;
    };
    let log = Sequencer::new(txlog_service::store::connect(&db.url).await.unwrap(), None);
    let store = log.store();
    let mut auditor = MemoryTree::default();
    for batch in [1, 2, 5, 1, 64, 3] {
        append_and_follow(&log, &mut auditor, batch).await;
        let n = auditor.size();
        let stored = store.tree_hash_count().await.unwrap();
        if store.stores_tree_with_records() {
            assert_eq!(
                stored,
                tlog_tiles::stored_hash_count(n),
                "after {n} records"
            );
        } else {
            assert!(
                stored < tlog_tiles::stored_hash_count(n),
                "kept for the round"
            );
        }
        let known = log.known_tree().await.expect("the tree the appends wrote");
        assert_eq!((known.size, known.root), (n, auditor.root(n).unwrap()));
        assert_eq!(
            store.tree_hash_count().await.unwrap(),
            tlog_tiles::stored_hash_count(n),
            "after {n} records and a round"
        );
        assert_eq!(
            tree::root(&**store, n).await.unwrap(),
            auditor.root(n).unwrap()
        );
    }
}

/// Appends `n` events straight into `log`, then adds their leaves to `auditor`.
async fn append_and_follow(log: &Sequencer, auditor: &mut MemoryTree, n: usize) {
    let events: Vec<txlog_api::Event> = events(n)
        .into_iter()
        .map(|e| serde_json::from_value(e).unwrap())
        .collect();
    log.append(&events, "order-service").await.unwrap();
    let records = log
        .store()
        .chain_page(auditor.size().checked_sub(1), 1000)
        .await
        .unwrap();
    for record in &records {
        auditor.push(tree::leaf_hash(record).unwrap()).unwrap();
    }
}

/// The checkpoint loop of a replica signs the tree its own appends left without
/// reading the store, once a checkpoint read from the store anchors it; after another
/// replica appended, it goes back to the stored tree. Every checkpoint's root is the
/// auditor's, on both stores.
async fn the_loop_signs_the_tree_the_appends_left(backend: Backend) {
    let Some(db) = common::TestDb::new(backend) else {
        return;
    };
    // Opened as the service opens them: appends are sealed, so the loop accepts them.
    let seal_key = || LogKey::parse(&log_key().0).unwrap().seal_key().clone();
    let replica = || async {
        let store = txlog_service::store::connect(&db.url).await.unwrap();
        std::sync::Arc::new(Sequencer::new(store, Some(seal_key())))
    };
    let store = replica().await;
    let other_replica = replica().await;
    let signer = Signer::new(
        store.clone(),
        std::sync::Arc::new(LogKey::parse(&log_key().0).unwrap()),
        common::ORIGIN.into(),
        std::sync::Arc::default(),
    );
    let remembered = TreeSource::Remembered;
    let mut auditor = MemoryTree::default();
    let mut signed = Vec::new();
    // (replica, events, where the round after it finds the tree)
    let steps = [
        (&store, 3, TreeSource::Stored), // nothing anchors the first round
        (&store, 1, remembered),
        (&store, 7, remembered),
        (&other_replica, 2, TreeSource::Stored), // not this replica's tree
        (&store, 4, TreeSource::Stored),         // its appends start a new lineage
        (&store, 5, remembered),
    ];
    for (replica, n, expected) in steps {
        append_and_follow(replica, &mut auditor, n).await;
        let size = auditor.size();
        assert_eq!(
            signer.round().await.unwrap(),
            Round::Signed {
                size,
                tree: expected
            },
            "after {size} records"
        );
        let note = store
            .store()
            .latest_checkpoint()
            .await
            .unwrap()
            .unwrap()
            .note;
        let head = checkpoint::read(&note).unwrap();
        assert_eq!((head.size, head.root), (size, auditor.root(size).unwrap()));
        signed.push(head);
    }
    assert_eq!(
        signer.round().await.unwrap(),
        Round::Unchanged(auditor.size())
    );
    for pair in signed.windows(2) {
        let proof = tree::with_stored_hashes(&**store.store(), |r| {
            tlog_tiles::prove_tree(pair[1].size, pair[0].size, r)
        })
        .await
        .unwrap();
        tlog_tiles::check_tree(
            &proof,
            pair[1].size,
            pair[1].root,
            pair[0].size,
            pair[0].root,
        )
        .unwrap();
    }
}
