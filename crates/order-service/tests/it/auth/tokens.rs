//! The HS256 service's token matrix: a missing token gets a challenge without an error code;
//! garbage, unsigned, wrongly signed, tampered, expired or not-yet-valid tokens are invalid.

use reqwest::StatusCode;
use serde_json::json;

use super::{
    accepted, assert_unauthorized, b64json, claims, hs256, list_with, now, refused, with,
    CHALLENGE, INVALID, RW,
};
use crate::support::{token, Backend, TestApp, SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_token_gets_a_challenge_without_an_error() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let good = token("alice", RW);
    let body = assert_unauthorized(
        list_with(&app, None).await,
        CHALLENGE,
        "no Authorization header",
    )
    .await;
    assert_eq!(body["detail"], "a bearer token is required");
    // Other schemes carry no bearer token: as missing (RFC 6750 section 3.1, no error code).
    for (case, value) in [
        ("Basic scheme", "Basic YWxpY2U6c2VjcmV0".to_owned()),
        ("another scheme with a valid JWT", format!("Token {good}")),
        ("the raw JWT without a scheme", good.clone()),
        ("Bearer without a token", "Bearer".to_owned()),
    ] {
        assert_unauthorized(list_with(&app, Some(&value)).await, CHALLENGE, case).await;
    }
    // Control: the same token with the Bearer scheme (case-insensitive) is accepted.
    accepted(&app, &good, "Bearer").await;
    let r = list_with(&app, Some(&format!("bearer {good}"))).await;
    assert_eq!(r.status(), StatusCode::OK, "the scheme is case-insensitive");
    // Endpoints outside /v1/ need no token.
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_unsigned_tokens_are_invalid() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for garbage in [
        "garbage",
        "a.b.c",
        "...",
        "eyJhbGciOiJIUzI1NiJ9",
        "eyJhbGciOiJIUzI1NiJ9.e30",
    ] {
        let r = app
            .http
            .get(app.url("/v1/orders"))
            .header("authorization", format!("Bearer {garbage}"))
            .send()
            .await;
        assert_unauthorized(r.unwrap(), INVALID, garbage).await;
    }
    // `alg: none`: a hand-built unsigned token with perfectly valid claims.
    let payload = b64json(&claims());
    for alg in ["none", "None", "NONE"] {
        let header = b64json(&json!({"alg": alg, "typ": "JWT"}));
        refused(
            &app,
            &format!("{header}.{payload}."),
            &format!("alg {alg}, empty signature"),
        )
        .await;
        refused(
            &app,
            &format!("{header}.{payload}"),
            &format!("alg {alg}, no signature segment"),
        )
        .await;
    }
    // `alg: none` with the signature of a genuine token attached.
    let genuine = token("alice", RW);
    let signature = genuine.rsplit('.').next().unwrap();
    let none = b64json(&json!({"alg": "none", "typ": "JWT"}));
    let genuine_payload = genuine.split('.').nth(1).unwrap();
    refused(
        &app,
        &format!("{none}.{genuine_payload}.{signature}"),
        "alg none with a real signature",
    )
    .await;
    accepted(&app, &genuine, "control: the genuine token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_and_tampered_payload_are_invalid() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let good = hs256(SECRET.as_bytes(), &claims());
    accepted(&app, &good, "control: signed with the service's secret").await;
    refused(
        &app,
        &hs256(b"another-secret-0123456789-0123456789-abcd", &claims()),
        "wrong HS256 key",
    )
    .await;
    refused(
        &app,
        &hs256(&SECRET.as_bytes()[..SECRET.len() - 1], &claims()),
        "a prefix of the secret",
    )
    .await;

    // Tampered payload: the real signature over a different payload.
    let parts: Vec<&str> = good.split('.').collect();
    for patch in [
        json!({"sub": "mallory"}),
        json!({"scope": "orders:read orders:write orders:admin"}),
        json!({"exp": now() + 86_400 * 365}),
    ] {
        let forged = b64json(&with(claims(), patch.clone()));
        refused(
            &app,
            &format!("{}.{forged}.{}", parts[0], parts[2]),
            &format!("tampered payload {patch}"),
        )
        .await;
    }
    // One flipped character in the signature, and a dropped signature.
    let mut sig = parts[2].to_owned();
    let last = sig.pop().unwrap();
    sig.push(if last == 'A' { 'B' } else { 'A' });
    refused(
        &app,
        &format!("{}.{}.{sig}", parts[0], parts[1]),
        "tampered signature",
    )
    .await;
    refused(
        &app,
        &format!("{}.{}.", parts[0], parts[1]),
        "signature removed",
    )
    .await;
    // Header switched to another HMAC algorithm, same signature.
    let hs512 = b64json(&json!({"alg": "HS512", "typ": "JWT"}));
    refused(
        &app,
        &format!("{hs512}.{}.{}", parts[1], parts[2]),
        "alg switched to HS512",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_and_not_before_allow_sixty_seconds_of_leeway() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let t = now();
    let cases = [
        (
            "expired 2 minutes ago",
            json!({"iat": t - 3600, "exp": t - 120}),
            false,
        ),
        (
            "expired an hour ago",
            json!({"iat": t - 7200, "exp": t - 3600}),
            false,
        ),
        (
            "expired 20 s ago, within the leeway",
            json!({"iat": t - 3600, "exp": t - 20}),
            true,
        ),
        ("valid from 2 minutes on", json!({"nbf": t + 120}), false),
        (
            "valid from 20 s on, within the leeway",
            json!({"nbf": t + 20}),
            true,
        ),
        ("valid since a minute ago", json!({"nbf": t - 60}), true),
        ("no exp", json!({"exp": null}), false),
        ("exp is not a number", json!({"exp": "tomorrow"}), false),
        ("no sub", json!({"sub": null}), false),
        ("empty sub", json!({"sub": ""}), false),
    ];
    for (case, patch, ok) in cases {
        let tok = hs256(SECRET.as_bytes(), &with(claims(), patch));
        if ok {
            accepted(&app, &tok, case).await;
        } else {
            refused(&app, &tok, case).await;
        }
    }
}
