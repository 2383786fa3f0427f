//! The order service against a real OpenID Connect provider (npm's oidc-provider, started from
//! `tests/oidc`): discovery, client-credentials tokens, audience checks, ownership between two
//! callers, and signing-key rotation picked up without a restart.

use crate::support;

use std::time::Duration;

use platform::auth::{AuthConfig, Clock, KeyConfig, UNKNOWN_KID_INTERVAL};
use reqwest::StatusCode;
use serde_json::Value;
use support::oidc::{OidcProvider, AUDIENCE};
use support::{database_url, order_body, Backend, Receiver, TestApp};

const RW: &str = "orders:read orders:write";

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("a JWS header")
        .kid
        .expect("a kid")
}

async fn list(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .get(app.url("/v1/orders"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn assert_invalid_token(r: reqwest::Response) {
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["www-authenticate"],
        r#"Bearer realm="order-service", error="invalid_token""#
    );
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "/problems/unauthorized", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_a_real_provider_work_across_key_rotation() {
    let Some(idp) = OidcProvider::start() else {
        return;
    };
    // The key cache runs on a clock the test moves, so that passing the 30 s refresh guard
    // takes no time.
    let clock = Clock::manual();
    let auth = AuthConfig::new(
        "ORDERS",
        order_service::api::REALM,
        KeyConfig::Issuer(idp.issuer.clone()),
        AUDIENCE,
    )
    .with_clock(clock.clone());
    let app = TestApp::spawn_on(
        &database_url(Backend::Sqlite).await,
        auth,
        Receiver::start().await,
    )
    .await;
    // The service fetched the keys while starting; the next refresh is allowed 30 s later.

    // A client-credentials token: an RS256 JWT whose audience is the order service.
    let token = idp.token("ordersys-test", RW, AUDIENCE).await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let first_kid = kid_of(&token);

    let r = app
        .http
        .post(app.url("/v1/orders"))
        .bearer_auth(&token)
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let order: Value = r.json().await.unwrap();
    assert_eq!(
        order["customer_id"], "ordersys-test",
        "the caller is the token's sub"
    );
    let r = list(&app, &token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["items"][0]["id"], order["id"]);

    // Same provider, same key, another audience: refused.
    let txlog_token = idp
        .token("ordersys-test", RW, "urn:ordersys:txlog-service")
        .await;
    assert_eq!(kid_of(&txlog_token), first_kid);
    assert_invalid_token(list(&app, &txlog_token).await).await;

    // Two customers: b cannot see a's order, exactly as if it did not exist.
    let a = idp.token("customer-a", RW, AUDIENCE).await;
    let b = idp.token("customer-b", RW, AUDIENCE).await;
    let r = app
        .http
        .post(app.url("/v1/orders"))
        .bearer_auth(&a)
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let a_order: Value = r.json().await.unwrap();
    assert_eq!(a_order["customer_id"], "customer-a");
    let path = format!("/v1/orders/{}", a_order["id"].as_str().unwrap());
    let r = app
        .http
        .get(app.url(&path))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .http
        .get(app.url(&path))
        .bearer_auth(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "/problems/not-found", "{body}");
    let page: Value = list(&app, &b).await.json().await.unwrap();
    assert_eq!(
        page["items"],
        serde_json::json!([]),
        "b lists none of a's orders"
    );

    // The provider rotates its signing key and stops publishing the old one.
    let new_kid = idp.rotate(true).await;
    assert_ne!(new_kid, first_kid);
    let rotated = idp.token("customer-a", RW, AUDIENCE).await;
    assert_eq!(
        kid_of(&rotated),
        new_kid,
        "tokens are now signed with the new key"
    );

    // Within 30 s of the last fetch the new kid is unknown, and asking fetches nothing.
    assert_invalid_token(list(&app, &rotated).await).await;
    // The service learns the new key by itself (no restart): once the 30 s guard has passed,
    // the unknown kid refreshes the key set.
    clock.advance(UNKNOWN_KID_INTERVAL + Duration::from_secs(1));
    let r = list(&app, &rotated).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the rotated key after the refresh"
    );
    let page: Value = r.json().await.unwrap();
    assert_eq!(
        page["items"][0]["id"], a_order["id"],
        "same caller, same orders"
    );
    let r = app
        .http
        .post(app.url("/v1/orders"))
        .bearer_auth(&rotated)
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // The old key is gone from the refreshed set: tokens signed with it are refused now.
    assert_invalid_token(list(&app, &a).await).await;
    assert!(
        !idp.stderr().contains("server_error"),
        "provider errors: {}",
        idp.stderr()
    );
    app.stop().await;
}
