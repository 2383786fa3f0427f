//! The HTTP contract over real HTTP with real JWTs: authentication and scopes, method and
//! validation errors, query parameters, and the operational endpoints.

use crate::common;

use common::{event, events, token, Backend, TestApp, READ, WRITE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn app() -> TestApp {
    TestApp::spawn(Backend::Sqlite)
        .await
        .expect("SQLite needs nothing installed")
}

async fn problem(response: reqwest::Response, status: u16, slug: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], format!("/problems/{slug}"));
    assert_eq!(body["status"], status);
    body
}

#[tokio::test]
async fn tokens_are_required_and_checked() {
    let app = app().await;
    let missing = app
        .client
        .get(app.url("/v1/transactions"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        missing.headers()["www-authenticate"],
        "Bearer realm=\"txlog-service\""
    );
    problem(missing, 401, "unauthorized").await;

    let forged = app
        .client
        .get(app.url("/v1/transactions"))
        .bearer_auth(format!("{}x", token("a", READ)))
        .send()
        .await
        .unwrap();
    assert!(forged.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"invalid_token\""));
    problem(forged, 401, "unauthorized").await;

    let unknown_path = app.client.get(app.url("/v1/nothing")).send().await.unwrap();
    problem(unknown_path, 401, "unauthorized").await;
}

