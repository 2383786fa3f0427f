//! Public-key PEM files: RS256, ES256 and EdDSA with the configured key only, and no HMAC
//! signed with the public key.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use platform::auth::KeyConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::keys::keypair;
use super::{accepted, auth, b64json, claims, now, refused, sign, spawn, with, RW};
use crate::support::{order_body, token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_signed_with_the_public_key_is_refused() {
    let rsa = keypair("rsa");
    let app = spawn(auth(KeyConfig::PublicKeyFile(rsa.public_path.clone()))).await;
    accepted(
        &app,
        &sign(Algorithm::RS256, None, &rsa.encoding_key(), &claims()),
        "control: RS256",
    )
    .await;

    let pem_text = String::from_utf8(rsa.public_pem.clone()).unwrap();
    let variants = [pem_text.as_str(), pem_text.trim_end(), pem_text.trim()];
    for (i, secret) in variants.into_iter().enumerate() {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let forged = sign(
                alg,
                None,
                &EncodingKey::from_secret(secret.as_bytes()),
                &claims(),
            );
            // The forgery is a well-formed HMAC token for that secret: only the service's
            // algorithm allow-list stops it.
            let mut v = Validation::new(alg);
            v.required_spec_claims.clear();
            v.validate_aud = false;
            jsonwebtoken::decode::<Value>(
                &forged,
                &DecodingKey::from_secret(secret.as_bytes()),
                &v,
            )
            .unwrap();
            refused(
                &app,
                &forged,
                &format!("{alg:?} with the public key PEM (variant {i}) as secret"),
            )
            .await;
        }
    }
}

async fn pem_mode_accepts(kind: &str, alg: Algorithm) {
    let key = keypair(kind);
    let app = spawn(auth(KeyConfig::PublicKeyFile(key.public_path.clone()))).await;
    let good = sign(alg, None, &key.encoding_key(), &claims());
    accepted(
        &app,
        &good,
        &format!("{alg:?} signed with the configured key"),
    )
    .await;
    let r = app
        .http
        .post(app.url("/v1/orders"))
        .bearer_auth(&good)
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // Same kind of key, but not the configured one.
    let other = keypair(kind);
    refused(
        &app,
        &sign(alg, None, &other.encoding_key(), &claims()),
        &format!("{alg:?} with another key"),
    )
    .await;
    // The service's own HS256 test secret means nothing here.
    refused(&app, &token("alice", RW), "HS256 on a public-key service").await;
    // Tampered payload on an asymmetric signature.
    let parts: Vec<&str> = good.split('.').collect();
    let forged = b64json(&with(claims(), json!({"sub": "mallory"})));
    refused(
        &app,
        &format!("{}.{forged}.{}", parts[0], parts[2]),
        "tampered payload",
    )
    .await;
    refused(
        &app,
        &sign(
            alg,
            None,
            &key.encoding_key(),
            &with(claims(), json!({"exp": now() - 120})),
        ),
        "expired",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_public_key_accepts_rs256() {
    pem_mode_accepts("rsa", Algorithm::RS256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec_public_key_accepts_es256() {
    pem_mode_accepts("ec", Algorithm::ES256).await;
    // An RS256 token is refused by an EC key even when correctly signed by some RSA key.
    let ec = keypair("ec");
    let rsa = keypair("rsa");
    let app = spawn(auth(KeyConfig::PublicKeyFile(ec.public_path.clone()))).await;
    refused(
        &app,
        &sign(Algorithm::RS256, None, &rsa.encoding_key(), &claims()),
        "RS256 on an EC key",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_public_key_accepts_eddsa() {
    pem_mode_accepts("ed25519", Algorithm::EdDSA).await;
}
