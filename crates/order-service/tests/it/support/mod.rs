//! Test support: the real order service on port 0 against a real database, a capturing
//! transaction-log receiver, and tokens.
#![allow(dead_code)]

pub mod oidc;
pub mod receiver;

use std::net::SocketAddr;

use order_service::outbox::TxlogAuth;
use order_service::store::Store;
use order_service::{Application, Config};
use platform::auth::{AuthConfig, KeyConfig};
use platform::rate_limit::RateLimit;
use tokio_util::sync::CancellationToken;

pub use receiver::Receiver;

pub const SECRET: &str = "test-secret-0123456789-0123456789-abcdef";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database for one test: its URL, and for PostgreSQL the guard that drops it
/// when the test ends. Use it as a `&str` (`&db`); keep it alive as long as the test uses it.
pub struct Database {
    url: String,
    _dropped_with: Option<testkit::TestDatabase>,
}

impl std::ops::Deref for Database {
    type Target = str;
    fn deref(&self) -> &str {
        &self.url
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

pub async fn database_url(backend: Backend) -> Database {
    match backend {
        Backend::Sqlite => {
            let dir = tempdir();
            Database {
                url: format!("sqlite://{}/orders.db", dir.display()),
                _dropped_with: None,
            }
        }
        Backend::Postgres => {
            let admin = testkit::postgres_admin_url();
            let db = testkit::TestDatabase::create(&admin, "ordersys_test")
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL is required for this test ({admin}): {e}"));
            Database {
                url: db.url().to_owned(),
                _dropped_with: Some(db),
            }
        }
    }
}

/// A new directory under the system temp dir, kept for post-mortems.
pub fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ordersys-test-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// The `aud` the order service expects in tests.
pub const AUDIENCE: &str = "urn:ordersys:order-service";

pub fn hs256_auth() -> AuthConfig {
    AuthConfig::new(
        "ORDERS",
        order_service::api::REALM,
        KeyConfig::Hs256Secret(SECRET.into()),
        AUDIENCE,
    )
}

/// A token signed with the test secret.
pub fn token(sub: &str, scopes: &str) -> String {
    platform::auth::dev::sign_hs256(SECRET, AUDIENCE, sub, scopes, 3600)
}

/// The tests' configuration: port 0, HS256 tokens, no rate limits, delivering to `receiver`.
pub fn config(database_url: &str, receiver: &Receiver) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: database_url.to_owned(),
        database: Default::default(),
        txlog_url: receiver.base.clone(),
        txlog_auth: TxlogAuth::Static("delivery-token".into()),
        auth: hs256_auth(),
        server: Default::default(),
        rate_limit: RateLimit::off(),
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    pub store: Store,
    pub receiver: Receiver,
    pub database_url: String,
    /// The database `spawn` created, dropped after the service stops.
    database: Option<Database>,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// The service on a fresh database, delivering to a capturing receiver.
    pub async fn spawn(backend: Backend) -> Self {
        let database = database_url(backend).await;
        let mut app = Self::spawn_on(&database, hs256_auth(), Receiver::start().await).await;
        app.database = Some(database);
        app
    }

    /// Without rate limits: tests call in bursts (see `spawn_limited`).
    pub async fn spawn_on(database_url: &str, auth: AuthConfig, receiver: Receiver) -> Self {
        Self::spawn_full(
            database_url,
            auth,
            receiver,
            Default::default(),
            RateLimit::off(),
        )
        .await
    }

    /// [`TestApp::spawn_on`] with these listener settings (limits, shutdown delay…).
    pub async fn spawn_with(
        database_url: &str,
        auth: AuthConfig,
        receiver: Receiver,
        server: platform::serving::ServerConfig,
    ) -> Self {
        Self::spawn_full(database_url, auth, receiver, server, RateLimit::off()).await
    }

    /// [`TestApp::spawn_on`] with these rate limits.
    pub async fn spawn_limited(
        database_url: &str,
        auth: AuthConfig,
        receiver: Receiver,
        rate_limit: RateLimit,
    ) -> Self {
        Self::spawn_full(database_url, auth, receiver, Default::default(), rate_limit).await
    }

    async fn spawn_full(
        database_url: &str,
        auth: AuthConfig,
        receiver: Receiver,
        server: platform::serving::ServerConfig,
        rate_limit: RateLimit,
    ) -> Self {
        let config = Config {
            auth,
            server,
            rate_limit,
            ..config(database_url, &receiver)
        };
        Self::spawn_config(config, receiver).await
    }

    /// The service with this configuration (see [`config`]), delivering to `receiver`.
    pub async fn spawn_config(config: Config, receiver: Receiver) -> Self {
        let database_url = config.database_url.clone();
        let app = Application::build(config)
            .await
            .expect("the order service builds");
        let addr = app.local_addr();
        let store = app.store();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run(shutdown.clone()));
        Self {
            addr,
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            store,
            receiver,
            database_url,
            database: None,
            shutdown,
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the service gracefully (relay drained).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await
                .expect("the service task")
                .expect("the service stops cleanly");
        }
    }

    /// Waits until the receiver holds `n` events (or panics after 20 s).
    /// Every event received once the outbox is empty: an event leaves the outbox only when
    /// the log acknowledged it, so nothing more can arrive.
    pub async fn settled_events(&self) -> Vec<serde_json::Value> {
        for _ in 0..600 {
            if self.store.outbox.backlog().await.unwrap().events == 0 {
                self.receiver.assert_all_valid();
                return self.receiver.events();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the outbox never emptied");
    }

    /// The first `n` recorded events, once delivered; every batch so far passed the
    /// transaction log's own validation (the contract between the services).
    pub async fn recorded(&self, n: usize) -> Vec<serde_json::Value> {
        let events = self.receiver.wait_for(n).await;
        self.receiver.assert_all_valid();
        events
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A minimal valid order body.
pub fn order_body() -> serde_json::Value {
    serde_json::json!({
        "currency": "EUR",
        "items": [{"sku": "SKU-1", "name": "Widget", "quantity": 2, "unit_price": 1250}],
        "shipping_address": {"name": "A. Lovelace", "line1": "1 Main St", "city": "London", "postal_code": "N1", "country": "GB"}
    })
}

/// Runs an async test body once per backend, each on its own runtime.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => $body:ident;)*) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$body($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$body($crate::support::Backend::Postgres).await
                }
            )*
        }
    };
}

/// `GET url` with a bearer token, answered with JSON.
pub async fn get_json(app: &TestApp, url: impl reqwest::IntoUrl, token: &str) -> serde_json::Value {
    app.http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
