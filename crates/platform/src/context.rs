//! Per-request context: the request id (`X-Request-Id`) and W3C trace context (`traceparent`).
//! The middleware stores it in the request extensions and a task-local, so that problem bodies
//! and log lines can carry it without threading it through every call.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// Identity of one request as seen by logs, problems and recorded transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub request_id: String,
    /// 32 lowercase hex digits: the caller's trace if it sent `traceparent`, else a new one.
    pub trace_id: String,
    /// The span id of this request (16 hex digits).
    pub span_id: String,
    /// Trace flags from the caller, `01` (sampled) by default.
    pub flags: String,
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

/// Whether spans leave the process (OTLP): set once by `telemetry::init`.
static SPANS_EXPORTED: AtomicBool = AtomicBool::new(false);

/// Called by `telemetry::init` once spans are exported: from then on a request's span
/// continues its caller's trace, and the context carries the span's own ids.
pub(crate) fn spans_exported() {
    SPANS_EXPORTED.store(true, Ordering::Relaxed);
}

/// Makes `span` continue the W3C trace named by `traceparent` (when spans are exported), and
/// returns the span's own trace and span ids (None when nothing is exported).
fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) -> Option<(String, String)> {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if !SPANS_EXPORTED.load(Ordering::Relaxed) {
        return None;
    }
    if let Some(tp) = traceparent {
        let carrier = std::collections::HashMap::from([("traceparent".to_owned(), tp.to_owned())]);
        let parent =
            opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&carrier);
        let _ = span.set_parent(parent);
    }
    let context = span.context();
    let sc = context.span().span_context().clone();
    sc.is_valid()
        .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
}

impl RequestContext {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let request_id = headers
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|id| is_valid_request_id(id))
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let parent = headers
            .get(TRACEPARENT_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_traceparent);
        let (trace_id, flags) = parent.unwrap_or_else(|| (random_hex(16), "01".to_owned()));
        Self {
            request_id,
            trace_id,
            span_id: random_hex(8),
            flags,
        }
    }

    /// The `traceparent` value that continues this trace in a downstream call.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.span_id, self.flags)
    }
}

/// `[A-Za-z0-9._-]{1,128}`
pub fn is_valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Parses `00-<32 hex>-<16 hex>-<2 hex>`; returns the trace id and the flags.
pub fn parse_traceparent(value: &str) -> Option<(String, String)> {
    let mut parts = value.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && trace != "0".repeat(32)
        && hex(parent, 16)
        && parent != "0".repeat(16)
        && hex(flags, 2)
        && (version != "00" || parts.next().is_none());
    valid.then(|| (trace.to_owned(), flags.to_owned()))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The request id of the request being served by this task, if any.
pub fn current_request_id() -> Option<String> {
    CURRENT.try_with(|c| c.request_id.clone()).ok()
}

/// The context of the request being served by this task, if any.
pub fn current() -> Option<RequestContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `fut` with `ctx` as the current request context.
pub async fn scope<F: std::future::Future>(ctx: RequestContext, fut: F) -> F::Output {
    CURRENT.scope(ctx, fut).await
}

impl RequestContext {
    /// A context for work that is not a request (the relay's delivery), continuing the trace
    /// of `traceparent` when given, inside `span`.
    pub fn for_span(span: &tracing::Span, traceparent: Option<&str>) -> Self {
        let parent = traceparent.and_then(parse_traceparent);
        let (trace_id, flags) = parent.unwrap_or_else(|| (random_hex(16), "01".to_owned()));
        let mut ctx = Self {
            request_id: uuid::Uuid::now_v7().to_string(),
            trace_id,
            span_id: random_hex(8),
            flags,
        };
        if let Some((trace_id, span_id)) = continue_trace(span, traceparent) {
            ctx.trace_id = trace_id;
            ctx.span_id = span_id;
        }
        ctx
    }
}

/// Middleware: establishes the context and the request's span (continuing the caller's W3C
/// trace), and echoes `X-Request-Id` and `traceparent`.
pub async fn middleware(mut request: Request, next: Next) -> Response {
    use tracing::Instrument;
    let mut ctx = RequestContext::from_headers(request.headers());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    let span = tracing::info_span!(
        "request",
        otel.name = %format!("{} {route}", request.method()),
        otel.kind = "server",
        http.request.method = %request.method(),
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        request_id = %ctx.request_id,
    );
    let incoming = request
        .headers()
        .get(TRACEPARENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| parse_traceparent(v).is_some());
    if let Some((trace_id, span_id)) = continue_trace(&span, incoming) {
        ctx.trace_id = trace_id;
        ctx.span_id = span_id;
    }
    request.extensions_mut().insert(ctx.clone());
    let mut response = scope(ctx.clone(), next.run(request))
        .instrument(span.clone())
        .await;
    span.record("http.response.status_code", response.status().as_u16());
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&ctx.request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    if let Ok(value) = HeaderValue::from_str(&ctx.traceparent()) {
        headers.insert(TRACEPARENT_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_checked() {
        assert!(is_valid_request_id("abc-123_x.y"));
        assert!(!is_valid_request_id(""));
        assert!(!is_valid_request_id("a b"));
        assert!(!is_valid_request_id(&"a".repeat(129)));
    }

    #[test]
    fn traceparent_is_parsed_strictly() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse_traceparent(tp),
            Some(("4bf92f3577b34da6a3ce929d0e0e4736".into(), "01".into()))
        );
        assert_eq!(
            parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(
            parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(parse_traceparent("garbage"), None);
    }
}
