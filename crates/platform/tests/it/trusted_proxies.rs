//! The client address behind trusted proxies (issue 28), over real loopback sockets: from a
//! trusted proxy the right-most untrusted `X-Forwarded-For` / `Forwarded` entry is the client
//! (the anonymous rate limit keeps a bucket for each, and `client_ip`, which the access log and
//! the order service's recording use, names it); from any other peer the header changes
//! nothing.

use crate::support;

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use platform::auth::{authenticate, AuthConfig, AuthState, KeyConfig, Verifier};
use platform::client_addr::TrustedProxies;
use platform::rate_limit::{Rate, RateLimit};
use platform::server::Limits;
use support::{ip, Server};

/// A server whose `/v1/private` needs a token (anonymous calls: 2 per address, then 429)
/// and whose `/whoami` answers `platform::http::client_ip`.
async fn start(trusted: &str) -> Server {
    let verifier = Verifier::new(&AuthConfig::new(
        "TEST",
        "test",
        KeyConfig::Hs256Secret("a-secret-of-at-least-32-bytes-0123456789".into()),
        "urn:test",
    ))
    .unwrap();
    let auth = AuthState::new(Arc::new(verifier)).with_rate_limit(RateLimit {
        per_caller: None,
        anonymous: Rate::per_minute(1),
    });
    let app = axum::Router::new()
        .route("/v1/private", get(|| async { "secret" }))
        .layer(from_fn_with_state(auth, authenticate))
        .route(
            "/whoami",
            get(|request: Request| async move { platform::http::client_ip(&request) }),
        );
    let limits = Limits {
        trusted_proxies: TrustedProxies::parse(trusted).unwrap(),
        ..Limits::default()
    };
    Server::start(limits, app).await
}

/// A client whose connections come from `from`.
fn client(from: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from)
        .build()
        .unwrap()
}

/// The status of an anonymous `/v1/private` call carrying `header: value`.
async fn anonymous(http: &reqwest::Client, server: &Server, header: (&str, &str)) -> u16 {
    http.get(format!("http://{}/v1/private", server.addr))
        .header(header.0, header.1)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn whoami(http: &reqwest::Client, server: &Server, header: (&str, &str)) -> String {
    http.get(format!("http://{}/whoami", server.addr))
        .header(header.0, header.1)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_address_and_bucket() {
    let server = start("127.0.0.3, 10.0.0.0/8").await;
    let proxy = client(ip("127.0.0.3"));
    // What the ingress appends is the client; what the caller wrote to its left is ignored,
    // and further trusted hops are looked past.
    let first = ("x-forwarded-for", "192.0.2.250, 198.51.100.1");
    assert_eq!(whoami(&proxy, &server, first).await, "198.51.100.1");
    let two_hops = ("x-forwarded-for", "198.51.100.2, 10.1.2.3");
    assert_eq!(whoami(&proxy, &server, two_hops).await, "198.51.100.2");
    let rfc7239 = ("forwarded", r#"for="[2001:db8::7]:4711";proto=https"#);
    assert_eq!(whoami(&proxy, &server, rfc7239).await, "2001:db8::7");

    // 198.51.100.1 spends its two anonymous calls, then is limited...
    for _ in 0..2 {
        assert_eq!(anonymous(&proxy, &server, first).await, 401);
    }
    assert_eq!(anonymous(&proxy, &server, first).await, 429);
    // ...whatever it writes to the left of what the proxy appended...
    let spoofing = ("x-forwarded-for", "203.0.113.99, 198.51.100.1");
    assert_eq!(anonymous(&proxy, &server, spoofing).await, 429);
    // ...while another client of the same proxy has a bucket of its own.
    assert_eq!(anonymous(&proxy, &server, two_hops).await, 401);
    assert_eq!(anonymous(&proxy, &server, rfc7239).await, 401);
}

#[tokio::test]
async fn from_an_untrusted_peer_a_forwarded_header_changes_nothing() {
    let server = start("10.0.0.0/8").await;
    let direct = client(ip("127.0.0.4"));
    for header in [
        ("x-forwarded-for", "198.51.100.1"),
        ("forwarded", "for=198.51.100.2"),
    ] {
        assert_eq!(whoami(&direct, &server, header).await, "127.0.0.4");
    }
    // Each call claims another client, and all draw from the peer's one bucket.
    let statuses = [
        anonymous(&direct, &server, ("x-forwarded-for", "198.51.100.1")).await,
        anonymous(&direct, &server, ("x-forwarded-for", "198.51.100.2")).await,
        anonymous(&direct, &server, ("forwarded", "for=198.51.100.3")).await,
    ];
    assert_eq!(statuses, [401, 401, 429]);
}
