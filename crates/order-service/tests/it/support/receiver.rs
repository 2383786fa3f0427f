//! A stand-in transaction log: accepts `POST /v1/transactions`, keeps every event (deduplicated
//! by `event_id`, like the real one), and can be switched down to answer 503.
//!
//! It is also the contract test between the services: every batch goes through the real
//! transaction log's validation (`txlog_service::api::validate`), and one it refuses is
//! answered 422 as the log would, kept, and reported by `wait_for` and `assert_all_valid`.
//! Tests can also make it refuse one call's event on purpose ([`Receiver::refuse`]), as the
//! real log refuses a batch holding an invalid event: the whole batch, with 422.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Default)]
struct Inner {
    events: Mutex<Vec<Value>>,
    seen: Mutex<HashMap<String, u64>>,
    down: AtomicBool,
    batches: Mutex<Vec<usize>>,
    tokens: Mutex<Vec<String>>,
    refused: Mutex<Vec<String>>,
    /// Request ids whose events are refused on purpose.
    poison: Mutex<Vec<String>>,
    /// Batches refused on purpose.
    poisoned: Mutex<usize>,
}

#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    inner: Arc<Inner>,
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/v1/transactions", post(accept))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, inner }
    }

    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
    }

    /// Every distinct event received, in arrival order.
    pub fn events(&self) -> Vec<Value> {
        self.inner.events.lock().unwrap().clone()
    }

    /// Refuses, with 422, every batch holding the event of the call with this request id.
    pub fn refuse(&self, request_id: &str) {
        self.inner
            .poison
            .lock()
            .unwrap()
            .push(request_id.to_owned());
    }

    /// How many batches were refused because of [`Receiver::refuse`].
    pub fn poisoned_batches(&self) -> usize {
        *self.inner.poisoned.lock().unwrap()
    }

    pub fn batch_sizes(&self) -> Vec<usize> {
        self.inner.batches.lock().unwrap().clone()
    }

    /// The transaction log's validation accepted every batch received.
    pub fn assert_all_valid(&self) {
        let refused = self.inner.refused.lock().unwrap();
        assert!(
            refused.is_empty(),
            "the transaction log would refuse events the order service sent: {refused:?}"
        );
    }

    pub fn bearer_tokens(&self) -> Vec<String> {
        self.inner.tokens.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..400 {
            let events = self.events();
            if events.len() >= n {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.assert_all_valid();
        panic!("expected {n} recorded events, got {}", self.events().len());
    }
}

async fn accept(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if inner.down.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"title": "down"})),
        );
    }
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        inner.tokens.lock().unwrap().push(auth.to_owned());
    }
    let events = body["transactions"].as_array().cloned().unwrap_or_default();
    let poison = inner.poison.lock().unwrap().clone();
    if let Some(i) = events.iter().position(|e| {
        e["request"]["request_id"]
            .as_str()
            .is_some_and(|id| poison.iter().any(|p| p == id))
    }) {
        *inner.poisoned.lock().unwrap() += 1;
        let field = format!("transactions[{i}].request.request_id");
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(
                json!({"detail": "refused on purpose", "errors": [{"field": field, "message": "poison"}]}),
            ),
        );
    }
    if let Err(problem) = txlog_service::api::validate::batch(events.clone()) {
        let refusal = json!({"detail": problem.detail, "errors": problem.errors});
        inner.refused.lock().unwrap().push(refusal.to_string());
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(refusal));
    }
    inner.batches.lock().unwrap().push(events.len());
    let mut results = Vec::new();
    let mut seen = inner.seen.lock().unwrap();
    let mut stored = inner.events.lock().unwrap();
    for event in events {
        let id = event["event_id"].as_str().unwrap_or_default().to_owned();
        let next = seen.len() as u64;
        let (seq, duplicate) = match seen.get(&id) {
            Some(seq) => (*seq, true),
            None => {
                seen.insert(id.clone(), next);
                stored.push(event);
                (next, false)
            }
        };
        results.push(json!({"event_id": id, "transaction_id": uuid::Uuid::now_v7(), "seq": seq, "duplicate": duplicate}));
    }
    (StatusCode::OK, Json(json!({"results": results})))
}
