//! Answers that are problems whatever produced them: the normaliser, unknown paths, panics.

use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

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

/// For `CatchPanicLayer`: a panicking handler answers an opaque 500 and is logged at ERROR
/// (the panic message may hold data, so it goes to the log, never to the caller).
pub fn panic_to_problem(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned());
    tracing::error!(error = %message, "a request handler panicked");
    Problem::internal().into_response()
}
