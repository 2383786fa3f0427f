//! A missing scope answers 403 naming it; every scope claim shape grants scopes.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{hs256, list, now, with};
use crate::support::{order_body, token, Backend, TestApp, AUDIENCE, SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_scope_is_forbidden() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let reader = token("alice", "orders:read");
    let r = app
        .http
        .post(app.url("/v1/orders"))
        .bearer_auth(&reader)
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.headers()["www-authenticate"],
        r#"Bearer realm="order-service", error="insufficient_scope", scope="orders:write""#
    );
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "/problems/forbidden", "{body}");
    assert_eq!(body["status"], 403);

    let nobody = token("alice", "");
    let r = list(&app, &nobody).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.headers()["www-authenticate"],
        r#"Bearer realm="order-service", error="insufficient_scope", scope="orders:read""#
    );
    assert_eq!(
        r.json::<Value>().await.unwrap()["type"],
        "/problems/forbidden"
    );

    // Nothing was created by the refused POST.
    let page: Value = list(&app, &reader).await.json().await.unwrap();
    assert_eq!(page["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scope_claim_shape_grants_scopes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let shapes = |read: &str, write: &str| {
        let both = format!("{read} {write}");
        vec![
            ("scope string", json!({"scope": both})),
            ("scp array (Okta)", json!({"scp": [read, write]})),
            ("scp string", json!({"scp": both})),
            ("roles array", json!({"roles": [read, write]})),
            (
                "realm_access.roles (Keycloak)",
                json!({"realm_access": {"roles": [read, write]}}),
            ),
        ]
    };
    for (case, patch) in shapes("orders:read", "orders:write") {
        let tok = hs256(
            SECRET.as_bytes(),
            &with(
                json!({"sub": "shape-user", "aud": AUDIENCE, "exp": now() + 600}),
                patch,
            ),
        );
        let r = app
            .http
            .post(app.url("/v1/orders"))
            .bearer_auth(&tok)
            .json(&order_body())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{case}: orders:write");
        let r = list(&app, &tok).await;
        assert_eq!(r.status(), StatusCode::OK, "{case}: orders:read");
    }
    // Control: the same shapes with other words grant nothing.
    for (case, patch) in shapes("profile", "email") {
        let tok = hs256(
            SECRET.as_bytes(),
            &with(
                json!({"sub": "shape-user", "aud": AUDIENCE, "exp": now() + 600}),
                patch,
            ),
        );
        assert_eq!(
            list(&app, &tok).await.status(),
            StatusCode::FORBIDDEN,
            "{case}"
        );
    }
    // Scopes from several shapes add up.
    let mixed = with(
        json!({"sub": "mixed", "aud": AUDIENCE, "exp": now() + 600}),
        json!({"scp": "orders:read", "realm_access": {"roles": ["orders:write"]}}),
    );
    let tok = hs256(SECRET.as_bytes(), &mixed);
    let r = app
        .http
        .post(app.url("/v1/orders"))
        .bearer_auth(&tok)
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "scp + realm_access.roles");
}