#[tokio::test]
async fn scopes_are_enforced() {
    let app = app().await;
    let reader_appends = app
        .client
        .post(app.url("/v1/transactions"))
        .bearer_auth(token("auditor", READ))
        .json(&json!({"transactions": events(1)}))
        .send()
        .await
        .unwrap();
    assert!(reader_appends.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
    problem(reader_appends, 403, "forbidden").await;
    for path in [
        "/v1/transactions",
        "/v1/transactions/verify",
        "/v1/transactions/0192f8a4-0000-7000-8000-000000000001",
    ] {
        let writer_reads = app
            .client
            .get(app.url(path))
            .bearer_auth(token("order-service", WRITE))
            .send()
            .await
            .unwrap();
        problem(writer_reads, 403, "forbidden").await;
    }
    assert_eq!(
        app.get_json("/v1/transactions").await["items"],
        json!([]),
        "nothing was stored by the 403"
    );
}

#[tokio::test]
async fn records_cannot_be_changed_or_removed_over_http() {
    let app = app().await;
    let id = app.append(&events(1)).await[0]["transaction_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let paths = [
        "/v1/transactions".to_owned(),
        format!("/v1/transactions/{id}"),
        "/v1/transactions/verify".to_owned(),
        "/v1/transactions/a/b".to_owned(),
    ];
    for path in &paths {
        for method in [Method::PUT, Method::PATCH, Method::DELETE] {
            let caller = token("admin", &format!("{READ} {WRITE}"));
            let response = app
                .client
                .request(method.clone(), app.url(path))
                .bearer_auth(caller)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert!(response.headers().contains_key("allow"), "{method} {path}");
            problem(response, 405, "method-not-allowed").await;
        }
    }
    assert_eq!(app.verify().await["checked"], 1);
}

#[tokio::test]
async fn bad_bodies_are_refused_and_store_nothing() {
    let app = app().await;
    let post = |body: Vec<u8>, content_type: &'static str| {
        app.client
            .post(app.url("/v1/transactions"))
            .bearer_auth(token("order-service", WRITE))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    problem(
        post(b"{not json".to_vec(), "application/json")
            .await
            .unwrap(),
        400,
        "malformed-request",
    )
    .await;
    problem(
        post(b"{}".to_vec(), "text/plain").await.unwrap(),
        415,
        "unsupported-media-type",
    )
    .await;
    let wrong_shape = problem(
        post(br#"{"transactions": 3}"#.to_vec(), "application/json")
            .await
            .unwrap(),
        422,
        "validation-error",
    )
    .await;
    assert_eq!(wrong_shape["errors"][0]["field"], "transactions");
    let extra = problem(
        post(
            br#"{"transactions": [], "x": 1}"#.to_vec(),
            "application/json",
        )
        .await
        .unwrap(),
        422,
        "validation-error",
    )
    .await;
    assert_eq!(extra["errors"][0]["field"], "x");
    let empty = problem(app.post_batch(&[]).await, 422, "validation-error").await;
    assert_eq!(empty["errors"][0]["field"], "transactions");

    let mut batch = events(3);
    batch[1]["request"]["method"] = json!(5);
    batch[2]["surprise"] = json!(true);
    let invalid = problem(app.post_batch(&batch).await, 422, "validation-error").await;
    let fields: Vec<&str> = invalid["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["transactions[1].request.method", "transactions[2].surprise"]
    );

    let huge = vec![b' '; common_body_limit() + 1];
    problem(
        post(huge, "application/json").await.unwrap(),
        413,
        "payload-too-large",
    )
    .await;
    assert_eq!(app.verify().await["checked"], 0);
}

fn common_body_limit() -> usize {
    txlog_service::api::BATCH_BODY_LIMIT
}

#[tokio::test]
async fn a_large_batch_is_accepted() {
    let app = app().await;
    let big = "x".repeat(30 * 1024);
    let batch: Vec<Value> = (0..1000)
        .map(|_| event(|e| e["response"]["body"] = json!({"blob": big})))
        .collect();
    let results = app.append(&batch).await;
    assert_eq!(results.len(), 1000);
    assert_eq!(results[999]["seq"], 999);
}

#[tokio::test]
async fn query_parameters_are_checked() {
    let app = app().await;
    app.append(&events(2)).await;
    for query in [
        "limit=0",
        "limit=501",
        "limit=x",
        "order=up",
        "from=yesterday",
        "to=2026-13-01T00:00:00Z",
        "outcome=fine",
        "cursor=%21%21",
        "cursor=LTE",
        "colour=red",
        "limit=5&limit=6",
    ] {
        let response = app.get(&format!("/v1/transactions?{query}")).await;
        problem(response, 400, "malformed-request").await;
    }
    problem(
        app.get("/v1/transactions/not-a-uuid").await,
        400,
        "malformed-request",
    )
    .await;
    problem(
        app.get("/v1/transactions/0192f8a4-0000-7000-8000-000000000001")
            .await,
        404,
        "not-found",
    )
    .await;
    let page = app.get_json("/v1/transactions?limit=1&order=asc").await;
    let next = page["next_cursor"].as_str().unwrap();
    assert_eq!(
        app.get_json(&format!("/v1/transactions?limit=1&order=asc&cursor={next}"))
            .await["items"][0]["seq"],
        1
    );
}

#[tokio::test]
async fn operational_endpoints_answer_without_a_token() {
    let app = app().await;
    app.append(&events(3)).await;
    let get = |path: &'static str| app.client.get(app.url(path)).send();
    assert_eq!(
        get("/healthz")
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap(),
        json!({"status": "ok"})
    );
    assert_eq!(get("/readyz").await.unwrap().status(), StatusCode::OK);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    for series in [
        "txlog_records_appended_total",
        "txlog_duplicates_total",
        "txlog_chain_head_seq",
        "http_requests_total",
    ] {
        assert!(metrics.contains(series), "{series} missing from /metrics");
    }
    let openapi: Value = get("/openapi.json").await.unwrap().json().await.unwrap();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/transactions",
        "/v1/transactions/{transaction_id}",
        "/v1/transactions/verify",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} undocumented");
    }
    assert_eq!(
        openapi["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for schema in [
        "Batch",
        "BatchResult",
        "Record",
        "RecordPage",
        "VerifyReport",
        "Problem",
    ] {
        assert!(
            openapi["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
    let docs = get("/docs/").await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
    problem(get("/nowhere").await.unwrap(), 404, "not-found").await;
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let Some(app) = TestApp::spawn(Backend::Mongo).await else {
        return;
    };
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let TestApp {
        addr, db, client, ..
    } = app;
    drop(db);
    let response = client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    problem(response, 503, "unavailable").await;
}

/// A full walk reads the whole database: each replica allows a few a minute, then answers 429
/// with `Retry-After`, while the incremental check stays available.
#[tokio::test]
async fn full_walks_are_rate_limited() {
    let app = app().await;
    app.append(&events(2)).await;
    let mut refused = None;
    for _ in 0..20 {
        let response = app
            .client
            .get(app.url("/v1/transactions/verify?full=true"))
            .bearer_auth(token("auditor", READ))
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), 200);
    }
    let refused = refused.expect("a 429 within 20 full walks");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    problem(refused, 429, "rate-limited").await;
    assert_eq!(app.verify().await["valid"], true);
    let bad = app
        .client
        .get(app.url("/v1/transactions/verify?full=maybe"))
        .bearer_auth(token("auditor", READ))
        .send()
        .await
        .unwrap();
    problem(bad, 400, "malformed-request").await;
}
