//! HTTP plumbing shared by both services: the JSON body extractor with precise errors, query
//! parameters, the problem+json normaliser, the access log, fallbacks and the server loop.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Query, Request};
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::json::JsonError;
use crate::Problem;

/// Largest request body the order API accepts.
pub const BODY_LIMIT: usize = 256 * 1024;

/// A JSON request body: 415 for the wrong media type, 413 when too large, 400 when the bytes
/// are not JSON, 422 naming the field when the JSON has the wrong shape.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_json_body(request).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The bytes of a JSON request body, after the media-type check (`application/json`, and
/// `application/merge-patch+json` on PATCH) and the body limit.
pub async fn read_json_body(request: Request) -> Result<Bytes, Problem> {
    let allow_merge_patch = request.method() == Method::PATCH;
    let media_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let accepted = match media_type.as_deref() {
        Some("application/json") => true,
        Some("application/merge-patch+json") => allow_merge_patch,
        _ => false,
    };
    if !accepted {
        let expected = if allow_merge_patch {
            "application/merge-patch+json or application/json"
        } else {
            "application/json"
        };
        return Err(Problem::unsupported_media_type(expected));
    }
    Bytes::from_request(request, &())
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::payload_too_large()
            } else if crate::server::is_body_timeout(&rejection) {
                crate::server::body_timeout_problem()
            } else {
                Problem::malformed("the request body could not be read")
            }
        })
}

/// Parses JSON bytes into `T`, telling malformed JSON (400) from the wrong shape (422 naming
/// the field).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    crate::json::from_slice(bytes).map_err(|e| match e {
        JsonError::NotJson(message) => Problem::malformed(message),
        JsonError::Fields(errors) => Problem::validation(errors),
    })
}

/// Query parameters parsed with serde into `T` (which should deny unknown fields): 400 saying
/// which parameter is unknown, repeated or of the wrong type.
pub fn parse_query<T: DeserializeOwned>(uri: &Uri) -> Result<T, Problem> {
    Query::<T>::try_from_uri(uri)
        .map(|Query(params)| params)
        .map_err(|e| Problem::malformed(format!("bad query parameters: {}", e.body_text())))
}

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

/// Middleware: one access line per request with a Google Cloud Logging `httpRequest` object.
pub async fn access_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let url = request.uri().path().to_owned();
    let user_agent = header_str(request.headers().get(USER_AGENT));
    let remote_ip = client_ip(&request);
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let size = axum::body::HttpBody::size_hint(response.body())
        .exact()
        .unwrap_or_default()
        .to_string();
    let http_request = json!({
        "requestMethod": method.as_str(),
        "requestUrl": url,
        "status": status,
        "latency": format!("{:.6}s", started.elapsed().as_secs_f64()),
        "userAgent": user_agent,
        "remoteIp": remote_ip,
        "responseSize": size,
    })
    .to_string();
    if status >= 500 {
        tracing::error!(target: "access", httpRequest = %http_request, "{} {} {}", method, url, status);
    } else {
        tracing::info!(target: "access", httpRequest = %http_request, "{} {} {}", method, url, status);
    }
    response
}

/// The peer address of the connection.
pub fn client_ip(request: &Request) -> String {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default()
}

pub fn header_str(value: Option<&HeaderValue>) -> String {
    value
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Serves `app` until `shutdown` is cancelled, then lets in-flight requests finish; with the
/// connection, header and body limits of [`crate::server`].
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    crate::server::serve(listener, app, shutdown).await
}

/// Probes `GET /readyz` of a service listening on `listen` (0.0.0.0 means this host); returns
/// the process exit status: 0 when ready.
pub async fn healthcheck(listen: SocketAddr) -> i32 {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build();
    let ready = match client {
        Ok(client) => client
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK),
        Err(_) => false,
    };
    i32::from(!ready)
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

#[cfg(test)]
mod parse_json_tests {
    use super::parse_json;
    use serde_json::Value;

    #[test]
    fn text_that_is_not_utf8_is_malformed_even_inside_odd_keys() {
        let raw_key = b"{\"a\": {\"$serde_json::private::RawValue\": {\"x\xf2\": 1}}}";
        let status = |bytes: &[u8]| parse_json::<Value>(bytes).unwrap_err().status.as_u16();
        assert_eq!(status(raw_key), 400);
        assert_eq!(status(b"{\"a\": \"\xf2\"}"), 400);
        assert_eq!(status(b"{\"a\": 1} \xf2"), 400);
    }
}
