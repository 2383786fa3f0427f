//! Both services against real Keycloak (Maven Central's server distribution) with the realm as
//! shipped in `deploy/keycloak/`: the relay's client-credentials token and the name it leaves in
//! `submitted_by`, a permission scope a user does not hold left out of the token (403 at the
//! API), the auditor console signing in through Keycloak's real login page, and signing-key
//! rotation following `docs/OPERATIONS.md` with zero 401s.
//!
//! `.ci/run` starts Keycloak once for the suite (`.ci/keycloak.sh start`) and sets
//! `KEYCLOAK_URL`; without it the tests fail (or, outside CI, are skipped when
//! `ORDERSYS_SKIP_MISSING=1`).

use crate::support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{free_port, log_key, postgres_url, tempdir, Service};

const REALM: &str = "ordersys";
const REALM_FILE: &str = "deploy/keycloak/ordersys-realm.json";
/// The console's origin in the console test: one of the console client's web origins in the
/// realm, since Keycloak's CORS check wants the exact origin, port included.
const CONSOLE_LISTEN: &str = "127.0.0.1:28081";
/// The service logs say when they fetched the signing keys (and how many).
const JWKS_LOG: &str = "warn,platform::auth::jwks=info";

/// Keycloak's base URL from `KEYCLOAK_URL`, checked to answer; `None` (test not run) only
/// outside CI with `ORDERSYS_SKIP_MISSING=1`.
async fn keycloak() -> Option<String> {
    let Some(url) = std::env::var("KEYCLOAK_URL").ok().filter(|u| !u.is_empty()) else {
        testkit::unavailable(
            "KEYCLOAK_URL is not set: eval \"$(bash .ci/keycloak.sh start)\" (or bash .ci/run)",
        );
        return None;
    };
    let url = url.trim_end_matches('/').to_owned();
    let discovery = format!("{url}/realms/{REALM}/.well-known/openid-configuration");
    let status = reqwest::get(&discovery)
        .await
        .unwrap_or_else(|e| panic!("Keycloak at KEYCLOAK_URL={url} does not answer: {e}"))
        .status();
    assert_eq!(status, 200, "{discovery}");
    Some(url)
}

fn issuer(keycloak: &str, realm: &str) -> String {
    format!("{keycloak}/realms/{realm}")
}

fn token_url(keycloak: &str, realm: &str) -> String {
    format!("{}/protocol/openid-connect/token", issuer(keycloak, realm))
}

/// The token endpoint's answer (status, body) to a form.
async fn token_request(keycloak: &str, realm: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(token_url(keycloak, realm))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A user's access token from the `ordersys-cli` client (password grant, demo realm only).
async fn user_token(keycloak: &str, realm: &str, user: &str, scope: &str) -> String {
    let form = [
        ("grant_type", "password"),
        ("client_id", "ordersys-cli"),
        ("username", user),
        ("password", user),
        ("scope", scope),
    ];
    let (status, body) = token_request(keycloak, realm, &form).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// The order service's own client-credentials answer for `scope`.
async fn service_token_answer(keycloak: &str, realm: &str, scope: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "order-service"),
        ("client_secret", "order-service-dev-secret"),
        ("scope", scope),
    ];
    token_request(keycloak, realm, &form).await
}

