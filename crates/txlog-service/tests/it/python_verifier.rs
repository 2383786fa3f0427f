//! Independent Python verifiers re-compute the chain without ordersys code: from the API's
//! export of a live service (`tests/txlog/verify_chain.py`, PyPI `rfc8785`), and from the
//! MongoDB store's documents read with a second client (`tests/txlog/verify_mongo_store.py`,
//! PyMongo). Under `CI=true` a missing python3, rfc8785 or pymongo fails the test.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::{event, events, mongo, token, Backend, TestApp, READ};
use mongodb::bson::doc;
use serde_json::json;

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../tests/txlog/{name}"))
}

/// True when python3 with rfc8785 and pymongo is available; under CI its absence is a failure.
fn python_ready() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import rfc8785, pymongo"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        testkit::unavailable(
            "python3 with rfc8785 and pymongo is not available (pip install -r tests/requirements.txt)",
        );
    }
    ok
}

/// The API verifier against the live service.
fn run(app: &TestApp) -> (i32, String) {
    run_script(
        "verify_chain.py",
        &[&format!("http://{}", app.addr), &token("auditor", READ)],
    )
}

/// The PyMongo verifier against the service's MongoDB store.
fn run_on_store(app: &TestApp) -> (i32, String) {
    run_script("verify_mongo_store.py", &[&app.db.url])
}

fn run_script(name: &str, args: &[&str]) -> (i32, String) {
    let output = Command::new("python3")
        .arg(script(name))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.trim().is_empty(), "verifier stderr: {stderr}");
    (output.status.code().unwrap(), stdout)
}

/// 520 plain events and one with awkward content for canonicalization: unicode, escapes,
/// floats, big and negative numbers (the largest a double keeps exactly, and one past u64 that
/// reads as a double), no actor.
async fn fill(app: &TestApp) {
    app.append(&events(520)).await;
    let odd = event(|e| {
        e["request"]["body"] = json!({"z": "line\nbreak \u{1F600} \"quoted\" \\ é", "a": [1.5, -0.0, 1e21, 1e-7, 9007199254740992u64, 18446744073709552000.0, -3]});
        e["response"]["body"] = json!("plain text body");
        e["actor"] = json!(null);
    });
    app.append(&[odd]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_re_verifies_the_exported_chain() {
    if !python_ready() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    fill(&app).await;
    assert_eq!(run(&app), (0, "valid 521 records".to_owned()));

    let mut raw = common::tamper::sqlite(&app.db).await;
    sqlx::query("UPDATE records SET canonical = replace(canonical, '\"order.get\"', '\"order.gone\"') WHERE seq = 507")
        .execute(&mut raw)
        .await
        .unwrap();
    let (code, out) = run(&app);
    assert_eq!(code, 1);
    assert!(out.starts_with("invalid at seq 507:"), "{out}");
}

/// PyMongo reads the documents the service wrote and re-verifies the chain and every query
/// field; edits to a query field, to the hashed text, and a deleted record are each named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymongo_re_verifies_the_mongodb_store() {
    if !python_ready() {
        return;
    }
    let Some(app) = TestApp::spawn(Backend::Mongo).await else {
        return;
    };
    fill(&app).await;
    assert_eq!(run_on_store(&app), (0, "valid 521 records".to_owned()));
    assert_eq!(run(&app), (0, "valid 521 records".to_owned()));

    let records = mongo::records(&app.db.url).await;
    mongo::set(&records, 400, doc! {"operation": "order.forged"}).await;
    let (code, out) = run_on_store(&app);
    assert_eq!(code, 1);
    assert!(
        out.starts_with("invalid at seq 400: the document's operation differs"),
        "{out}"
    );

    mongo::set(&records, 400, doc! {"operation": "order.get"}).await;
    let original = mongo::edit_canonical(&records, 300).await;
    let (code, out) = run_on_store(&app);
    assert_eq!(code, 1);
    assert!(
        out.starts_with("invalid at seq 300: hash does not match"),
        "{out}"
    );

    mongo::set(&records, 300, doc! {"canonical": original}).await;
    assert_eq!(run_on_store(&app), (0, "valid 521 records".to_owned()));
    records.delete_one(doc! {"_id": 200_i64}).await.unwrap();
    let (code, out) = run_on_store(&app);
    assert_eq!(code, 1);
    assert!(
        out.starts_with("invalid at seq 200: expected _id 200, found 201"),
        "{out}"
    );
}
