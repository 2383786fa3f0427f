//! The key cache when the identity provider misbehaves: cached keys keep serving while it
//! hangs or is gone, keys refreshed in the background, a key rotated out stops verifying.

use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use platform::auth::{Clock, KeyConfig, UNKNOWN_KID_INTERVAL};

use super::key_server::KeyServer;
use super::keys::keypair;
use super::{accepted, auth, claims, refused, rs256, sign, spawn};

/// The provider hangs, then cannot be reached at all: requests whose `kid` is cached are served
/// all along, without waiting for the fetch in flight; one fetch at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_keep_serving_while_the_provider_hangs_or_is_unreachable() {
    let rsa = keypair("rsa");
    let server = KeyServer::start(vec![rsa.rsa_jwk("k1")]).await;
    let clock = Clock::manual();
    let app = spawn(auth(KeyConfig::JwksUrl(server.jwks_url())).with_clock(clock.clone())).await;
    let key = rsa.encoding_key();
    let good = sign(Algorithm::RS256, Some("k1"), &key, &claims());
    let unknown = sign(Algorithm::RS256, Some("k2"), &key, &claims());
    accepted(&app, &good, "control").await;
    assert_eq!(server.fetches(), 1);

    // The provider starts hanging, and the keys come due: the background refresh starts and
    // gets no answer.
    server.hang();
    clock.advance(Duration::from_secs(3600));
    eventually("the background refresh is hanging", || {
        server.hanging() == 1
    })
    .await;

    // While that fetch hangs, cached kids are served, and an unknown kid is refused without
    // a second fetch (the last one started less than 30 s ago).
    for i in 0..20 {
        accepted(
            &app,
            &good,
            &format!("cached kid while the provider hangs ({i})"),
        )
        .await;
    }
    refused(&app, &unknown, "unknown kid while the provider hangs").await;
    assert_eq!(
        server.hanging(),
        1,
        "the fetch is still in flight: the requests above did not wait for it"
    );
    assert_eq!(server.fetches(), 2, "one fetch at a time");

    // The hanging fetch times out (the client gives up and closes the connection); the cached
    // key still verifies afterwards.
    eventually("the hanging fetch is given up", || server.hanging() == 0).await;
    accepted(&app, &good, "cached kid after a failed fetch").await;

    // The provider is gone: connections are refused. An unknown kid past the 30 s guard waits
    // for a fetch, which fails at once; the cached key keeps verifying.
    server.stop();
    clock.advance(UNKNOWN_KID_INTERVAL + Duration::from_secs(1));
    refused(
        &app,
        &unknown,
        "unknown kid while the provider is unreachable",
    )
    .await;
    for i in 0..5 {
        accepted(&app, &good, &format!("cached kid while unreachable ({i})")).await;
    }
    assert_eq!(server.fetches(), 2, "no fetch reached the stopped server");
}

/// Keys are fetched again in the background before they expire (`Cache-Control: max-age`), so
/// a key the provider adds is known before any token names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_refreshed_in_the_background_before_they_expire() {
    let old = keypair("rsa");
    let new = keypair("rsa");
    let server = KeyServer::start(vec![old.rsa_jwk("old")]).await;
    server.set_max_age(120);
    let clock = Clock::manual();
    let app = spawn(auth(KeyConfig::JwksUrl(server.jwks_url())).with_clock(clock.clone())).await;
    assert_eq!(server.fetches(), 1);
    server.set_keys(vec![old.rsa_jwk("old"), new.rsa_jwk("new")]);

    // Three quarters of max-age (90 s) later the background task fetches again, unprompted.
    clock.advance(Duration::from_secs(91));
    eventually("the background refresh", || server.fetches() == 2).await;
    let new_token = rs256(&new, "new");
    let old_token = rs256(&old, "old");
    accepted(&app, &new_token, "the added key, learnt in the background").await;
    accepted(&app, &old_token, "the key still published").await;
    assert_eq!(server.fetches(), 2, "no request had to fetch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_out_stops_verifying_tokens_already_remembered() {
    let old = keypair("rsa");
    let new = keypair("rsa");
    let server = KeyServer::start(vec![old.rsa_jwk("old")]).await;
    server.set_max_age(120);
    let clock = Clock::manual();
    let app = spawn(auth(KeyConfig::JwksUrl(server.jwks_url())).with_clock(clock.clone())).await;
    let old_token = rs256(&old, "old");
    // Verified, then answered from the verified-token cache.
    accepted(&app, &old_token, "the published key").await;
    accepted(&app, &old_token, "the published key, remembered").await;

    // The provider rotates the old key out; the background refresh learns it.
    server.set_keys(vec![new.rsa_jwk("new")]);
    clock.advance(Duration::from_secs(91));
    eventually("the background refresh", || server.fetches() == 2).await;
    refused(&app, &old_token, "a remembered token of a key rotated out").await;
    let new_token = rs256(&new, "new");
    accepted(&app, &new_token, "the new key").await;
}

/// Polls `condition` every 20 ms for up to 10 s; panics with `what` if it never holds.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
