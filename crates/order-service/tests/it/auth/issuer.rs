//! OIDC issuer discovery: issuer and audience checked, a trailing slash the same issuer.

use jsonwebtoken::Algorithm;
use platform::auth::KeyConfig;
use serde_json::{json, Value};

use super::key_server::KeyServer;
use super::keys::keypair;
use super::{accepted, auth, claims, hs256, refused, sign, spawn, with};
use crate::support::AUDIENCE;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_and_audience_are_checked() {
    let rsa = keypair("rsa");
    let server = KeyServer::start(vec![rsa.rsa_jwk("k1")]).await;
    let issuer = server.base.clone();
    let app = spawn(auth(KeyConfig::Issuer(issuer.clone()))).await;
    let key = rsa.encoding_key();
    let good = with(claims(), json!({"iss": issuer, "aud": AUDIENCE}));
    let rs = |claims: &Value| sign(Algorithm::RS256, Some("k1"), &key, claims);

    accepted(&app, &rs(&good), "control: right issuer and audience").await;
    accepted(
        &app,
        &rs(&with(good.clone(), json!({"aud": ["urn:other", AUDIENCE]}))),
        "audience in a list",
    )
    .await;
    refused(
        &app,
        &rs(&with(good.clone(), json!({"iss": "http://evil.example"}))),
        "wrong issuer",
    )
    .await;
    refused(
        &app,
        &rs(&with(
            good.clone(),
            json!({"iss": format!("{issuer}/evil")}),
        )),
        "issuer with a suffix",
    )
    .await;
    refused(
        &app,
        &rs(&with(good.clone(), json!({"iss": null}))),
        "missing issuer",
    )
    .await;
    refused(
        &app,
        &rs(&with(
            good.clone(),
            json!({"aud": "urn:ordersys:txlog-service"}),
        )),
        "wrong audience",
    )
    .await;
    refused(
        &app,
        &rs(&with(good.clone(), json!({"aud": ["urn:a", "urn:b"]}))),
        "audience list without ours",
    )
    .await;
    refused(
        &app,
        &rs(&with(good.clone(), json!({"aud": null}))),
        "missing audience",
    )
    .await;
    refused(
        &app,
        &sign(
            Algorithm::RS256,
            None,
            &key,
            &with(good.clone(), json!({"aud": null})),
        ),
        "missing audience, no kid",
    )
    .await;
    // HS256 signed with the RSA public key of the JWKS: refused like any HMAC on an RSA key.
    refused(
        &app,
        &hs256(&rsa.public_pem, &good),
        "HS256 with the JWKS key as secret",
    )
    .await;
    refused(
        &app,
        &sign(
            Algorithm::RS256,
            Some("k1"),
            &keypair("rsa").encoding_key(),
            &good,
        ),
        "kid k1, another key",
    )
    .await;
}

/// Auth0 issuers end with `/` (`https://tenant.auth0.com/`); the configured issuer is stored
/// without it (as `ORDERS_AUTH_ISSUER` is read), and tokens naming the slashed form still verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_with_a_trailing_slash_is_the_same_issuer() {
    let rsa = keypair("rsa");
    let server = KeyServer::start(vec![rsa.rsa_jwk("k1")]).await;
    let slashed = format!("{}/", server.base);
    server.announce_issuer(&slashed);
    let app = spawn(auth(KeyConfig::Issuer(server.base.clone()))).await;
    let key = rsa.encoding_key();
    let good = with(claims(), json!({"iss": slashed, "aud": AUDIENCE}));
    accepted(
        &app,
        &sign(Algorithm::RS256, Some("k1"), &key, &good),
        "iss with a trailing slash",
    )
    .await;
    let plain = with(good.clone(), json!({"iss": server.base}));
    accepted(
        &app,
        &sign(Algorithm::RS256, Some("k1"), &key, &plain),
        "iss without it",
    )
    .await;
    let other = with(good, json!({"iss": format!("{}//", server.base)}));
    refused(
        &app,
        &sign(Algorithm::RS256, Some("k1"), &key, &other),
        "two slashes",
    )
    .await;
}
