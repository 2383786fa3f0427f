//! Seals (SPEC section 12): the log signs no record that no holder of its signing key sealed.
//! A record inserted with a correct chain hash (and its tree hashes) or edited in the database
//! stops signing, visibly, until the store is repaired; `setup --seal-existing` seals a store
//! written before seals, after checking it.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::tamper::{self, Truncate};
use common::{events, log_key, Backend, TestApp, TestDb};
use txlog_service::store;
use txlog_service::transparency::Sequencer;
use txlog_service::transparency::{tree, LogKey, Round, Signer, SigningStatus};

on_both_stores!(
    forged_records_are_never_signed_until_removed,
    edited_records_stop_signing_and_sealed_appends_do_not,
    seal_existing_refuses_a_broken_chain,
    seal_existing_seals_an_old_store_which_then_signs,
);

fn key() -> Arc<LogKey> {
    Arc::new(LogKey::parse(&log_key().0).unwrap())
}

/// The log as the service opens it: appends are sealed.
async fn sealed_store(url: &str) -> Arc<Sequencer> {
    let store = store::connect(url).await.unwrap();
    Arc::new(Sequencer::new(store, Some(key().seal_key().clone())))
}

/// The log as a database writer without the key writes it: records with a correct chain hash
/// and tree hashes, unsealed.
async fn unsealed_store(url: &str) -> Sequencer {
    Sequencer::new(store::connect(url).await.unwrap(), None)
}

/// Appends `n` events through `log` directly.
async fn append(log: &Sequencer, n: usize) {
    let events: Vec<txlog_api::Event> = events(n)
        .into_iter()
        .map(|e| serde_json::from_value(e).unwrap())
        .collect();
    log.append(&events, "mallory").await.unwrap();
}

