//! Every record reads back (SPEC 12): bodies with serde's private marker keys, big and odd
//! numbers, deep nesting and odd Unicode are stored, listed, fetched one by one, verified by
//! `/verify` (incremental and full) and by the auditor (`audit --full`), on both stores; a body
//! the log could not keep exactly is refused with 422 naming the field, storing nothing.

use crate::common;

use common::{event, log_key, Backend, TestApp};
use serde_json::{json, Value};
use txlog_verify::json as plain;

const RAW: &str = "$serde_json::private::RawValue";
const NUMBER: &str = "$serde_json::private::Number";

/// Bodies as JSON text, each read with every key a plain key.
fn hostile_bodies() -> Vec<Value> {
    let deep = format!("{}1{}", r#"{"d":["#.repeat(30), "]}".repeat(30));
    let texts = [
        format!(r#"{{"a":1,"{RAW}":"x"}}"#),
        format!(r#"{{"{RAW}":"x"}}"#),
        format!(r#"{{"{RAW}":"1","z":[1]}}"#),
        format!(r#"{{"{RAW}":"{{\"status\":\"cancelled\"}}"}}"#),
        format!(r#"{{"!":0,"{RAW}":{{"{RAW}":[]}},"{NUMBER}":"12345678901234567890"}}"#),
        format!(r#"[{{"{NUMBER}":"1"}},{{"$serde_json::private::Unknown":null}}]"#),
        r#"{"n":[18446744073709552000,9007199254740994,-9007199254740992,1e300,-0.0,5e-324,0.1,1e21,123456789.123456789]}"#.to_owned(),
        "{\"\u{e000}\":1,\"\u{1f600}\":2,\"\u{2028}\":\"\u{2029}\",\"\\u0000\\u0001\":\"\\ud83d\\ude00\",\"\u{fffe}\":\"\u{10ffff}\"}".to_owned(),
        deep,
        r#""just a string""#.to_owned(),
    ];
    texts
        .iter()
        .map(|t| plain::from_str(t).unwrap_or_else(|e| panic!("{t}: {e}")))
        .collect()
}

/// Equal JSON is equal canonical text (`-0.0` is `0`, `1.0` is `1`).
fn canonical(value: &Value) -> String {
    txlog_verify::canonical::to_string(value).unwrap()
}

/// A JSON response body, read with every key a plain key.
async fn plain_json(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    let text = response.text().await.unwrap();
    plain::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
}

async fn every_record_reads_back(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let bodies = hostile_bodies();
    let events: Vec<Value> = bodies
        .iter()
        .map(|body| {
            event(|e| {
                e["request"]["body"] = body.clone();
                e["response"]["body"] = json!({"echo": body});
            })
        })
        .collect();
    // A good record first, so that an unreadable one would also break a page of others.
    app.append(&[event(|_| {})]).await;
    let results = app.append(&events).await;
    app.append(&[event(|_| {})]).await;

    let page = plain_json(&app, "/v1/transactions?order=asc&limit=500").await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), bodies.len() + 2);
    for ((body, result), listed) in bodies.iter().zip(&results).zip(&items[1..]) {
        assert_eq!(canonical(&listed["request"]["body"]), canonical(body));
        assert_eq!(
            canonical(&listed["response"]["body"]["echo"]),
            canonical(body)
        );
        let id = result["transaction_id"].as_str().unwrap();
        let fetched = plain_json(&app, &format!("/v1/transactions/{id}")).await;
        assert_eq!(&fetched, listed, "fetched one by one as listed");
        // The served text is its own canonical form: what the leaf covers is what is served.
        let text = app
            .get(&format!("/v1/transactions/{id}"))
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(txlog_verify::canonical::to_string(&fetched).unwrap(), text);
    }
    for filtered in ["order=desc", "operation=order.get&limit=3"] {
        let page = plain_json(&app, &format!("/v1/transactions?{filtered}")).await;
        assert!(!page["items"].as_array().unwrap().is_empty(), "{filtered}");
    }
    for path in [
        "/v1/transactions/verify",
        "/v1/transactions/verify?full=true",
    ] {
        let report = plain_json(&app, path).await;
        assert_eq!(report["valid"], true, "{path}: {report}");
        assert_eq!(report["first_invalid_seq"], Value::Null, "{path}");
    }
    let size = items.len() as u64;
    app.checkpoint_of(size).await;
    let lines = app
        .audit(&log_key().1, None, true)
        .await
        .unwrap_or_else(|e| panic!("audit --full failed on an honest log: {e}"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("records: {size} checked"))),
        "{lines:?}"
    );
}

async fn a_body_the_log_cannot_keep_exactly_is_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.append(&[event(|_| {})]).await;
    // Sent as text: serde_json's `Value` would already have changed the number or the keys.
    let good = serde_json::to_string(&event(|_| {})).unwrap();
    for (body, field, says) in [
        (
            r#"{"n":[9007199254740993]}"#,
            "transactions[1].request.body",
            "2^53",
        ),
        (
            r#"{"k":1,"k":2}"#,
            "transactions[1].request.body",
            "appears twice",
        ),
    ] {
        let bad = good.replacen(r#""body":null"#, &format!(r#""body":{body}"#), 1);
        assert_ne!(bad, good);
        let batch = format!(r#"{{"transactions":[{good},{bad}]}}"#);
        let response = app
            .client
            .post(app.url("/v1/transactions"))
            .bearer_auth(common::token("order-service", common::WRITE))
            .header("content-type", "application/json")
            .body(batch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{body}");
        let problem: Value = response.json().await.unwrap();
        let errors = problem["errors"].as_array().unwrap();
        assert!(
            errors.iter().any(
                |e| e["field"].as_str().is_some_and(|f| f.starts_with(field))
                    && e["message"].as_str().is_some_and(|m| m.contains(says))
            ),
            "{body}: {problem}"
        );
    }
    let report = plain_json(&app, "/v1/transactions/verify?full=true").await;
    assert_eq!(report["checked"], 1, "nothing of a refused batch is stored");
}

/// A body nested 5 000 deep does not parse (serde_json stops at 128): 400 `malformed-request`
/// (docs/API.md: JSON that does not parse is 400), wherever the deep part is and whatever
/// shape error comes before it; nothing is stored.
async fn deep_json_is_malformed(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let arrays = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
    let an_event = serde_json::to_string(&common::event(|_| {})).unwrap();
    let bodies = [
        arrays(5_000),
        objects(5_000),
        format!(r#"{{"transactions":{}}}"#, arrays(5_000)),
        format!(r#"{{"transactions":[{}]}}"#, objects(5_000)),
        format!(r#"{{"other":1,"transactions":[{}]}}"#, arrays(5_000)),
        format!(r#"{{"other":{}}}"#, objects(5_000)),
        format!(
            r#"{{"transactions":[{an_event},{{"request":{{"body":{}}}}}]}}"#,
            arrays(5_000)
        ),
    ];
    for body in bodies {
        let response = app
            .client
            .post(app.url("/v1/transactions"))
            .bearer_auth(common::token("order-service", common::WRITE))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let problem: Value = response.json().await.unwrap();
        assert_eq!(status, 400, "{}…: {problem}", &body[..40]);
        assert_eq!(problem["type"], "/problems/malformed-request", "{problem}");
    }
    let report = plain_json(&app, "/v1/transactions/verify?full=true").await;
    assert_eq!(report["checked"], 0, "nothing is stored");
}

on_both_stores!(
    every_record_reads_back,
    a_body_the_log_cannot_keep_exactly_is_refused,
    deep_json_is_malformed,
);
