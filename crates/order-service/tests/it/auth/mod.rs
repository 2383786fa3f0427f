//! The auth attack matrix (SPEC section 4) over real HTTP against the real order service: every
//! refused token answers 401 with the exact `WWW-Authenticate` challenge and a problem body;
//! a missing scope answers 403. Keys are generated at test time with `openssl`; JWKS and OIDC
//! discovery are served by a small axum server the test controls.

mod issuer;
mod jwks;
mod key_cache;
mod key_server;
mod keys;
mod pem;
mod recorded;
mod scopes;
mod strict_claims;
mod tokens;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::auth::{AuthConfig, KeyConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{database_url, Backend, Receiver, TestApp, AUDIENCE};
use keys::KeyPair;

const CHALLENGE: &str = r#"Bearer realm="order-service""#;
const INVALID: &str = r#"Bearer realm="order-service", error="invalid_token""#;
const RW: &str = "orders:read orders:write";

// Tokens, the service, and what a refusal looks like.

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Valid claims for `alice` with read and write scopes, for one hour.
fn claims() -> Value {
    json!({"sub": "alice", "aud": AUDIENCE, "scope": RW, "iat": now(), "exp": now() + 3600})
}

fn with(mut claims: Value, patch: Value) -> Value {
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let header = Header {
        kid: kid.map(str::to_owned),
        ..Header::new(alg)
    };
    jsonwebtoken::encode(&header, claims, key).expect("sign a token")
}

/// The standard claims signed with RS256 by `key`, under `kid`.
fn rs256(key: &KeyPair, kid: &str) -> String {
    sign(Algorithm::RS256, Some(kid), &key.encoding_key(), &claims())
}

fn hs256(secret: &[u8], claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(secret),
        claims,
    )
}

fn b64json(v: &Value) -> String {
    B64.encode(serde_json::to_vec(v).unwrap())
}

async fn spawn(auth: AuthConfig) -> TestApp {
    TestApp::spawn_on(
        &database_url(Backend::Sqlite).await,
        auth,
        Receiver::start().await,
    )
    .await
}

fn auth(keys: KeyConfig) -> AuthConfig {
    AuthConfig::new("ORDERS", order_service::api::REALM, keys, AUDIENCE)
}

/// `GET /v1/orders` with this raw `Authorization` header (or none).
async fn list_with(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(app.url("/v1/orders"));
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    req.send().await.unwrap()
}

async fn list(app: &TestApp, token: &str) -> reqwest::Response {
    list_with(app, Some(&format!("Bearer {token}"))).await
}

/// 401, exactly this challenge, and an `unauthorized` problem body.
async fn assert_unauthorized(r: reqwest::Response, challenge: &str, case: &str) -> Value {
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{case}");
    let www: Vec<_> = r.headers().get_all("www-authenticate").iter().collect();
    assert_eq!(www.len(), 1, "{case}: one challenge");
    assert_eq!(www[0], challenge, "{case}");
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "{case}"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "/problems/unauthorized", "{case}: {body}");
    assert_eq!(body["status"], 401, "{case}: {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{case}: {body}"
    );
    body
}

async fn refused(app: &TestApp, token: &str, case: &str) {
    assert_unauthorized(list(app, token).await, INVALID, case).await;
}

async fn accepted(app: &TestApp, token: &str, case: &str) {
    let r = list(app, token).await;
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{case}: {body}");
}