/// The value of the counter `txlog_signing_refused_total{reason}` in `/metrics`.
async fn refused(app: &TestApp, reason: &str) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("txlog_signing_refused_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Waits until `/readyz` answers `status` with a body holding `needle`; returns the body.
async fn readyz(app: &TestApp, status: u16, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        let got = response.status().as_u16();
        let body = response.text().await.unwrap();
        if got == status && body.contains(needle) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz did not answer {status} with {needle:?} within 30 s; last {got}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The largest checkpoint stored.
async fn checkpointed(db: &TestDb) -> u64 {
    tamper::checkpoints(db)
        .await
        .last()
        .map_or(0, |(size, _)| *size)
}

async fn forged_records_are_never_signed_until_removed(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.append(&events(3)).await;
    app.checkpoint_of(3).await;
    let before = refused(&app, "unsealed").await;

    // A row with a correct chain hash at seq 3, and the tree hashes over it, written without
    // the key (SQLite: its append also writes the tree hashes, so the signer's `extend` has
    // nothing left to do; MongoDB: likewise from the writer's tail, stored when a checkpoint
    // round would ask it for its tree).
    let forger = unsealed_store(&app.db.url).await;
    append(&forger, 1).await;
    assert!(forger.known_tree().await.is_some());
    assert_eq!(forger.store().head().await.unwrap().map(|h| h.seq), Some(3));
    assert_eq!(
        tree::size_for_count(forger.store().tree_hash_count().await.unwrap()),
        4,
        "the forged record's tree hashes are stored"
    );
    // Legitimate appends after it are sealed, but signing stops at the forged record.
    app.append(&events(2)).await;
    let body = readyz(&app, 503, "record seq 3").await;
    assert!(body.contains("no seal"), "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while refused(&app, "unsealed").await < before + 2.0 {
        assert!(Instant::now() < deadline, "the refusals are not counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Several rounds have run since (each counted): none signed past the forgery.
    assert_eq!(checkpointed(&app.db).await, 3);

    // The operator stops the service and repairs the store: the forged record and everything
    // after it go (the two legitimate records after it were chained onto it, so they go too),
    // and the tree with them. Started again, the log signs.
    let db = app.stop().await;
    tamper::truncate(
        &db,
        3,
        Truncate {
            checkpoints: false,
            tree: true,
        },
    )
    .await;
    let app = TestApp::spawn_on(db).await;
    app.append(&events(2)).await;
    let (_, head) = app.checkpoint_of(5).await;
    assert_eq!(head.size, 5);
    readyz(&app, 200, "").await;
}

async fn edited_records_stop_signing_and_sealed_appends_do_not(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let store = sealed_store(&db.url).await;
    let other_replica = sealed_store(&db.url).await;
    let status = Arc::new(SigningStatus::default());
    let signer = Signer::new(store.clone(), key(), common::ORIGIN.into(), status.clone());
    append(&store, 3).await;
    assert!(matches!(
        signer.round().await.unwrap(),
        Round::Signed { size: 3, .. }
    ));
    // Records another replica sealed are accepted (no false alarm), also interleaved.
    append(&other_replica, 2).await;
    append(&store, 1).await;
    append(&other_replica, 1).await;
    assert!(matches!(
        signer.round().await.unwrap(),
        Round::Signed { size: 7, .. }
    ));
    assert_eq!(status.refusal(), None);

    // A record edited before it is signed: its seal no longer matches.
    append(&store, 3).await;
    tamper::edit_record(&db, 8).await;
    for _ in 0..2 {
        let Round::Refused(why) = signer.round().await.unwrap() else {
            panic!("an edited record was signed");
        };
        assert!(why.contains("record seq 8"), "{why}");
    }
    assert!(status.refusal().unwrap().contains("record seq 8"));
    assert_eq!(checkpointed(&db).await, 7);

    // A halt outlives a repaired store: repair (drop the edited record and what follows),
    // then the round signs again, until something halts signing for good.
    tamper::truncate(
        &db,
        8,
        Truncate {
            checkpoints: false,
            tree: true,
        },
    )
    .await;
    let store = sealed_store(&db.url).await;
    let signer = Signer::new(store.clone(), key(), common::ORIGIN.into(), status.clone());
    append(&store, 2).await;
    assert!(matches!(
        signer.round().await.unwrap(),
        Round::Signed { size: 10, .. }
    ));
    assert_eq!(status.refusal(), None);
    status.halt("test", "halted by the test".into());
    append(&store, 1).await;
    assert_eq!(
        signer.round().await.unwrap(),
        Round::Refused("halted by the test".into())
    );
    assert_eq!(status.refusal().as_deref(), Some("halted by the test"));
    assert_eq!(checkpointed(&db).await, 10);
}

/// `txlog-service setup --seal-existing` on `db` (the key comes from `TXLOG_SIGNING_KEY`).
fn seal_existing(db: &TestDb) -> std::process::Output {
    let mut command = common::process::command(&db.url);
    command.arg("setup").arg("--seal-existing");
    if db.mongo.is_some() {
        command.arg("--skip-role");
    }
    command.output().unwrap()
}

async fn seal_existing_refuses_a_broken_chain(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let old = unsealed_store(&db.url).await;
    append(&old, 5).await;
    tamper::edit_record(&db, 2).await;
    let output = seal_existing(&db);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("seq 2"), "{stderr}");
    let unsealed = old.store().sealed_page(None, 10).await.unwrap();
    assert!(
        unsealed.iter().all(|r| r.seal.is_none()),
        "nothing is sealed"
    );
}

async fn seal_existing_seals_an_old_store_which_then_signs(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let old = unsealed_store(&db.url).await;
    append(&old, 5).await;
    let signer = Signer::new(
        sealed_store(&db.url).await,
        key(),
        common::ORIGIN.into(),
        Arc::default(),
    );
    let Round::Refused(why) = signer.round().await.unwrap() else {
        panic!("unsealed records were signed");
    };
    assert!(why.contains("record seq 0"), "{why}");

    let output = seal_existing(&db);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("sealed the 5 stored without a seal"),
        "{stdout}"
    );
    // Again: nothing left to seal.
    let again = seal_existing(&db);
    assert!(String::from_utf8_lossy(&again.stdout).contains("sealed the 0"));

    let app = TestApp::spawn_on(db).await;
    app.checkpoint_of(5).await;
    app.append(&events(2)).await;
    app.checkpoint_of(7).await;
    readyz(&app, 200, "").await;
}
