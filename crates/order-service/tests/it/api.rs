//! The order API contract (SPEC sections 5 and 6) over real HTTP, on both stores.

use crate::support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{get_json, order_body, token, Backend, TestApp};

const RW: &str = "orders:read orders:write";
const ADMIN: &str = "orders:read orders:write orders:admin";

async fn create(app: &TestApp, tok: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/v1/orders"))
        .bearer_auth(tok)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn create_ok(app: &TestApp, tok: &str) -> Value {
    let r = create(app, tok, &order_body()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

async fn problem(r: reqwest::Response, status: u16, slug: &str) -> Value {
    assert_eq!(r.status().as_u16(), status);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], format!("/problems/{slug}"), "{body}");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string());
    assert!(!body["request_id"].as_str().unwrap().is_empty());
    body
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

async fn create_and_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = token("alice", RW);
    let r = create(&app, &alice, &order_body()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["etag"], "\"1\"");
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let order: Value = r.json().await.unwrap();
    let id = order["id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/orders/{id}"));
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert_eq!(order["customer_id"], "alice");
    assert_eq!(order["status"], "pending");
    assert_eq!(order["items"][0]["line_total"], 2500);
    assert_eq!(order["total"], 2500);
    assert_eq!(order["version"], 1);
    assert_eq!(order["notes"], Value::Null);
    assert_eq!(order["shipping_address"]["line2"], Value::Null);
    let created = order["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");
    let r = app
        .http
        .get(app.url(&location))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["etag"], "\"1\"");
    assert_eq!(r.json::<Value>().await.unwrap(), order);
}

