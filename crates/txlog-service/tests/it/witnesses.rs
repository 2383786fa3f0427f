//! Witnesses (SPEC section 12) against real C2SP tlog-witness witnesses (litewitness from
//! filippo.io/torchwood, `bash .ci/witness.sh`), on both stores: checkpoints cosigned and served
//! with every cosignature, a stopped witness neither holding up appends nor letting a checkpoint
//! it did not cosign be served, and a restored or forked store stopping signing for good.

use crate::common;

use std::time::{Duration, Instant};

use common::witness::{
    spawn_witnessed, spawn_witnessed_replica, witness_config, Backup, LiteWitness,
};
use common::{events, Backend, TestApp, TestDb, ORIGIN};
use txlog_service::transparency::{checkpoint, LogKey};
use txlog_verify::cosignature::{self, WitnessKey};

on_both_stores!(
    two_witnesses_cosign_the_served_checkpoint,
    a_stopped_witness_holds_the_served_checkpoint_until_it_returns,
    a_store_restored_from_a_backup_stops_signing_for_good,
    a_forked_store_is_refused_by_the_witnesses_proof_check,
    replicas_share_the_witnesses_without_a_false_alarm,
);

/// A log key named after the origin, as witnesses require (C2SP tlog-checkpoint).
fn origin_key() -> (String, String) {
    LogKey::generate(ORIGIN).unwrap()
}

