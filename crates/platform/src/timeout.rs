//! The handler timeout: a request not answered within [`Limits::request_timeout`] gets
//! `408 /problems/timeout` (SPEC section 11).
//!
//! What the timeout cancels matters. Dropping a handler is safe while it only reads or waits;
//! dropping it while it writes could leave a change committed without its answer (and, in
//! the order service, the call recorded twice: once with the write, once as a 408) or an
//! idempotency key claimed for nothing. So a handler marks the moment it starts changing
//! state with [`begin_write`]; from then on the timeout does not cancel it: the layer waits
//! for the handler's own answer, which is sent and recorded as usual, and logs a warning. A
//! write is bounded by its database's own timeouts instead.
//!
//! The layer polls the handler in place (the request already runs in a task of its own, see
//! [`crate::server`]), so a handler is never running while the layer decides: when the
//! deadline passes and no write has begun, the handler is dropped at the await it was
//! waiting on, and it can no longer begin one.
//!
//! [`Limits::request_timeout`]: crate::server::Limits::request_timeout

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Problem;

tokio::task_local! {
    static WRITING: Arc<AtomicBool>;
}

/// Which requests count as writes from their start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    /// Handlers call [`begin_write`] before they change anything; until then any request may
    /// be cancelled.
    Marked,
    /// Every method but GET, HEAD and OPTIONS writes from its start and is never cancelled
    /// (for handlers that do not mark their writes).
    UnsafeMethods,
}

/// The layer's settings.
#[derive(Debug, Clone, Copy)]
pub struct HandlerTimeout {
    pub after: Duration,
    pub writes: Writes,
}

/// Marks the current request as changing state: the handler timeout will no longer cancel
/// it. Outside a request under [`layer`] it does nothing.
pub fn begin_write() {
    let _ = WRITING.try_with(|writing| writing.store(true, Ordering::Release));
}

/// Middleware: the handler timeout. Put it inside any middleware that must see the 408 (the
/// order service's call recording).
pub async fn layer(
    State(settings): State<HandlerTimeout>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let writing = Arc::new(AtomicBool::new(
        settings.writes == Writes::UnsafeMethods && !safe,
    ));
    let handler = WRITING.scope(writing.clone(), next.run(request));
    tokio::pin!(handler);
    tokio::select! {
        response = handler.as_mut() => return response,
        () = tokio::time::sleep(settings.after) => {}
    }
    if !writing.load(Ordering::Acquire) {
        metrics::counter!("http_request_timeouts_total").increment(1);
        tracing::warn!(
            timeout = ?settings.after,
            "a request was not answered in time; cancelled before it changed anything"
        );
        return Problem::timeout(format!(
            "the request was not answered within {} s; nothing was changed",
            settings.after.as_secs_f64()
        ))
        .into_response();
    }
    tracing::warn!(
        timeout = ?settings.after,
        "a write is taking longer than the request timeout; waiting for it to finish"
    );
    handler.await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::{get, post};
    use axum::Router;
    use std::sync::atomic::AtomicUsize;
    use tower::ServiceExt;

    fn app(writes: Writes, done: Arc<AtomicUsize>) -> Router {
        let slow_read = || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        };
        let done2 = done.clone();
        let marked_write = move || {
            let done = done2.clone();
            async move {
                begin_write();
                tokio::time::sleep(Duration::from_millis(300)).await;
                done.fetch_add(1, Ordering::SeqCst);
                "written"
            }
        };
        let unmarked_write = move || {
            let done = done.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                done.fetch_add(1, Ordering::SeqCst);
                "written"
            }
        };
        Router::new()
            .route("/read", get(slow_read))
            .route("/marked", post(marked_write))
            .route("/unmarked", post(unmarked_write))
            .layer(axum::middleware::from_fn_with_state(
                HandlerTimeout {
                    after: Duration::from_millis(100),
                    writes,
                },
                layer,
            ))
    }

    async fn call(app: &Router, method: Method, path: &str) -> (u16, String) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn reads_time_out_and_begun_writes_finish() {
        let done = Arc::new(AtomicUsize::new(0));
        let marked = app(Writes::Marked, done.clone());
        let (status, body) = call(&marked, Method::GET, "/read").await;
        assert_eq!(status, 408);
        assert!(body.contains("/problems/timeout"), "{body}");
        assert_eq!(call(&marked, Method::POST, "/marked").await.0, 200);
        assert_eq!(done.load(Ordering::SeqCst), 1);
        // Not marked: cancelled before it finished, so it never counted.
        assert_eq!(call(&marked, Method::POST, "/unmarked").await.0, 408);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(done.load(Ordering::SeqCst), 1);

        let by_method = app(Writes::UnsafeMethods, done.clone());
        assert_eq!(call(&by_method, Method::POST, "/unmarked").await.0, 200);
        assert_eq!(done.load(Ordering::SeqCst), 2);
        assert_eq!(call(&by_method, Method::GET, "/read").await.0, 408);
    }
}