async fn bad_input_gets_clear_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = token("alice", RW);
    let post = |body: &'static str, ct: &'static str| {
        app.http
            .post(app.url("/v1/orders"))
            .bearer_auth(&alice)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    problem(
        post("{not json", "application/json").await.unwrap(),
        400,
        "malformed-request",
    )
    .await;
    problem(
        post("{}", "text/plain").await.unwrap(),
        415,
        "unsupported-media-type",
    )
    .await;
    let p = problem(
        post(
            r#"{"currency":"EUR","items":[{"sku":"A","quantity":1.5,"unit_price":1}]}"#,
            "application/json",
        )
        .await
        .unwrap(),
        422,
        "validation-error",
    )
    .await;
    assert_eq!(fields(&p), ["items[0].quantity"]);
    let p = problem(
        post(
            r#"{"currency":"EUR","items":[{"sku":"A","quantity":"2","unit_price":1}]}"#,
            "application/json",
        )
        .await
        .unwrap(),
        422,
        "validation-error",
    )
    .await;
    assert_eq!(fields(&p), ["items[0].quantity"]);
    let p = problem(
        post(
            r#"{"currency":"EUR","items":[],"colour":"red"}"#,
            "application/json",
        )
        .await
        .unwrap(),
        422,
        "validation-error",
    )
    .await;
    assert_eq!(fields(&p), ["colour"]);
    let p = problem(
        post(r#"{"items":[]}"#, "application/json").await.unwrap(),
        422,
        "validation-error",
    )
    .await;
    assert_eq!(fields(&p), ["currency"]);
    let p = problem(post(r#"{"currency":"eur","items":[{"sku":"bad sku","quantity":0,"unit_price":10000000001}],"shipping_address":{"line1":"x","city":"y","country":"gbr"}}"#, "application/json").await.unwrap(), 422, "validation-error").await;
    assert_eq!(
        fields(&p),
        [
            "currency",
            "items[0].sku",
            "items[0].quantity",
            "items[0].unit_price",
            "shipping_address.country"
        ]
    );
    let huge = format!(
        r#"{{"currency":"EUR","items":[],"notes":"{}"}}"#,
        "x".repeat(300 * 1024)
    );
    let r = app
        .http
        .post(app.url("/v1/orders"))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    problem(r, 413, "payload-too-large").await;
    let r = app
        .http
        .get(app.url("/v1/orders?limit=200"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the store is untouched and still serving");
    assert_eq!(r.json::<Value>().await.unwrap()["items"], json!([]));
}

async fn not_yours_is_missing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob, admin) = (token("alice", RW), token("bob", RW), token("root", ADMIN));
    let order = create_ok(&app, &alice).await;
    let path = format!("/v1/orders/{}", order["id"].as_str().unwrap());
    let missing = format!("/v1/orders/{}", uuid::Uuid::now_v7());
    let theirs = problem(
        app.http
            .get(app.url(&path))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap(),
        404,
        "not-found",
    )
    .await;
    let absent = problem(
        app.http
            .get(app.url(&missing))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap(),
        404,
        "not-found",
    )
    .await;
    assert_eq!(
        (theirs["title"].clone(), theirs["detail"].clone()),
        (absent["title"].clone(), absent["detail"].clone())
    );
    for r in [
        app.http
            .patch(app.url(&path))
            .bearer_auth(&bob)
            .json(&json!({"notes": "mine"}))
            .send()
            .await
            .unwrap(),
        app.http
            .delete(app.url(&path))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap(),
    ] {
        problem(r, 404, "not-found").await;
    }
    assert_eq!(
        app.http
            .get(app.url(&path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    problem(
        app.http
            .get(app.url("/v1/orders/not-a-uuid"))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap(),
        400,
        "malformed-request",
    )
    .await;
    let mut for_alice = order_body();
    for_alice["customer_id"] = json!("alice");
    problem(create(&app, &bob, &for_alice).await, 403, "forbidden").await;
    let r = create(&app, &admin, &for_alice).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["customer_id"], "alice");
    let r = app
        .http
        .get(app.url("/v1/orders"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["items"], json!([]));
    let read_only = token("alice", "orders:read");
    let r = create(&app, &read_only, &order_body()).await;
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
    problem(r, 403, "forbidden").await;
}

async fn list_pages_and_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob, admin) = (token("alice", RW), token("bob", RW), token("root", ADMIN));
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            create_ok(&app, &alice).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        // Timestamps have millisecond resolution; keep the time filters unambiguous.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    create_ok(&app, &bob).await;
    ids.reverse();
    let mut seen = Vec::new();
    let mut url = app.url("/v1/orders?limit=2");
    loop {
        let page: Value = get_json(&app, &url, &alice).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => url = app.url(&format!("/v1/orders?limit=2&cursor={c}")),
            None => break,
        }
    }
    assert_eq!(seen, ids, "newest first, every order once");
    let cancelled = &ids[1];
    let r = app
        .http
        .patch(app.url(&format!("/v1/orders/{cancelled}")))
        .bearer_auth(&alice)
        .json(&json!({"status": "cancelled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page: Value = get_json(&app, app.url("/v1/orders?status=cancelled"), &alice).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["id"], cancelled.as_str());
    let all: Value = get_json(&app, app.url("/v1/orders?limit=200"), &admin).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
    let bobs: Value = get_json(&app, app.url("/v1/orders?customer_id=bob"), &admin).await;
    assert_eq!(bobs["items"].as_array().unwrap().len(), 1);
    let third: Value = get_json(&app, app.url(&format!("/v1/orders/{}", ids[2])), &alice).await;
    let at = third["created_at"].as_str().unwrap();
    let before: Value = app
        .http
        .get(app.url("/v1/orders"))
        .query(&[("created_before", at)])
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(before["items"].as_array().unwrap().len(), 2);
    let after: Value = app
        .http
        .get(app.url("/v1/orders"))
        .query(&[("created_after", at)])
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after["items"].as_array().unwrap().len(), 2);
    for bad in [
        "limit=0",
        "limit=201",
        "status=lost",
        "created_after=today",
        "cursor=%21%21",
        "sort=asc",
    ] {
        let r = app
            .http
            .get(app.url(&format!("/v1/orders?{bad}")))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap();
        problem(r, 400, "malformed-request").await;
    }
}

async fn patch_follows_the_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, admin) = (token("alice", RW), token("root", ADMIN));
    let order = create_ok(&app, &alice).await;
    let url = app.url(&format!("/v1/orders/{}", order["id"].as_str().unwrap()));
    let r = app.http.patch(&url).bearer_auth(&alice).header("content-type", "application/merge-patch+json")
        .header("if-match", "\"1\"")
        .body(r#"{"notes":"leave at door","shipping_address":{"city":"Paris"},"items":[{"sku":"B","quantity":3,"unit_price":100}]}"#)
        .send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let patched: Value = r.json().await.unwrap();
    assert_eq!(
        (
            patched["notes"].as_str(),
            patched["total"].as_i64(),
            patched["version"].as_i64()
        ),
        (Some("leave at door"), Some(300), Some(2))
    );
    assert_eq!(patched["shipping_address"]["city"], "Paris");
    assert_eq!(patched["shipping_address"]["line1"], "1 Main St");
    let stale = app
        .http
        .patch(&url)
        .bearer_auth(&alice)
        .header("if-match", "\"1\"")
        .json(&json!({"notes": "x"}))
        .send()
        .await
        .unwrap();
    problem(stale, 412, "precondition-failed").await;
    let p = problem(
        app.http
            .patch(&url)
            .bearer_auth(&alice)
            .json(&json!({"id": "x"}))
            .send()
            .await
            .unwrap(),
        422,
        "validation-error",
    )
    .await;
    assert_eq!(fields(&p), ["id"]);
    problem(
        app.http
            .patch(&url)
            .bearer_auth(&alice)
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap(),
        415,
        "unsupported-media-type",
    )
    .await;
    problem(
        app.http
            .patch(&url)
            .bearer_auth(&alice)
            .json(&json!({"status": "confirmed"}))
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    let r = app
        .http
        .patch(&url)
        .bearer_auth(&admin)
        .json(&json!({"status": "confirmed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "confirmed");
    problem(
        app.http
            .patch(&url)
            .bearer_auth(&admin)
            .json(&json!({"notes": "late"}))
            .send()
            .await
            .unwrap(),
        409,
        "conflict",
    )
    .await;
    problem(
        app.http
            .patch(&url)
            .bearer_auth(&admin)
            .json(&json!({"status": "delivered"}))
            .send()
            .await
            .unwrap(),
        409,
        "conflict",
    )
    .await;
    problem(
        app.http
            .patch(&url)
            .bearer_auth(&admin)
            .json(&json!({"status": "pending"}))
            .send()
            .await
            .unwrap(),
        409,
        "conflict",
    )
    .await;
    for (who, to) in [(&admin, "shipped"), (&admin, "delivered")] {
        let r = app
            .http
            .patch(&url)
            .bearer_auth(who)
            .json(&json!({"status": to}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{to}");
    }
    let done: Value = get_json(&app, &url, &alice).await;
    assert_eq!(
        (done["status"].as_str(), done["version"].as_i64()),
        (Some("delivered"), Some(5))
    );
    problem(
        app.http
            .patch(&url)
            .bearer_auth(&alice)
            .json(&json!({"status": "cancelled"}))
            .send()
            .await
            .unwrap(),
        409,
        "conflict",
    )
    .await;
    let other = create_ok(&app, &alice).await;
    let other_url = app.url(&format!("/v1/orders/{}", other["id"].as_str().unwrap()));
    let r = app
        .http
        .patch(&other_url)
        .bearer_auth(&alice)
        .json(&json!({"status": "cancelled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["status"],
        "cancelled",
        "the owner may cancel"
    );
}

async fn delete_follows_the_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, admin) = (token("alice", RW), token("root", ADMIN));
    let pending = create_ok(&app, &alice).await;
    let url = app.url(&format!("/v1/orders/{}", pending["id"].as_str().unwrap()));
    problem(
        app.http
            .delete(&url)
            .bearer_auth(&alice)
            .header("if-match", "\"7\"")
            .send()
            .await
            .unwrap(),
        412,
        "precondition-failed",
    )
    .await;
    let r = app
        .http
        .delete(&url)
        .bearer_auth(&alice)
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    problem(
        app.http.get(&url).bearer_auth(&alice).send().await.unwrap(),
        404,
        "not-found",
    )
    .await;
    problem(
        app.http
            .delete(&url)
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap(),
        404,
        "not-found",
    )
    .await;
    let confirmed = create_ok(&app, &alice).await;
    let url = app.url(&format!("/v1/orders/{}", confirmed["id"].as_str().unwrap()));
    app.http
        .patch(&url)
        .bearer_auth(&admin)
        .json(&json!({"status": "confirmed"}))
        .send()
        .await
        .unwrap();
    problem(
        app.http
            .delete(&url)
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap(),
        409,
        "conflict",
    )
    .await;
    assert_eq!(
        app.http
            .delete(&url)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
}

async fn idempotency_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (token("alice", RW), token("bob", RW));
    let post = |tok: &str, key: &str, body: Value| {
        app.http
            .post(app.url("/v1/orders"))
            .bearer_auth(tok)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = post(&alice, "k-1", order_body()).await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let mut reordered = serde_json::Map::new();
    for (k, v) in order_body().as_object().unwrap().iter().rev() {
        reordered.insert(k.clone(), v.clone());
    }
    let again = post(&alice, "k-1", Value::Object(reordered)).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.headers()["location"],
        format!("/v1/orders/{}", first["id"].as_str().unwrap())
    );
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let mut changed = order_body();
    changed["notes"] = json!("different");
    problem(
        post(&alice, "k-1", changed).await.unwrap(),
        422,
        "idempotency-key-mismatch",
    )
    .await;
    let bobs: Value = post(&bob, "k-1", order_body())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(bobs["id"], first["id"], "keys are scoped per caller");
    let long = "k".repeat(256);
    problem(
        post(&alice, &long, order_body()).await.unwrap(),
        400,
        "malformed-request",
    )
    .await;
    let list: Value = get_json(&app, app.url("/v1/orders"), &alice).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn problems_everywhere_and_request_ids(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = token("alice", RW);
    problem(
        app.http
            .get(app.url("/v1/nothing-here"))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap(),
        404,
        "not-found",
    )
    .await;
    problem(
        app.http.get(app.url("/nothing-here")).send().await.unwrap(),
        404,
        "not-found",
    )
    .await;
    let r = app
        .http
        .put(app.url("/v1/orders"))
        .bearer_auth(&alice)
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert!(r.headers()["allow"].to_str().unwrap().contains("POST"));
    problem(r, 405, "method-not-allowed").await;
    let r = app
        .http
        .get(app.url("/v1/orders"))
        .bearer_auth(&alice)
        .header("x-request-id", "my-req.1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "my-req.1");
    let r = app
        .http
        .get(app.url("/v1/orders"))
        .header("x-request-id", "bad id!")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "bad id!");
    let body = problem(r, 401, "unauthorized").await;
    assert_eq!(body["request_id"], id.as_str());
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = app
        .http
        .get(app.url("/healthz"))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["traceparent"]
        .to_str()
        .unwrap()
        .starts_with(&format!("00-{trace}-")));
}

async fn operational_endpoints(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let spec: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in ["/v1/orders", "/v1/orders/{id}"] {
        assert!(spec["paths"][path].is_object(), "{path}");
    }
    let docs = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.unwrap();
    assert!(
        html.contains("swagger") && !html.contains("cdn"),
        "the docs page is served locally"
    );
    create_ok(&app, &token("alice", RW)).await;
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains("http_requests_total{method=\"POST\",route=\"/v1/orders\",status=\"201\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("http_request_duration_seconds_bucket"));
}

/// JSON nested 5 000 deep does not parse (serde_json stops at 128): 400 `malformed-request`,
/// as for any text that is not JSON, even where a shape error (an unknown field, a wrong type)
/// comes before the deep part.
async fn deep_json_is_malformed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = token("alice", RW);
    let order = create_ok(&app, &alice).await;
    let id = order["id"].as_str().unwrap();
    let arrays = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let objects = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
    let bodies = [
        arrays(5_000),
        objects(5_000),
        format!(r#"{{"notes":{}}}"#, arrays(5_000)),
        format!(r#"{{"colour":"red","notes":{}}}"#, objects(5_000)),
        format!(r#"{{"currency":"EUR","items":[{}]}}"#, arrays(5_000)),
    ];
    for body in &bodies {
        let r = app
            .http
            .post(app.url("/v1/orders"))
            .bearer_auth(&alice)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        problem(r, 400, "malformed-request").await;
        let r = app
            .http
            .patch(app.url(&format!("/v1/orders/{id}")))
            .bearer_auth(&alice)
            .header("content-type", "application/merge-patch+json")
            .header("if-match", "\"1\"")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        problem(r, 400, "malformed-request").await;
    }
}

on_both_backends! {
    create_and_read => create_and_read;
    bad_input_gets_clear_errors => bad_input_gets_clear_errors;
    not_yours_is_missing => not_yours_is_missing;
    list_pages_and_filters => list_pages_and_filters;
    patch_follows_the_rules => patch_follows_the_rules;
    delete_follows_the_rules => delete_follows_the_rules;
    idempotency_keys => idempotency_keys;
    problems_everywhere_and_request_ids => problems_everywhere_and_request_ids;
    operational_endpoints => operational_endpoints;
    deep_json_is_malformed => deep_json_is_malformed;
}
