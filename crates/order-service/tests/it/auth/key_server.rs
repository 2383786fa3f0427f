//! A JWKS endpoint and OIDC discovery document served by the test, which it can change, slow
//! down or stop.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONNECTION};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

/// A JWKS endpoint and an OIDC discovery document the test can change; counts JWKS fetches.
/// It can answer with `Cache-Control: max-age`, hang (`hang`), or stop listening (`stop`).
/// Every answer closes its connection, so that a stopped server is unreachable at once.
#[derive(Clone)]
pub(super) struct KeyServer {
    pub(super) base: String,
    inner: Arc<KeyServerState>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

struct KeyServerState {
    base: String,
    issuer: Mutex<String>,
    jwks: Mutex<Value>,
    max_age: Mutex<Option<u64>>,
    fetches: AtomicUsize,
    hang: AtomicBool,
    /// JWKS requests hanging right now (a request that ends, e.g. because the client gave up
    /// and closed the connection, no longer counts).
    hanging: AtomicUsize,
}

/// Counts one hanging request while it lives.
struct Hanging(Arc<KeyServerState>);

impl Hanging {
    fn new(state: Arc<KeyServerState>) -> Self {
        state.hanging.fetch_add(1, Ordering::SeqCst);
        Self(state)
    }
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.0.hanging.fetch_sub(1, Ordering::SeqCst);
    }
}

impl KeyServer {
    pub(super) async fn start(keys: Vec<Value>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(KeyServerState {
            base: base.clone(),
            issuer: Mutex::new(base.clone()),
            jwks: Mutex::new(json!({ "keys": keys })),
            max_age: Mutex::new(None),
            fetches: AtomicUsize::new(0),
            hang: AtomicBool::new(false),
            hanging: AtomicUsize::new(0),
        });
        async fn jwks(State(s): State<Arc<KeyServerState>>) -> Response {
            s.fetches.fetch_add(1, Ordering::SeqCst);
            if s.hang.load(Ordering::SeqCst) {
                let _hanging = Hanging::new(s.clone());
                std::future::pending::<()>().await;
            }
            let body = Json(s.jwks.lock().unwrap().clone());
            match *s.max_age.lock().unwrap() {
                Some(age) => ([(CACHE_CONTROL, format!("max-age={age}"))], body).into_response(),
                None => body.into_response(),
            }
        }
        async fn discovery(State(s): State<Arc<KeyServerState>>) -> Json<Value> {
            let issuer = s.issuer.lock().unwrap().clone();
            Json(json!({"issuer": issuer, "jwks_uri": format!("{}/jwks", s.base)}))
        }
        async fn close(mut response: Response) -> Response {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            response
        }
        let app = Router::new()
            .route("/jwks", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .layer(axum::middleware::map_response(close))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Self {
            base,
            inner,
            task: Arc::new(task),
        }
    }

    pub(super) fn jwks_url(&self) -> String {
        format!("{}/jwks", self.base)
    }

    pub(super) fn set_keys(&self, keys: Vec<Value>) {
        *self.inner.jwks.lock().unwrap() = json!({ "keys": keys });
    }

    pub(super) fn set_max_age(&self, secs: u64) {
        *self.inner.max_age.lock().unwrap() = Some(secs);
    }

    /// From now on, JWKS requests never get an answer.
    pub(super) fn hang(&self) {
        self.inner.hang.store(true, Ordering::SeqCst);
    }

    pub(super) fn hanging(&self) -> usize {
        self.inner.hanging.load(Ordering::SeqCst)
    }

    /// Stops listening: connections are refused from now on.
    pub(super) fn stop(&self) {
        self.task.abort();
    }

    pub(super) fn announce_issuer(&self, issuer: &str) {
        *self.inner.issuer.lock().unwrap() = issuer.to_owned();
    }

    pub(super) fn fetches(&self) -> usize {
        self.inner.fetches.load(Ordering::SeqCst)
    }
}
