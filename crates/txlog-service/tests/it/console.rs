//! The auditor console's HTTP surface: the page and its files are public, built into the binary
//! and served with a strict Content-Security-Policy; `config.json` says only what is public.

use crate::common;

use common::{log_key, Backend, TestApp, TestDb};
use platform::auth::{AuthConfig, KeyConfig};
use serde_json::{json, Value};
use txlog_service::config::ConsoleConfig;
use txlog_service::console::{content_security_policy, Console, ASSETS};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

async fn app(console: ConsoleConfig) -> TestApp {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    let mut config = common::config(&db.url, &log_key().0);
    config.console = console;
    TestApp::spawn_configured(db, config).await
}

fn assert_secure(response: &reqwest::Response, csp: &str) {
    let headers = response.headers();
    assert_eq!(headers["content-security-policy"], csp);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
}

#[tokio::test]
async fn the_page_and_every_file_are_served_without_a_token_under_a_strict_policy() {
    assert_eq!(content_security_policy(None), CSP);
    let app = app(ConsoleConfig::default()).await;
    let page = app.client.get(app.url("/console/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_secure(&page, CSP);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers()["cache-control"], "no-cache");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="/console/js/main.js"></script>"#));
    assert!(
        !html.contains("http"),
        "the page loads nothing from elsewhere"
    );
    for asset in ASSETS {
        let response = app
            .client
            .get(app.url(&format!("/console/{}", asset.path)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", asset.path);
        assert_secure(&response, CSP);
        assert_eq!(response.headers()["content-type"], asset.content_type);
        assert_eq!(response.headers()["etag"], asset.etag().as_str());
        assert_eq!(&response.bytes().await.unwrap()[..], asset.bytes);
    }
}

#[tokio::test]
async fn unchanged_files_answer_304_and_unknown_ones_404() {
    let app = app(ConsoleConfig::default()).await;
    let main = app.url("/console/js/main.js");
    let first = app.client.get(&main).send().await.unwrap();
    let etag = first.headers()["etag"].clone();
    let again = app
        .client
        .get(&main)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag);
    for missing in ["/console/js/nope.js", "/console/js/", "/console/index.htm"] {
        let response = app.client.get(app.url(missing)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{missing}");
        assert_secure(&response, CSP);
        assert_eq!(
            response.headers()["content-type"],
            platform::problem::CONTENT_TYPE
        );
    }
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/console"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 308);
    assert_eq!(bare.headers()["location"], "/console/");
}

#[tokio::test]
async fn config_json_names_the_verifier_key_and_the_api_still_needs_a_token() {
    let console = ConsoleConfig {
        oidc_client_id: None,
        verifier_key: Some(log_key().1.clone()),
    };
    let app = app(console).await;
    let response = app
        .client
        .get(app.url("/console/config.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_secure(&response, CSP);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"oidc": null, "verifier_key": log_key().1}));
    let api = app
        .client
        .get(app.url("/v1/transactions"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    let script = app.client.get(app.url("/console/js/main.js")).send().await;
    assert_eq!(script.unwrap().status(), 200);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"route="/console/{*path}""#),
        "console files share one metric label"
    );
}

/// With an OIDC client, the page learns the issuer and may call its origin (and only that).
#[tokio::test]
async fn with_an_oidc_client_the_issuer_origin_joins_connect_src() {
    let auth = AuthConfig::new(
        "TXLOG",
        "txlog-service",
        KeyConfig::Issuer("https://idp.example:8443/realms/ordersys".into()),
        common::AUDIENCE,
    );
    let console = Console::new(
        &ConsoleConfig {
            oidc_client_id: Some("txlog-console".into()),
            verifier_key: None,
        },
        &auth,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, console.router::<()>()).await });
    let response = reqwest::get(format!("http://{addr}/console/config.json"))
        .await
        .unwrap();
    let csp = CSP.replace(
        "connect-src 'self';",
        "connect-src 'self' https://idp.example:8443;",
    );
    assert_secure(&response, &csp);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "oidc": {"issuer": "https://idp.example:8443/realms/ordersys", "client_id": "txlog-console"},
            "verifier_key": null,
        })
    );
}
