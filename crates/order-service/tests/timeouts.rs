//! The handler timeout (SPEC section 11): a call not answered in time gets `408 timeout` and
//! is recorded with it; a write already under way is never cut off, so it is answered and
//! recorded once, with its own status.

mod support;

use std::time::{Duration, Instant};

use platform::server::Limits;
use platform::serving::ServerConfig;
use serde_json::Value;
use sqlx::Connection;
use support::{database_url, hs256_auth, order_body, token, Backend, Receiver, TestApp};

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
