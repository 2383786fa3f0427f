//! The handler timeout (SPEC section 11): a call not answered in time gets `408 timeout` and
//! is recorded with it; a write already under way is never cut off, so it is answered and
//! recorded once, with its own status. A write stuck on a lock ends at the database's statement
//! timeout (`ORDERS_DATABASE_STATEMENT_TIMEOUT`), answered 503 with `Retry-After`, and changes
//! nothing.

use crate::support;

use std::time::{Duration, Instant};

use platform::server::Limits;
use platform::serving::ServerConfig;
use serde_json::Value;
use sqlx::Connection;
use support::{database_url, hs256_auth, order_body, token, Backend, Receiver, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_stuck_on_a_row_lock_is_answered_503_at_the_statement_timeout() {
    let db = database_url(Backend::Postgres).await;
    let receiver = Receiver::start().await;
    let mut config = support::config(&db, &receiver);
    let timeout = Duration::from_millis(500);
    config.database.statement_timeout = Some(timeout);
    let app = TestApp::spawn_config(config, receiver).await;
    let alice = token("alice", "orders:read orders:write");
    let created = app
        .http
        .post(app.url("/v1/orders"))
        .bearer_auth(&alice)
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let order: Value = created.json().await.unwrap();
    let id = order["id"].as_str().unwrap().to_owned();
    let order_url = app.url(&format!("/v1/orders/{id}"));
    let patch = |notes: &str, request_id: &str| {
        app.http
            .patch(&order_url)
            .bearer_auth(&alice)
            .header("x-request-id", request_id)
            .json(&serde_json::json!({ "notes": notes }))
            // Without a statement timeout the stuck write would wait for the lock for ever.
            .timeout(Duration::from_secs(10))
            .send()
    };

    // Another session holds the order's row: a write of it waits, a read does not.
    let mut locker = sqlx::PgConnection::connect(&db).await.unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("SELECT id FROM orders WHERE id = $1::uuid FOR UPDATE")
        .bind(&id)
        .execute(&mut locker)
        .await
        .unwrap();
    let started = Instant::now();
    let stuck = patch("while locked", "stuck-write").await.unwrap();
    let took = started.elapsed();
    assert_eq!(stuck.status(), 503);
    assert!(took >= timeout, "answered before the timeout: {took:?}");
    assert!(
        took < timeout * 6,
        "answered long after the timeout: {took:?}"
    );
    assert_eq!(stuck.headers()["retry-after"], "1");
    let problem: Value = stuck.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/unavailable", "{problem}");
    let unchanged: Value = app
        .http
        .get(&order_url)
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unchanged, order, "the stuck write changed nothing");

    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    let later = patch("after the lock", "later-write").await.unwrap();
    assert_eq!(later.status(), 200);
    let changed: Value = later.json().await.unwrap();
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["notes"], "after the lock");

    // Both calls are recorded, each once, with the answer its caller got.
    let events = app.settled_events().await;
    for (request_id, status) in [("stuck-write", 503), ("later-write", 200)] {
        let of: Vec<&Value> = events
            .iter()
            .filter(|e| e["request"]["request_id"] == request_id)
            .collect();
        assert_eq!(of.len(), 1, "{request_id}: {events:#?}");
        assert_eq!(of[0]["response"]["status"], status);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_read_times_out_recorded_and_a_begun_write_finishes() {
    let url = database_url(Backend::Postgres).await;
    let server = ServerConfig {
        limits: Limits {
            request_timeout: Duration::from_millis(500),
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let app = TestApp::spawn_with(&url, hs256_auth(), Receiver::start().await, server).await;
    let alice = token("alice", "orders:read orders:write");

    // Another session holds the orders table: reads and writes of it wait.
    let mut locker = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();

    let started = Instant::now();
    let read = app
        .http
        .get(app.url("/v1/orders"))
        .bearer_auth(&alice)
        .header("x-request-id", "stuck-read")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 408);
    assert!(started.elapsed() < Duration::from_secs(5));
    let problem: Value = read.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/timeout", "{problem}");

    let write = {
        let (http, url, alice) = (app.http.clone(), app.url("/v1/orders"), alice.clone());
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(&alice)
                .header("x-request-id", "slow-write")
                .json(&order_body())
                .send()
                .await
                .unwrap()
        })
    };
    // Well past the timeout, then let the write through.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !write.is_finished(),
        "the write was answered while it could not commit"
    );
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    let written = write.await.unwrap();
    assert_eq!(written.status(), 201);

    let events = app.settled_events().await;
    let of = |request_id: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["request"]["request_id"] == request_id)
            .collect()
    };
    let read_events = of("stuck-read");
    assert_eq!(read_events.len(), 1, "{events:#?}");
    assert_eq!(read_events[0]["response"]["status"], 408);
    let write_events = of("slow-write");
    assert_eq!(write_events.len(), 1, "{events:#?}");
    assert_eq!(write_events[0]["response"]["status"], 201);
    app.stop().await;
}
