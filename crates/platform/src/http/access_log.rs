//! The access log, and who is calling.

use std::time::Instant;

use axum::extract::Request;
use axum::http::header::USER_AGENT;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

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

/// The client address as text ([`crate::client_addr::client_addr`]: through trusted proxies),
/// empty when unknown.
pub fn client_ip(request: &Request) -> String {
    crate::client_addr::client_addr(request)
        .map(|ip| ip.to_string())
        .unwrap_or_default()
}

pub fn header_str(value: Option<&HeaderValue>) -> String {
    value
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
