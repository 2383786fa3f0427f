//! The answer of a call that may succeed later (503 `unavailable`): the database is away or too
//! slow, or the call could not be recorded. It always carries `Retry-After`, so that clients
//! and proxies back off instead of retrying at once.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use platform::Problem;

/// Seconds a caller is asked to wait: long enough for a pool to reconnect or a database to
/// restart, short enough that a client's retry budget is not spent waiting.
pub const RETRY_AFTER_SECS: u32 = 1;

/// `problem` (a 503) with `Retry-After`.
pub fn response(problem: Problem) -> Response {
    let mut response = problem.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}
