//! A JWKS URL: the audience checked, unknown kids refreshing the set at most once per 30 s.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use platform::auth::{Clock, KeyConfig, UNKNOWN_KID_INTERVAL};
use reqwest::StatusCode;
use serde_json::json;

use super::key_server::KeyServer;
use super::keys::keypair;
use super::{
    accepted, assert_unauthorized, auth, claims, list, now, refused, sign, spawn, with, INVALID,
};
use crate::support::{order_body, AUDIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_url_checks_the_audience() {
    let rsa = keypair("rsa");
    let server = KeyServer::start(vec![rsa.rsa_jwk("k1")]).await;
    let app = spawn(auth(KeyConfig::JwksUrl(server.jwks_url()))).await;
    let key = rsa.encoding_key();
    let good = with(claims(), json!({"aud": AUDIENCE}));
    accepted(
        &app,
        &sign(Algorithm::RS256, Some("k1"), &key, &good),
        "control",
    )
    .await;
    accepted(
        &app,
        &sign(Algorithm::RS256, None, &key, &good),
        "no kid: every key is tried",
    )
    .await;
    refused(
        &app,
        &sign(
            Algorithm::RS256,
            Some("k1"),
            &key,
            &with(good.clone(), json!({"aud": "urn:x"})),
        ),
        "wrong audience",
    )
    .await;
    refused(
        &app,
        &sign(
            Algorithm::RS256,
            Some("k1"),
            &key,
            &with(good.clone(), json!({"aud": null})),
        ),
        "missing audience",
    )
    .await;
    refused(
        &app,
        &sign(
            Algorithm::RS256,
            Some("k1"),
            &key,
            &with(good, json!({"exp": now() - 120})),
        ),
        "expired",
    )
    .await;
    assert_eq!(server.fetches(), 1, "known kids are served from the cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_refreshes_the_jwks_at_most_once_per_30_seconds() {
    let old = keypair("rsa");
    let new = keypair("rsa");
    let server = KeyServer::start(vec![old.rsa_jwk("old")]).await;
    // The key cache runs on a clock the test moves: the 30 s guard passes without waiting.
    let clock = Clock::manual();
    let app = spawn(auth(KeyConfig::JwksUrl(server.jwks_url())).with_clock(clock.clone())).await;
    assert_eq!(server.fetches(), 1, "one fetch at start-up");
    let good = with(claims(), json!({"aud": AUDIENCE}));
    let old_token = sign(Algorithm::RS256, Some("old"), &old.encoding_key(), &good);
    let new_token = sign(Algorithm::RS256, Some("new"), &new.encoding_key(), &good);
    accepted(&app, &old_token, "the published key").await;

    // The provider rotates: only the new key is published from now on.
    server.set_keys(vec![new.rsa_jwk("new")]);
    let burst = |n: usize| {
        let app = &app;
        let new = &new;
        let good = &good;
        futures::future::join_all((0..n).map(move |i| async move {
            let kid = format!("unknown-{i}-{}", uuid::Uuid::now_v7().simple());
            list(
                app,
                &sign(Algorithm::RS256, Some(&kid), &new.encoding_key(), good),
            )
            .await
        }))
    };
    // Within 30 s of the last fetch, unknown kids (the new one included) cause no fetch at all.
    for r in burst(20).await {
        assert_unauthorized(r, INVALID, "unknown kid before the refresh interval").await;
    }
    refused(&app, &new_token, "the new kid before the refresh interval").await;
    clock.advance(UNKNOWN_KID_INTERVAL - Duration::from_secs(1));
    refused(&app, &new_token, "the new kid 29 s after the fetch").await;
    assert_eq!(
        server.fetches(),
        1,
        "a burst of unknown kids within 30 s fetched the JWKS"
    );
    accepted(&app, &old_token, "the cached old key still verifies").await;

    // Once the interval has passed, a concurrent burst of unknown kids fetches exactly once.
    clock.advance(Duration::from_secs(2));
    for r in burst(20).await {
        assert_unauthorized(r, INVALID, "unknown kid after the refresh interval").await;
    }
    assert_eq!(
        server.fetches(),
        2,
        "a burst of unknown kids fetched the JWKS more than once"
    );

    // That refresh taught the service the new key: accepted without a restart, no new fetch.
    accepted(&app, &new_token, "the new kid after the refresh").await;
    let r = app
        .http
        .post(app.url("/v1/orders"))
        .bearer_auth(&new_token)
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // The old key left the set: its tokens are refused now, and asking again fetches nothing.
    refused(&app, &old_token, "the dropped kid").await;
    for r in burst(5).await {
        assert_unauthorized(r, INVALID, "unknown kid right after a refresh").await;
    }
    assert_eq!(server.fetches(), 2);
}