/// A JWT's header and payload (not verified: the services do that).
fn decode(token: &str) -> (Value, Value) {
    use base64::Engine;
    let part = |i: usize| -> Value {
        let text = token.split('.').nth(i).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    (part(0), part(1))
}

fn scopes(claims: &Value) -> Vec<&str> {
    claims["scope"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .collect()
}

/// Both services with the realm's issuer: orders on PostgreSQL delivering with client
/// credentials, the log on SQLite with the auditor console.
struct System {
    orders: Service,
    txlog: Service,
    /// Dropped after the services (fields drop in order).
    _orders_database: testkit::TestDatabase,
}

impl System {
    async fn start(keycloak: &str, realm: &str, txlog_listen: &str) -> Self {
        let dir = tempdir();
        let orders_database = postgres_url().await;
        let issuer = issuer(keycloak, realm);
        let txlog = Service::start(
            "txlog-service",
            vec![
                ("TXLOG_LISTEN".into(), txlog_listen.to_owned()),
                (
                    "TXLOG_DATABASE_URL".into(),
                    format!("sqlite://{}/txlog.db", dir.display()),
                ),
                ("TXLOG_AUTH_ISSUER".into(), issuer.clone()),
                ("TXLOG_AUTH_AUDIENCE".into(), "txlog-service".into()),
                ("TXLOG_SIGNING_KEY".into(), log_key().0.clone()),
                (
                    "TXLOG_CONSOLE_OIDC_CLIENT_ID".into(),
                    "ordersys-console".into(),
                ),
                ("TXLOG_CONSOLE_VERIFIER_KEY".into(), log_key().1.clone()),
                ("RUST_LOG".into(), JWKS_LOG.into()),
            ],
            &dir,
        )
        .await;
        let orders = Service::start(
            "order-service",
            vec![
                ("ORDERS_LISTEN".into(), format!("127.0.0.1:{}", free_port())),
                ("ORDERS_DATABASE_URL".into(), orders_database.url().into()),
                ("ORDERS_TXLOG_URL".into(), txlog.base.clone()),
                ("ORDERS_TXLOG_TOKEN_URL".into(), token_url(keycloak, realm)),
                ("ORDERS_TXLOG_CLIENT_ID".into(), "order-service".into()),
                (
                    "ORDERS_TXLOG_CLIENT_SECRET".into(),
                    "order-service-dev-secret".into(),
                ),
                ("ORDERS_TXLOG_SCOPE".into(), "txlog:write".into()),
                ("ORDERS_AUTH_ISSUER".into(), issuer),
                ("ORDERS_AUTH_AUDIENCE".into(), "order-service".into()),
                ("RUST_LOG".into(), JWKS_LOG.into()),
            ],
            &dir,
        )
        .await;
        Self {
            orders,
            txlog,
            _orders_database: orders_database,
        }
    }

    async fn create_order(&self, token: &str) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/orders", self.orders.base))
            .bearer_auth(token)
            .json(&json!({"currency": "EUR", "items": [
                {"sku": "SKU-1", "name": "Widget", "quantity": 2, "unit_price": 1250}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// Waits until the log holds the record of `operation` on `order_id`.
    async fn record(&self, auditor: &str, order_id: &str, operation: &str) -> Value {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let page: Value = http
                .get(format!("{}/v1/transactions", self.txlog.base))
                .query(&[("order_id", order_id), ("operation", operation)])
                .bearer_auth(auditor)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(record) = page["items"].as_array().and_then(|items| items.first()) {
                return record.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {operation} record of {order_id} in the log; see {}",
                self.orders.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn the_relay_delivers_with_client_credentials_and_the_log_names_the_client() {
    let Some(keycloak) = keycloak().await else {
        return;
    };
    let listen = format!("127.0.0.1:{}", free_port());
    let system = System::start(&keycloak, REALM, &listen).await;
    let alice = user_token(&keycloak, REALM, "alice", "orders:read orders:write").await;
    let (_, alice_claims) = decode(&alice);
    let order = system.create_order(&alice).await;
    assert_eq!(order["customer_id"], alice_claims["sub"]);
    let auditor = user_token(&keycloak, REALM, "auditor", "txlog:read").await;
    let record = system
        .record(&auditor, order["id"].as_str().unwrap(), "order.create")
        .await;
    // Keycloak's sub of the service account is a UUID; the log names the client.
    let (status, answer) = service_token_answer(&keycloak, REALM, "txlog:write").await;
    assert_eq!(status, 200, "{answer}");
    let (_, relay) = decode(answer["access_token"].as_str().unwrap());
    assert_ne!(relay["sub"], "order-service");
    assert_eq!(relay["preferred_username"], "order-service");
    assert_eq!(record["submitted_by"], "order-service");
    assert_eq!(record["actor"]["sub"], alice_claims["sub"]);
    assert_eq!(record["outcome"], "success");
}

#[tokio::test]
async fn a_permission_scope_without_its_role_is_not_granted_and_the_api_answers_403() {
    let Some(keycloak) = keycloak().await else {
        return;
    };
    let listen = format!("127.0.0.1:{}", free_port());
    let system = System::start(&keycloak, REALM, &listen).await;
    let list = |token: String| {
        let url = format!("{}/v1/transactions", system.txlog.base);
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    // The auditor holds the role: the scope is granted and the log answers.
    let auditor = user_token(&keycloak, REALM, "auditor", "txlog:read").await;
    assert!(scopes(&decode(&auditor).1).contains(&"txlog:read"));
    assert_eq!(list(auditor).await.status(), 200);
    // Alice asks for it without the role: Keycloak leaves it out, the log answers 403.
    let alice = user_token(&keycloak, REALM, "alice", "orders:read txlog:read").await;
    let (_, claims) = decode(&alice);
    assert!(scopes(&claims).contains(&"orders:read"), "{claims}");
    assert!(!scopes(&claims).contains(&"txlog:read"), "{claims}");
    let refused = list(alice).await;
    assert_eq!(refused.status(), 403);
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    // Nor does alice get orders:admin, nor the order service's client a scope it is not offered.
    let alice = user_token(&keycloak, REALM, "alice", "orders:admin").await;
    assert!(!scopes(&decode(&alice).1).contains(&"orders:admin"));
    let (status, answer) = service_token_answer(&keycloak, REALM, "txlog:read").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_scope"))
    );
}

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/txlog-service/console")
}

#[tokio::test]
async fn the_console_signs_in_through_keycloaks_login_page() {
    let Some(keycloak) = keycloak().await else {
        return;
    };
    if !Path::new("/usr/bin/chromium").exists()
        || !console_dir().join("node_modules/playwright-core").is_dir()
    {
        testkit::unavailable(
            "Chromium or playwright-core is missing: bash .ci/chromium.sh and bash .ci/console.sh",
        );
        return;
    }
    let system = System::start(&keycloak, REALM, CONSOLE_LISTEN).await;
    // Something to show: one order, delivered by the relay.
    let alice = user_token(&keycloak, REALM, "alice", "orders:read orders:write").await;
    let order = system.create_order(&alice).await;
    let auditor = user_token(&keycloak, REALM, "auditor", "txlog:read").await;
    system
        .record(&auditor, order["id"].as_str().unwrap(), "order.create")
        .await;
    let status = tokio::process::Command::new("node")
        .arg("e2e/keycloak.e2e.mjs")
        .current_dir(console_dir())
        .env("CONSOLE_URL", format!("{}/console/", system.txlog.base))
        .env("KEYCLOAK_URL", &keycloak)
        .env("ORDER_ID", order["id"].as_str().unwrap())
        .env("ARTIFACTS", console_dir().join("e2e/artifacts/keycloak"))
        .status()
        .await
        .expect("node runs");
    assert!(
        status.success(),
        "the console's sign-in through Keycloak failed"
    );
}

/// The admin REST API of the bootstrap administrator `.ci/keycloak.sh` creates.
struct Admin {
    http: reqwest::Client,
    keycloak: String,
}

impl Admin {
    fn new(keycloak: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            keycloak: keycloak.to_owned(),
        }
    }

    /// A request to `/admin/realms{path}`, with a new token each time: the master realm's
    /// tokens live 60 s, shorter than the rotation.
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let form = [
            ("grant_type", "password"),
            ("client_id", "admin-cli"),
            ("username", "admin"),
            ("password", "admin"),
        ];
        let (status, token) = token_request(&self.keycloak, "master", &form).await;
        assert_eq!(status, 200, "{token}");
        let mut request = self
            .http
            .request(
                method.clone(),
                format!("{}/admin/realms{path}", self.keycloak),
            )
            .bearer_auth(token["access_token"].as_str().unwrap());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The realm's RS256 signing keys: (kid, provider id, status).
    async fn rs256_keys(&self, realm: &str) -> Vec<(String, String, String)> {
        let keys = self
            .send(reqwest::Method::GET, &format!("/{realm}/keys"), None)
            .await;
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["algorithm"] == "RS256" && k["use"] == "SIG")
            .map(|k| {
                let field = |name: &str| k[name].as_str().unwrap().to_owned();
                (field("kid"), field("providerId"), field("status"))
            })
            .collect()
    }

    /// Sets a key provider's `active` flag (passive: still published, no longer signing).
    async fn set_active(&self, realm: &str, provider: &str, active: bool) {
        let path = format!("/{realm}/components/{provider}");
        let mut component = self.send(reqwest::Method::GET, &path, None).await;
        component["config"]["active"] = json!([active.to_string()]);
        self.send(reqwest::Method::PUT, &path, Some(component))
            .await;
    }
}

/// How many keys the service logged at each JWKS fetch so far.
fn jwks_fetches(service: &Service) -> Vec<u64> {
    let log = std::fs::read_to_string(&service.log).unwrap_or_default();
    log.lines()
        .filter(|line| line.contains("token signing keys fetched"))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|entry| field(&entry, "keys").and_then(Value::as_u64))
        .collect()
}

/// A field of a log line, wherever the JSON layout nests it.
fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map
            .get(name)
            .or_else(|| map.values().find_map(|v| field(v, name))),
        _ => None,
    }
}

/// How many requests a service answered with `status`, from its Prometheus metrics.
async fn answered(service: &Service, status: u16) -> u64 {
    let text = reqwest::get(format!("{}/metrics", service.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let label = format!("status=\"{status}\"");
    text.lines()
        .filter(|line| line.starts_with("http_requests_total{") && line.contains(&label))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum()
}

/// The documented rotation, step by step, while a client keeps calling the order service with
/// fresh tokens and the relay keeps delivering: not one 401. It runs on a copy of the shipped
/// realm under another name (access tokens living 20 s instead of 300 s), so that its keys and
/// its waiting do not disturb the other tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_as_documented_causes_no_401() {
    let Some(keycloak) = keycloak().await else {
        return;
    };
    const LIFESPAN: u64 = 20;
    let realm = format!("ordersys-rotation-{}", uuid::Uuid::now_v7().simple());
    let mut representation: Value =
        serde_json::from_str(&std::fs::read_to_string(REALM_FILE).unwrap()).unwrap();
    representation["realm"] = json!(realm);
    representation["accessTokenLifespan"] = json!(LIFESPAN);
    let admin = Admin::new(&keycloak);
    admin
        .send(reqwest::Method::POST, "", Some(representation))
        .await;
    let realm_id = admin
        .send(reqwest::Method::GET, &format!("/{realm}"), None)
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listen = format!("127.0.0.1:{}", free_port());
    let system = System::start(&keycloak, &realm, &listen).await;
    let old_keys = admin.rs256_keys(&realm).await;
    let [(old_kid, old_provider, _)] = &old_keys[..] else {
        panic!("one RS256 key expected: {old_keys:?}")
    };

    // The client: a fresh token and a call, over and over; each answer's status is counted.
    let stop = tokio_util::sync::CancellationToken::new();
    let client = {
        let (keycloak, realm, orders, stop) = (
            keycloak.clone(),
            realm.clone(),
            system.orders.base.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut statuses = Vec::new();
            let mut kids = std::collections::BTreeSet::new();
            // Signed in once; then new access tokens by refresh (no password hashing each time).
            let form = [
                ("grant_type", "password"),
                ("client_id", "ordersys-cli"),
                ("username", "alice"),
                ("password", "alice"),
                ("scope", "orders:read"),
            ];
            let (status, mut answer) = token_request(&keycloak, &realm, &form).await;
            assert_eq!(status, 200, "{answer}");
            while !stop.is_cancelled() {
                let refresh = answer["refresh_token"].as_str().unwrap().to_owned();
                let form = [
                    ("grant_type", "refresh_token"),
                    ("client_id", "ordersys-cli"),
                    ("refresh_token", refresh.as_str()),
                ];
                let (status, fresh) = token_request(&keycloak, &realm, &form).await;
                assert_eq!(status, 200, "{fresh}");
                answer = fresh;
                let token = answer["access_token"].as_str().unwrap().to_owned();
                kids.insert(decode(&token).0["kid"].as_str().unwrap().to_owned());
                let response = http
                    .get(format!("{orders}/v1/orders"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                statuses.push(response.status().as_u16());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (statuses, kids)
        })
    };
    let orders_at_start = {
        let alice = user_token(&keycloak, &realm, "alice", "orders:write").await;
        system.create_order(&alice).await
    };

    // 1. The new key, passive: published in the JWKS, signing nothing yet.
    let fetched_before = [jwks_fetches(&system.orders), jwks_fetches(&system.txlog)];
    admin
        .send(
            reqwest::Method::POST,
            &format!("/{realm}/components"),
            Some(json!({
                "name": "rsa-rotated",
                "providerId": "rsa-generated",
                "providerType": "org.keycloak.keys.KeyProvider",
                "parentId": realm_id,
                "config": {"priority": ["200"], "enabled": ["true"], "active": ["false"],
                           "algorithm": ["RS256"], "keySize": ["2048"]}
            })),
        )
        .await;
    let keys = admin.rs256_keys(&realm).await;
    let (new_kid, new_provider, status) = keys
        .iter()
        .find(|(kid, ..)| kid != old_kid)
        .cloned()
        .expect("the new key");
    assert_eq!(status, "PASSIVE");

    // 2. Wait until both services fetched the key set holding it (the JWKS refresh interval:
    //    Keycloak sends no max-age, so the services refetch every 45 s).
    let deadline = Instant::now() + Duration::from_secs(150);
    for (service, before) in [&system.orders, &system.txlog]
        .into_iter()
        .zip(fetched_before)
    {
        let had = before.last().copied().unwrap_or(0);
        while jwks_fetches(service).len() == before.len()
            || *jwks_fetches(service).last().unwrap() <= had
        {
            assert!(
                Instant::now() < deadline,
                "no JWKS refresh with the new key; see {}",
                service.log.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // 3. New key active, old key passive: new tokens are signed with the new key, tokens signed
    //    with the old one still verify.
    admin.set_active(&realm, &new_provider, true).await;
    admin.set_active(&realm, old_provider, false).await;
    let switched = Instant::now();
    let token = user_token(&keycloak, &realm, "alice", "orders:read").await;
    assert_eq!(decode(&token).0["kid"], json!(new_kid));

    // 4. Once every token signed with the old key has expired (the access-token lifespan after
    //    the switch), remove the old key.
    let expired = switched + Duration::from_secs(LIFESPAN + 1);
    tokio::time::sleep_until(expired.into()).await;
    admin
        .send(
            reqwest::Method::DELETE,
            &format!("/{realm}/components/{old_provider}"),
            None,
        )
        .await;
    assert!(admin
        .rs256_keys(&realm)
        .await
        .iter()
        .all(|(kid, ..)| kid != old_kid));

    // The relay keeps delivering (with its own token, renewed across the switch).
    let alice = user_token(&keycloak, &realm, "alice", "orders:write").await;
    let order = system.create_order(&alice).await;
    let auditor = user_token(&keycloak, &realm, "auditor", "txlog:read").await;
    let record = system
        .record(&auditor, order["id"].as_str().unwrap(), "order.create")
        .await;
    assert_eq!(record["submitted_by"], "order-service");
    system
        .record(
            &auditor,
            orders_at_start["id"].as_str().unwrap(),
            "order.create",
        )
        .await;

    stop.cancel();
    let (statuses, kids) = client.await.unwrap();
    assert!(
        kids.contains(old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(unauthorized, 0, "401s during the rotation: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(statuses.len() > 50, "only {} calls", statuses.len());
    // Neither service answered anyone a 401: not the client, not the relay's deliveries.
    assert_eq!(answered(&system.orders, 401).await, 0);
    assert_eq!(answered(&system.txlog, 401).await, 0);
    assert!(answered(&system.txlog, 200).await >= 2);
    admin
        .send(reqwest::Method::DELETE, &format!("/{realm}"), None)
        .await;
}