/// A witness name of its own per test: the metrics of all tests in this process share labels.
fn unique(name: &str) -> String {
    format!(
        "{name}-{}.example/witness",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

struct Setup {
    key: (String, String),
    a: LiteWitness,
    b: LiteWitness,
}

/// Two witnesses that know a new log key.
fn witnesses() -> Option<Setup> {
    let key = origin_key();
    let a = LiteWitness::start(&unique("a"), ORIGIN, &key.1)?;
    let b = LiteWitness::start(&unique("b"), ORIGIN, &key.1)?;
    Some(Setup { key, a, b })
}

async fn spawn(db: TestDb, setup: &Setup) -> TestApp {
    let config = common::config(&db.url, &setup.key.0);
    spawn_witnessed(db, config, witness_config(&[&setup.a, &setup.b], None)).await
}

/// Waits for `condition` (checked every 20 ms, for at most 60 s).
async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition().await {
        assert!(Instant::now() < deadline, "waited 60 s for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The served checkpoint, its signature by our key checked: (size, note); `None` on 503.
async fn served(app: &TestApp, vkey: &str) -> Option<(u64, String)> {
    let response = app.get("/v1/checkpoint").await;
    if response.status() == 503 {
        let problem = response.text().await.unwrap();
        assert!(problem.contains("cosigned by"), "{problem}");
        return None;
    }
    assert_eq!(response.status(), 200);
    let note = response.text().await.unwrap();
    let head = checkpoint::verify(note.as_bytes(), vkey).unwrap();
    Some((head.size, note))
}

/// Waits for `/readyz` to answer 503 and returns why.
async fn refusal(app: &TestApp) -> String {
    wait_until("/readyz to answer 503", || async {
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            == 503
    })
    .await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    ready.text().await.unwrap()
}

/// Checks that `note` carries a valid cosignature by each of `witnesses` (with the verifier
/// crate's code, not the service's) and our signature line first.
fn assert_cosigned(note: &str, log_vkey: &str, witnesses: &[&LiteWitness]) {
    let body = cosignature::note_body(note).unwrap();
    let lines = cosignature::signature_lines(note);
    let ours = log_vkey.split('+').next().unwrap();
    assert!(lines[0].starts_with(&format!("\u{2014} {ours} ")), "{note}");
    for witness in witnesses {
        let key: WitnessKey = witness.vkey.parse().unwrap();
        let valid = lines
            .iter()
            .filter(|line| key.verify_line(body, line).is_ok())
            .count();
        assert_eq!(
            valid, 1,
            "one valid cosignature by {}: {note}",
            witness.name
        );
    }
    assert_eq!(lines.len(), 1 + witnesses.len(), "{note}");
}

/// The served checkpoint once it covers at least `size` records.
async fn witnessed_at_least(app: &TestApp, vkey: &str, size: u64) -> (u64, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = served(app, vkey).await.filter(|(s, _)| *s >= size) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "waited 60 s for a witnessed checkpoint of size {size}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn outcomes(app: &TestApp, witness: &LiteWitness, outcome: &str) -> f64 {
    app.metric(
        "txlog_witness_cosignatures_total",
        &[("witness", &witness.name), ("outcome", outcome)],
    )
    .await
}

async fn two_witnesses_cosign_the_served_checkpoint(backend: Backend) {
    let Some(setup) = witnesses() else { return };
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let app = spawn(db, &setup).await;
    assert!(
        served(&app, &setup.key.1).await.is_none(),
        "nothing cosigned yet"
    );
    app.append(&events(5)).await;
    let (size, note) = witnessed_at_least(&app, &setup.key.1, 5).await;
    assert_eq!(size, 5);
    assert_cosigned(&note, &setup.key.1, &[&setup.a, &setup.b]);
    app.append(&events(3)).await;
    let (size, note) = witnessed_at_least(&app, &setup.key.1, 8).await;
    assert_eq!(size, 8);
    assert_cosigned(&note, &setup.key.1, &[&setup.a, &setup.b]);
    assert_eq!(setup.a.size(ORIGIN), 8);
    assert_eq!(setup.b.size(ORIGIN), 8);
    assert!(outcomes(&app, &setup.a, "cosigned").await >= 2.0);
    // Proofs still reach any signed size, and an independent Go implementation accepts the
    // cosignatures (golang.org/x/mod/sumdb/note with transparency-dev's cosignature/v1).
    let proof = app.get_json("/v1/proofs/consistency?from=5&to=8").await;
    assert_eq!(proof["to"], 8);
    if let Some(checker) = common::process::tlogcheck() {
        let output = std::process::Command::new(checker)
            .args([
                "--log",
                &app.url(""),
                "--key",
                &setup.key.1,
                "--origin",
                ORIGIN,
            ])
            .args(["--witness", &setup.a.vkey, "--witness", &setup.b.vkey])
            .args(["--token", &common::token("auditor", common::READ)])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "tlogcheck: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(summary["size"], 8);
        assert_eq!(
            summary["cosigned_by"],
            serde_json::json!([setup.a.name, setup.b.name])
        );
    }
    // `ordersys audit --witness` accepts it with both, and names a witness that did not cosign.
    let audit = |witnesses: Vec<String>, quorum: Option<usize>| txlog_audit::AuditArgs {
        log: app.url(""),
        key: setup.key.1.clone(),
        token: Some(common::token("auditor", common::READ)),
        state: None,
        full: false,
        witnesses,
        quorum,
    };
    let both = vec![setup.a.vkey.clone(), setup.b.vkey.clone()];
    txlog_audit::run(&audit(both.clone(), None), |_| {})
        .await
        .unwrap();
    let stranger = WitnessKey::new(
        "stranger.example/witness",
        ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key(),
    )
    .unwrap()
    .to_string();
    let three = [both, vec![stranger]].concat();
    match txlog_audit::run(&audit(three.clone(), None), |_| {}).await {
        Err(txlog_audit::AuditError::Failed(why)) => {
            assert!(why.contains("stranger.example/witness"), "{why}")
        }
        other => panic!("the audit should name the missing witness: {other:?}"),
    }
    txlog_audit::run(&audit(three, Some(2)), |_| {})
        .await
        .unwrap();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    app.stop().await;
}

async fn a_stopped_witness_holds_the_served_checkpoint_until_it_returns(backend: Backend) {
    let Some(mut setup) = witnesses() else { return };
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let app = spawn(db, &setup).await;
    app.append(&events(3)).await;
    witnessed_at_least(&app, &setup.key.1, 3).await;
    setup.b.stop();
    // Appends go on and the log signs; the witness still up cosigns the new checkpoint.
    app.append(&events(4)).await;
    let a = &setup.a;
    wait_until("witness a to cosign size 7", || async {
        a.size(ORIGIN) == 7
    })
    .await;
    let b = &setup.b;
    let app_ref = &app;
    wait_until("a failed request to the stopped witness", || async {
        outcomes(app_ref, b, "unreachable").await >= 1.0
    })
    .await;
    app.append(&events(2)).await;
    wait_until("witness a to cosign size 9", || async {
        a.size(ORIGIN) == 9
    })
    .await;
    let (size, note) = served(&app, &setup.key.1).await.unwrap();
    assert_eq!(size, 3, "only what both cosigned is served");
    assert_cosigned(&note, &setup.key.1, &[&setup.a, &setup.b]);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "a witness being down is not a failure");
    assert!(
        app.metric("txlog_witness_lag_seconds", &[("witness", &setup.b.name)])
            .await
            > 0.0,
        "the stopped witness lags"
    );
    setup.b.resume();
    let (size, note) = witnessed_at_least(&app, &setup.key.1, 9).await;
    assert_eq!(size, 9);
    assert_cosigned(&note, &setup.key.1, &[&setup.a, &setup.b]);
    assert_eq!(setup.b.size(ORIGIN), 9);
    app.stop().await;
}

async fn a_store_restored_from_a_backup_stops_signing_for_good(backend: Backend) {
    let Some(setup) = witnesses() else { return };
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let app = spawn(db, &setup).await;
    app.append(&events(3)).await;
    witnessed_at_least(&app, &setup.key.1, 3).await;
    let db = app.stop().await;
    let backup = Backup::take(&db).await;
    let app = spawn(db, &setup).await;
    app.append(&events(4)).await;
    witnessed_at_least(&app, &setup.key.1, 7).await;
    let db = app.stop().await;
    let db = backup.restore(db).await;
    let app = spawn(db, &setup).await;
    // New calls are stored, but the witnesses hold size 7 and the store only 3 and then a
    // different tree: the log stops signing and says so.
    app.append(&events(2)).await;
    let problem = refusal(&app).await;
    assert!(
        problem.contains("larger than our newest checkpoint"),
        "{problem}"
    );
    assert!(
        app.metric(
            "txlog_signing_refused_total",
            &[("reason", "witness_rollback")]
        )
        .await
            >= 1.0
    );
    app.append(&events(6)).await;
    // Nothing past what the witnesses hold is served as witnessed, and the witnesses keep 7.
    let Some((size, note)) = served(&app, &setup.key.1).await else {
        let answer = app.get("/v1/checkpoint").await.text().await.unwrap();
        panic!("no witnessed checkpoint served after the restore: {answer}");
    };
    assert_eq!(size, 3, "{note}");
    assert_cosigned(&note, &setup.key.1, &[&setup.a, &setup.b]);
    assert_eq!(setup.a.size(ORIGIN), 7);
    assert_eq!(setup.b.size(ORIGIN), 7);
    // The halt holds: more appends, still refused.
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    app.stop().await;
}

/// Another store (a wrong backup, a fork) holding more records than the witnesses saw, under
/// the same key: its checkpoint is sent with a consistency proof from the witnesses' size, which
/// they refuse (422).
async fn a_forked_store_is_refused_by_the_witnesses_proof_check(backend: Backend) {
    let Some(setup) = witnesses() else { return };
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let app = spawn(db, &setup).await;
    app.append(&events(4)).await;
    witnessed_at_least(&app, &setup.key.1, 4).await;
    app.stop().await;
    // The fork, grown and signed without witnesses, then started with them.
    let Some(fork) = TestDb::new(backend) else {
        return;
    };
    let unwitnessed = TestApp::spawn_with_key(fork, &setup.key.0).await;
    unwitnessed.append(&events(9)).await;
    let unwitnessed_ref = &unwitnessed;
    wait_until("the fork's checkpoint of size 9", || async {
        let note = unwitnessed_ref
            .get("/v1/checkpoint")
            .await
            .text()
            .await
            .unwrap();
        checkpoint::verify(note.as_bytes(), &setup.key.1).is_ok_and(|h| h.size == 9)
    })
    .await;
    let fork = unwitnessed.stop().await;
    let app = spawn(fork, &setup).await;
    let app_ref = &app;
    let a = &setup.a;
    let b = &setup.b;
    wait_until("a witness to refuse our proof", || async {
        outcomes(app_ref, a, "proof_refused").await + outcomes(app_ref, b, "proof_refused").await
            >= 1.0
    })
    .await;
    let problem = refusal(&app).await;
    assert!(
        problem.contains("refused our consistency proof from its size 4 to 9"),
        "{problem}"
    );
    assert!(
        served(&app, &setup.key.1).await.is_none(),
        "the fork is never witnessed"
    );
    assert_eq!(setup.a.size(ORIGIN), 4);
    assert_eq!(setup.b.size(ORIGIN), 4);
    app.stop().await;
}

/// Start-up refuses a bad witness list or quorum with one line naming the variable (exit 2),
/// and `--help` lists both variables.
#[test]
fn witness_settings_are_checked_at_start() {
    let help = common::process::command("sqlite://unused.db")
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("TXLOG_WITNESSES") && help.contains("TXLOG_WITNESS_QUORUM"));
    let key = WitnessKey::new(
        "w.example",
        ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key(),
    )
    .unwrap()
    .to_string();
    let good = format!("https://w.example {key}");
    for (list, quorum, var) in [
        (format!("http://w.example {key}"), None, "TXLOG_WITNESSES"),
        (
            "https://w.example w.example+00000000+AAAA".to_owned(),
            None,
            "TXLOG_WITNESSES",
        ),
        (good.clone(), Some("2"), "TXLOG_WITNESS_QUORUM"),
        (good, Some("0"), "TXLOG_WITNESS_QUORUM"),
    ] {
        let mut command = common::process::command("sqlite://unused.db");
        command.env("TXLOG_WITNESSES", &list);
        if let Some(quorum) = quorum {
            command.env("TXLOG_WITNESS_QUORUM", quorum);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{list} {quorum:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(var), "{stderr}");
    }
}

/// Two replicas on one store both send their checkpoints to both witnesses: each learns from
/// 409s the size the other one's checkpoints left, nobody takes that for a rollback, and the
/// served checkpoint covers every append.
async fn replicas_share_the_witnesses_without_a_false_alarm(backend: Backend) {
    let Some(setup) = witnesses() else { return };
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let url = db.url.clone();
    let app = spawn(db, &setup).await;
    let replica = spawn_witnessed_replica(
        common::config(&url, &setup.key.0),
        witness_config(&[&setup.a, &setup.b], None),
    )
    .await;
    let mut total = 0;
    for round in 0..6 {
        let batch = events(round + 1);
        total += batch.len() as u64;
        let target = if round % 2 == 0 {
            app.url("/v1/transactions")
        } else {
            replica.url("/v1/transactions")
        };
        let response = app
            .client
            .post(target)
            .bearer_auth(common::token("order-service", common::WRITE))
            .json(&serde_json::json!({"transactions": batch}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        witnessed_at_least(&app, &setup.key.1, total).await;
    }
    let (size, note) = witnessed_at_least(&app, &setup.key.1, total).await;
    assert_eq!(size, total);
    assert_cosigned(&note, &setup.key.1, &[&setup.a, &setup.b]);
    for url in [app.url("/readyz"), replica.url("/readyz")] {
        let ready = app.client.get(url).send().await.unwrap();
        assert_eq!(ready.status(), 200, "{:?}", ready.text().await);
    }
    for witness in [&setup.a, &setup.b] {
        // Whichever replica reached the witness second either found its cosignature in the
        // shared store or learned its size from a 409; neither is a refusal.
        assert_eq!(outcomes(&app, witness, "proof_refused").await, 0.0);
    }
    replica.stop().await;
    app.stop().await;
}
