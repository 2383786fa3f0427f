//! Answers that are problems whatever produced them: the normaliser, unknown paths, panics.

use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;

use crate::Problem;

/// Middleware: any error response that is not problem+json yet (from a layer, a rejection or
/// a fallback) becomes the problem of its status, keeping `Allow` and `WWW-Authenticate`.
pub async fn problem_json(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let status = response.status();
    let is_problem = response.headers().get(CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes()
            .starts_with(crate::problem::CONTENT_TYPE.as_bytes())
    });
    if status.as_u16() < 400 || is_problem {
        return response;
    }
    let mut problem = Problem::for_status(status).into_response();
    *problem.extensions_mut() = std::mem::take(response.extensions_mut());
    for name in ["allow", "www-authenticate", "retry-after"] {
        if let Some(v) = response.headers().get(name) {
            problem.headers_mut().insert(name, v.clone());
        }
    }
    problem
}

/// Fallback for unknown paths.
pub async fn not_found() -> Problem {
    Problem::not_found("no such resource")
}

/// What a panic's payload becomes: the answer of a request whose handler panicked.
pub type PanicAnswer = fn(Box<dyn std::any::Any + Send + 'static>) -> Response;

/// The panic guard of both services, built here only: a panicking handler (or layer inside
/// it) answers an opaque 500 like any other failure, and is logged at ERROR (the panic message
/// may hold data, so it goes to the log, never to the caller).
pub fn catch_panic() -> CatchPanicLayer<PanicAnswer> {
    CatchPanicLayer::custom(panic_to_problem)
}

fn panic_to_problem(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned());
    tracing::error!(error = %message, "a request handler panicked");
    Problem::internal().into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt as _;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_an_opaque_500_problem() {
        let app = Router::new()
            .route(
                "/boom",
                get(|| async { panic!("secret 42") as &'static str }),
            )
            .layer(catch_panic());
        let request = axum::http::Request::get("/boom")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            crate::problem::CONTENT_TYPE
        );
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("secret"));
    }
}
