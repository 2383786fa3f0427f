//! Refused calls are recorded like any `/v1/` call, as `denied`, with no token in the record.

use reqwest::StatusCode;
use serde_json::Value;

use super::{assert_unauthorized, list, list_with, CHALLENGE, INVALID};
use crate::support::{token, Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_calls_are_recorded_as_denied() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_unauthorized(list_with(&app, None).await, CHALLENGE, "missing").await;
    assert_unauthorized(
        list_with(&app, Some("Bearer garbage")).await,
        INVALID,
        "garbage",
    )
    .await;
    assert_eq!(
        list(&app, &token("carol", "")).await.status(),
        StatusCode::FORBIDDEN
    );
    let events = app.recorded(3).await;
    let mut statuses: Vec<u64> = events
        .iter()
        .map(|e| e["response"]["status"].as_u64().unwrap())
        .collect();
    statuses.sort();
    assert_eq!(statuses, [401, 401, 403], "{events:#?}");
    for event in &events {
        assert!(
            matches!(event["operation"].as_str(), Some("order.list" | "request")),
            "{event}"
        );
        assert_eq!(event["outcome"], "denied", "{event}");
        assert_eq!(event["request"]["method"], "GET", "{event}");
        assert_eq!(event["request"]["path"], "/v1/orders", "{event}");
        match event["response"]["status"].as_u64() {
            Some(401) => assert_eq!(event["actor"], Value::Null, "{event}"),
            _ => assert_eq!(event["actor"]["sub"], "carol", "{event}"),
        }
    }
    // No token ever reaches the record.
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("garbage"), "{text}");
}
