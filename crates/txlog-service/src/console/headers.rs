//! The console's response headers: a strict Content-Security-Policy (nothing inline, nothing
//! from elsewhere but the identity provider's endpoints), no sniffing, no framing, no referrer.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// Assets keep their names from release to release: the browser asks again each time (a 304
/// when unchanged, by `ETag`).
pub const REVALIDATE: &str = "no-cache";

/// The policy: scripts and styles from the console only, data calls to this service and (when
/// the console signs in by OIDC) to the issuer's origin.
pub fn content_security_policy(issuer: Option<&str>) -> String {
    let mut connect = "'self'".to_owned();
    if let Some(origin) = issuer.and_then(origin_of) {
        connect.push(' ');
        connect.push_str(&origin);
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src {connect}; \
         img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let origin = parsed.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// Middleware: the console's security headers on every answer under `/console`.
pub async fn secure(State(csp): State<Arc<str>>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    let fixed = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static(REVALIDATE));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_origin_alone_joins_connect_src() {
        let csp = content_security_policy(Some("https://idp.example:8443/realms/ordersys"));
        assert!(csp.contains("connect-src 'self' https://idp.example:8443;"));
        assert!(content_security_policy(None).contains("connect-src 'self';"));
        assert!(content_security_policy(Some("not a url")).contains("connect-src 'self';"));
        assert!(csp.starts_with("default-src 'none'; script-src 'self'; style-src 'self';"));
    }
}
