//! Rate limits (SPEC section 11) over real HTTP: a caller over its `sub`'s bucket, and a client
//! address over the anonymous bucket, get 429 `/problems/rate-limited` with `Retry-After`; the
//! refused calls are recorded like every `/v1/` call (outcome `client_error`).

use crate::support;

use platform::rate_limit::{Rate, RateLimit};
use reqwest::StatusCode;
use serde_json::Value;
use support::{database_url, hs256_auth, token, Backend, Receiver, TestApp};

const RW: &str = "orders:read orders:write";

/// Per minute, so that no call is refilled while the test runs (one every 30 s for 2/m).
async fn spawn(rate_limit: RateLimit) -> TestApp {
    TestApp::spawn_limited(
        &database_url(Backend::Sqlite).await,
        hs256_auth(),
        Receiver::start().await,
        rate_limit,
    )
    .await
}

async fn list(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut request = app.http.get(app.url("/v1/orders"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

/// 429, a `Retry-After` in whole seconds within `max_secs`, and the problem body.
async fn assert_limited(r: reqwest::Response, max_secs: u64, case: &str) {
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{case}");
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{case}: Retry-After is whole seconds"));
    assert!(
        (1..=max_secs).contains(&retry_after),
        "{case}: {retry_after}"
    );
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "/problems/rate-limited", "{case}: {body}");
    assert_eq!(body["status"], 429, "{case}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_over_its_rate_gets_429_with_retry_after() {
    let app = spawn(RateLimit {
        per_caller: Rate::per_minute(2),
        anonymous: None,
    })
    .await;
    let alice = format!("Bearer {}", token("alice", RW));
    // The burst is twice the rate: 4 calls at once.
    for i in 0..4 {
        assert_eq!(
            list(&app, Some(&alice)).await.status(),
            StatusCode::OK,
            "call {i}"
        );
    }
    assert_limited(list(&app, Some(&alice)).await, 30, "alice's 5th call").await;
    // A new token for the same sub shares the bucket; another sub has its own.
    let again = format!("Bearer {}", token("alice", "orders:read"));
    assert_limited(list(&app, Some(&again)).await, 30, "alice, another token").await;
    let bob = format!("Bearer {}", token("bob", RW));
    assert_eq!(list(&app, Some(&bob)).await.status(), StatusCode::OK);
    // Anonymous calls are not limited here: still 401.
    for _ in 0..10 {
        assert_eq!(list(&app, None).await.status(), StatusCode::UNAUTHORIZED);
    }
    // Outside /v1/ nothing is limited.
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    // 4 + 2 limited + 1 + 10 calls, each recorded once; the refused ones name their caller.
    let events = app.recorded(17).await;
    let limited: Vec<&Value> = events
        .iter()
        .filter(|e| e["response"]["status"] == 429)
        .collect();
    assert_eq!(limited.len(), 2, "{events:#?}");
    for event in limited {
        assert_eq!(event["outcome"], "client_error", "{event}");
        assert_eq!(event["actor"]["sub"], "alice", "{event}");
        assert_eq!(event["request"]["path"], "/v1/orders", "{event}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_a_valid_token_are_limited_per_client_address() {
    let app = spawn(RateLimit {
        per_caller: None,
        anonymous: Rate::per_minute(2),
    })
    .await;
    // Missing and invalid tokens draw from the same bucket of this address.
    assert_eq!(list(&app, None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        list(&app, Some("Bearer garbage")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let forged = format!("Bearer {}", token("alice", RW).replace('.', ".x"));
    assert_eq!(
        list(&app, Some(&forged)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(list(&app, None).await.status(), StatusCode::UNAUTHORIZED);
    assert_limited(list(&app, None).await, 30, "5th anonymous call").await;
    assert_limited(
        list(&app, Some("Bearer garbage")).await,
        30,
        "invalid token",
    )
    .await;
    // A valid token is its caller's business, not the address's: served.
    let alice = format!("Bearer {}", token("alice", RW));
    for _ in 0..10 {
        assert_eq!(list(&app, Some(&alice)).await.status(), StatusCode::OK);
    }

    let events = app.recorded(16).await;
    let limited: Vec<&Value> = events
        .iter()
        .filter(|e| e["response"]["status"] == 429)
        .collect();
    assert_eq!(limited.len(), 2, "{events:#?}");
    for event in limited {
        assert_eq!(event["outcome"], "client_error", "{event}");
        assert_eq!(event["actor"], Value::Null, "{event}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_limits_anonymous_calls_at_20_per_second() {
    let app = spawn(RateLimit::default()).await;
    // A burst of 40, then 20 a second: 300 anonymous calls at once see 429s (unless sending
    // them took over 13 s).
    let statuses = futures::future::join_all((0..300).map(|_| list(&app, None))).await;
    let limited = statuses
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let unauthorized = statuses
        .iter()
        .filter(|r| r.status() == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(limited + unauthorized, 300);
    assert!(
        unauthorized >= 40,
        "the burst is 40: {unauthorized} answered 401"
    );
    assert!(limited > 0, "none of 300 anonymous calls was limited");
    // Callers with a valid token are not limited by default.
    let alice = format!("Bearer {}", token("alice", RW));
    let served = futures::future::join_all((0..100).map(|_| list(&app, Some(&alice)))).await;
    assert!(served.iter().all(|r| r.status() == StatusCode::OK));
}
