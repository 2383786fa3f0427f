//! The independent Python verifier (`tests/txlog/verify_chain.py`, PyPI `rfc8785`) re-computes
//! the chain from the API's export of a live service. Under `CI=true` a missing python3 or
//! rfc8785 fails the test.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::str::FromStr;

use common::{event, events, token, Backend, TestApp, READ};
use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/txlog/verify_chain.py")
}

/// True when python3 with rfc8785 is available; under CI its absence is a failure.
fn python_ready() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import rfc8785"])
        .output()
        .is_ok_and(|o| o.status.success());
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        ok || !in_ci,
        "python3 with the rfc8785 package is required under CI=true (pip install rfc8785)"
    );
    if !ok {
        eprintln!("SKIPPED: python3 with rfc8785 is not available");
    }
    ok
}

fn run(app: &TestApp) -> (i32, String) {
    let output = Command::new("python3")
        .arg(script())
        .arg(format!("http://{}", app.addr))
        .arg(token("auditor", READ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.trim().is_empty(), "verifier stderr: {stderr}");
    (output.status.code().unwrap(), stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_re_verifies_the_exported_chain() {
    if !python_ready() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.append(&events(520)).await;
    // Awkward content for canonicalization: unicode, escapes, floats, big and negative numbers.
    let odd = event(|e| {
        e["request"]["body"] = json!({"z": "line\nbreak \u{1F600} \"quoted\" \\ é", "a": [1.5, -0.0, 1e21, 1e-7, 9007199254740993u64, -3]});
        e["response"]["body"] = json!("plain text body");
        e["actor"] = json!(null);
    });
    app.append(&[odd]).await;
    assert_eq!(run(&app), (0, "valid 521 records".to_owned()));

    let mut raw = SqliteConnectOptions::from_str(&app.db.url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER records_no_update")
        .execute(&mut raw)
        .await
        .unwrap();
    sqlx::query("UPDATE records SET canonical = replace(canonical, '\"order.get\"', '\"order.gone\"') WHERE seq = 507")
        .execute(&mut raw)
        .await
        .unwrap();
    let (code, out) = run(&app);
    assert_eq!(code, 1);
    assert!(out.starts_with("invalid at seq 507:"), "{out}");
}
