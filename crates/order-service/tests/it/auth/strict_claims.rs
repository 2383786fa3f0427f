//! Strict tokens in every mode (SPEC section 11): `aud` always checked, `nbf` only a number.

use jsonwebtoken::Algorithm;
use platform::auth::{AuthConfig, KeyConfig};
use serde_json::{json, Value};

use super::key_server::KeyServer;
use super::keys::keypair;
use super::{accepted, auth, claims, hs256, now, refused, sign, spawn, with};
use crate::support::{self, Backend, TestApp, SECRET};

/// `aud` is checked whatever verifies the signature: an HS256 secret, a public-key PEM, a
/// JWKS URL or an issuer. A token without it, or for another audience, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_aud_is_refused_in_every_mode() {
    let rsa = keypair("rsa");
    let server = KeyServer::start(vec![rsa.rsa_jwk("k1")]).await;
    let issuer_claims = with(claims(), json!({"iss": server.base}));
    let rs = |claims: &Value| sign(Algorithm::RS256, Some("k1"), &rsa.encoding_key(), claims);
    let hs = |claims: &Value| hs256(SECRET.as_bytes(), claims);
    type Signer<'a> = &'a dyn Fn(&Value) -> String;
    let modes: Vec<(&str, AuthConfig, Value, Signer)> = vec![
        ("HS256 secret", support::hs256_auth(), claims(), &hs),
        (
            "public-key PEM",
            auth(KeyConfig::PublicKeyFile(rsa.public_path.clone())),
            claims(),
            &rs,
        ),
        (
            "JWKS URL",
            auth(KeyConfig::JwksUrl(server.jwks_url())),
            claims(),
            &rs,
        ),
        (
            "issuer",
            auth(KeyConfig::Issuer(server.base.clone())),
            issuer_claims,
            &rs,
        ),
    ];
    for (mode, config, good, sign_with) in modes {
        let app = spawn(config).await;
        accepted(&app, &sign_with(&good), &format!("{mode}: control")).await;
        for (case, patch) in [
            ("no aud", json!({"aud": null})),
            (
                "another service's aud",
                json!({"aud": "urn:ordersys:txlog-service"}),
            ),
            ("an empty aud list", json!({"aud": []})),
            ("an empty aud", json!({"aud": ""})),
        ] {
            refused(
                &app,
                &sign_with(&with(good.clone(), patch)),
                &format!("{mode}: {case}"),
            )
            .await;
        }
    }
}

/// CVE-2026-25537: jsonwebtoken before 10.3 skipped the `nbf` check when `nbf` was a string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nbf_as_a_string_is_refused() {
    let rsa = keypair("rsa");
    let hs_app = TestApp::spawn(Backend::Sqlite).await;
    let pem_app = spawn(auth(KeyConfig::PublicKeyFile(rsa.public_path.clone()))).await;
    let later = now() + 10 * 365 * 86_400;
    for nbf in [
        json!(later.to_string()),
        json!((now() - 600).to_string()),
        json!(""),
    ] {
        let claims = with(claims(), json!({ "nbf": nbf }));
        refused(
            &hs_app,
            &hs256(SECRET.as_bytes(), &claims),
            &format!("HS256, nbf {nbf}"),
        )
        .await;
        refused(
            &pem_app,
            &sign(Algorithm::RS256, None, &rsa.encoding_key(), &claims),
            &format!("RS256, nbf {nbf}"),
        )
        .await;
    }
    // Control: a numeric nbf in the past is fine.
    let past = with(claims(), json!({"nbf": now() - 600}));
    accepted(&hs_app, &hs256(SECRET.as_bytes(), &past), "numeric nbf").await;
}
