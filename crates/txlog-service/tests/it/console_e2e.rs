//! The auditor console end to end in headless Chromium: an auditor signs in through the real
//! OpenID Connect provider (authorization code with PKCE), filters the records by order id,
//! opens one and sees its proof verified in the browser; after a record is changed in the
//! SQLite file, the console shows the proof failing. Screenshots of each step go to
//! `console/e2e/artifacts/` (the script is `console/e2e/console.e2e.mjs`).

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::oidc::Provider;
use common::{event, log_key, tamper, Backend, TestApp, TestDb};
use platform::auth::{AuthConfig, KeyConfig};
use serde_json::{json, Value};
use txlog_service::config::ConsoleConfig;
use txlog_service::transparency::checkpoint;

const CHROMIUM: &str = "/usr/bin/chromium";

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("console")
}

/// Whether Chromium and playwright-core are here; under CI their absence fails the test.
fn browser_available() -> bool {
    if !Path::new(CHROMIUM).exists() {
        testkit::unavailable(format!("{CHROMIUM} is missing: bash .ci/chromium.sh"));
        return false;
    }
    if !console_dir().join("node_modules/playwright-core").is_dir() {
        testkit::unavailable("playwright-core is missing: bash .ci/console.sh");
        return false;
    }
    true
}

/// Appends the events as the order service's delivery identity would.
async fn append(app: &TestApp, token: &str, events: &[Value]) {
    let response = app
        .client
        .post(app.url("/v1/transactions"))
        .bearer_auth(token)
        .json(&json!({ "transactions": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

/// Waits until the latest checkpoint covers `size` records.
async fn wait_for_checkpoint(app: &TestApp, token: &str, size: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = app
            .client
            .get(app.url("/v1/checkpoint"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            let note = response.text().await.unwrap();
            if checkpoint::verify(note.as_bytes(), &log_key().1)
                .unwrap()
                .size
                >= size
            {
                return;
            }
        }
        assert!(Instant::now() < deadline, "no checkpoint of size {size}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Calls recorded before the order's: enough for a second page of the records table (25 rows).
const EARLIER_CALLS: usize = 30;

/// The events: an order's story (created, read, updated, a refused read) among other calls.
fn events(order_id: &str) -> Vec<Value> {
    let story = [
        ("order.create", "success", "POST", 201),
        ("order.get", "success", "GET", 200),
        ("order.update", "success", "PATCH", 200),
        ("order.get", "denied", "GET", 403),
    ];
    let mut events: Vec<Value> = (0..EARLIER_CALLS).map(|_| event(|_| {})).collect();
    for (operation, outcome, method, status) in story {
        events.push(event(|e| {
            e["operation"] = json!(operation);
            e["outcome"] = json!(outcome);
            e["order_id"] = json!(order_id);
            e["request"]["method"] = json!(method);
            e["request"]["path"] = json!(format!("/v1/orders/{order_id}"));
            e["response"]["status"] = json!(status);
        }));
        events.push(event(|_| {}));
    }
    events
}

/// What a phase is told: the log, the order, the record to open, a token to paste.
struct Scene<'a> {
    app: &'a TestApp,
    order_id: &'a str,
    seq: u64,
    total: usize,
    read_token: String,
}

async fn run_phase(phase: &str, scene: &Scene<'_>) {
    let Scene {
        app,
        order_id,
        seq,
        total,
        read_token,
    } = scene;
    let status = tokio::process::Command::new("node")
        .arg("e2e/console.e2e.mjs")
        .arg(phase)
        .current_dir(console_dir())
        .env("CONSOLE_URL", app.url("/console/"))
        .env("ORDER_ID", order_id)
        .env("ORDER_RECORDS", "4")
        .env("RECORD_SEQ", seq.to_string())
        .env("RECORDS", total.to_string())
        .env("READ_TOKEN", read_token)
        .env("ARTIFACTS", console_dir().join("e2e/artifacts"))
        .status()
        .await
        .expect("node runs");
    assert!(status.success(), "the console's {phase} phase failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_signs_in_follows_an_order_sees_the_proof_and_then_the_tampering() {
    if !browser_available() {
        return;
    }
    let Some(idp) = Provider::start() else { return };
    let db = TestDb::new(Backend::Sqlite).unwrap();
    let mut config = common::config(&db.url, &log_key().0);
    config.auth = AuthConfig::new(
        "TXLOG",
        txlog_service::api::REALM,
        KeyConfig::Issuer(idp.issuer.clone()),
        common::AUDIENCE,
    );
    config.console = ConsoleConfig {
        oidc_client_id: Some("ordersys-console".into()),
        verifier_key: Some(log_key().1.clone()),
    };
    let app = TestApp::spawn_configured(db, config).await;
    let token = idp.service_token("txlog:write txlog:read").await;
    let order_id = "ord_console_e2e";
    let events = events(order_id);
    append(&app, &token, &events).await;
    wait_for_checkpoint(&app, &token, events.len() as u64).await;
    // The order's first record comes after the earlier calls.
    let scene = Scene {
        app: &app,
        order_id,
        seq: EARLIER_CALLS as u64,
        total: events.len(),
        read_token: idp.service_token("txlog:read").await,
    };
    run_phase("verify", &scene).await;
    tamper::edit_record(&app.db, scene.seq as i64).await;
    run_phase("tampered", &scene).await;
}
