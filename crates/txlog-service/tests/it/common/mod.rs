//! Test harness: the real application on port 0 with real HS256 JWTs, on SQLite in a temp dir
//! or on a FerretDB (MongoDB wire protocol) server started for the test and prepared with
//! `txlog-service setup`, as an operator would (collection, unique and query indexes).
#![allow(dead_code)]

pub mod ferretdb;
pub mod mongo;
pub mod oidc;
pub mod process;
pub mod tamper;
pub mod witness;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use platform::auth::{AuthConfig, KeyConfig};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use txlog_audit::{AuditArgs, AuditError};
use txlog_service::transparency::checkpoint;
use txlog_service::transparency::{LogKey, TreeHead};
use txlog_service::{Application, Config};
use uuid::Uuid;

pub use ferretdb::FerretDb;

/// One test per store for each named `async fn(Backend)`: `sqlite::name` and `mongo::name`,
/// on a multi-threaded runtime (2 worker threads unless given).
#[macro_export]
macro_rules! on_both_stores {
    (threads = $threads:literal; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod mongo {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
            async fn $name() { super::$name(super::Backend::Mongo).await })*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_both_stores!(threads = 2; $($name),*);
    };
}

pub const SECRET: &str = "test-secret-0123456789abcdef-0123456789";
pub const WRITE: &str = "txlog:write";
pub const READ: &str = "txlog:read";

/// The log origin the tests sign checkpoints for.
pub const ORIGIN: &str = "ordersys/txlog-test";

/// One checkpoint signing key pair for the whole test process: (private, verifier).
pub fn log_key() -> &'static (String, String) {
    static KEY: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    KEY.get_or_init(|| LogKey::generate(ORIGIN).unwrap())
}

/// The `aud` the transaction log expects in tests.
pub const AUDIENCE: &str = "urn:ordersys:txlog-service";

pub fn auth_config() -> AuthConfig {
    AuthConfig::new(
        "TXLOG",
        txlog_service::api::REALM,
        KeyConfig::Hs256Secret(SECRET.to_owned()),
        AUDIENCE,
    )
}

/// A signed token for `sub` with these scopes, valid for an hour.
pub fn token(sub: &str, scopes: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims =
        json!({"sub": sub, "aud": AUDIENCE, "scope": scopes, "iat": now, "exp": now + 3600});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Mongo,
}

/// A store for one test: a SQLite file in a temp dir, or a fresh FerretDB server.
pub struct TestDb {
    pub url: String,
    pub dir: TempDir,
    pub mongo: Option<FerretDb>,
}

impl TestDb {
    /// `None` only outside CI when FerretDB is not installed.
    pub fn new(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("data/txlog.db").display());
                Some(TestDb {
                    url,
                    dir,
                    mongo: None,
                })
            }
            Backend::Mongo => {
                let server = FerretDb::start(dir.path())?;
                let url = server.url();
                setup(&url);
                Some(TestDb {
                    url,
                    dir,
                    mongo: Some(server),
                })
            }
        }
    }
}

/// `txlog-service setup --skip-role` (FerretDB has no role management; docs/TXLOG.md).
pub fn setup(url: &str) {
    let output = process::command(url)
        .args(["setup", "--skip-role"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "setup failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The real application serving on a free port until dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    pub db: TestDb,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        let db = TestDb::new(backend)?;
        Some(Self::spawn_on(db).await)
    }

    pub async fn spawn_on(db: TestDb) -> TestApp {
        Self::spawn_with_key(db, &log_key().0).await
    }

    /// The application on `db`, signing checkpoints with `private_key`.
    pub async fn spawn_with_key(db: TestDb, private_key: &str) -> TestApp {
        let config = config(&db.url, private_key);
        Self::spawn_configured(db, config).await
    }

    /// The application on `db` with these settings (`config.database_url` names `db`).
    pub async fn spawn_configured(db: TestDb, config: Config) -> TestApp {
        let app = Application::build(config)
            .await
            .expect("the application builds");
        Self::serve(db, app)
    }

    /// Runs a built application on `db` until the returned handle is stopped or dropped.
    pub fn serve(db: TestDb, app: Application) -> TestApp {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = platform::telemetry::init("txlog-service");
        }
        let addr = app.local_addr();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run(shutdown.clone()));
        TestApp {
            addr,
            db,
            client: reqwest::Client::new(),
            shutdown,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn post_batch(&self, events: &[Value]) -> reqwest::Response {
        self.client
            .post(self.url("/v1/transactions"))
            .bearer_auth(token("order-service", WRITE))
            .json(&json!({"transactions": events}))
            .send()
            .await
            .unwrap()
    }

    /// Appends and returns the `results`, asserting 200.
    pub async fn append(&self, events: &[Value]) -> Vec<Value> {
        let response = self.post_batch(events).await;
        assert_eq!(
            response.status(),
            200,
            "append failed: {:?}",
            response.text().await
        );
        let body: Value = response.json().await.unwrap();
        body["results"].as_array().unwrap().clone()
    }

    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.client
            .get(self.url(path_and_query))
            .bearer_auth(token("auditor", READ))
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path_and_query: &str) -> Value {
        let response = self.get(path_and_query).await;
        assert_eq!(
            response.status(),
            200,
            "GET {path_and_query}: {:?}",
            response.text().await
        );
        response.json().await.unwrap()
    }

    /// A series' value on `/metrics` (0 when absent), summed over the lines holding every
    /// `labels` pair.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let text = self.get("/metrics").await.text().await.unwrap();
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .filter(|l| {
                labels
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The chain checked from the last verified head.
    pub async fn verify(&self) -> Value {
        self.get_json("/v1/transactions/verify").await
    }

    /// The whole chain checked from the first record.
    pub async fn verify_full(&self) -> Value {
        self.get_json("/v1/transactions/verify?full=true").await
    }

    /// Every record, following the cursors, in the given order.
    pub async fn all(&self, query: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/transactions?{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.get_json(&path).await;
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
    }

    /// The latest checkpoint once it covers at least `size` records (the log signs within
    /// its interval, 100 ms here): the note and what it states, signature checked.
    pub async fn checkpoint_of(&self, size: u64) -> (String, TreeHead) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let response = self.get("/v1/checkpoint").await;
            if response.status() == 200 {
                let note = response.text().await.unwrap();
                let head = checkpoint::verify(note.as_bytes(), &log_key().1).unwrap();
                if head.size >= size {
                    return (note, head);
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint of size {size} within 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// `ordersys audit` against this log, in process; the lines it printed, or its failure.
    pub async fn audit(
        &self,
        key: &str,
        state: Option<&std::path::Path>,
        full: bool,
    ) -> Result<Vec<String>, AuditError> {
        let args = AuditArgs {
            log: self.url(""),
            key: key.to_owned(),
            token: Some(token("auditor", READ)),
            state: state.map(std::path::Path::to_path_buf),
            full,
            witnesses: Vec::new(),
            quorum: None,
        };
        let mut lines = Vec::new();
        txlog_audit::run(&args, |l| lines.push(l)).await?;
        Ok(lines)
    }

    pub async fn stop(self) -> TestDb {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
        self.db
    }
}

/// The service's settings for tests: port 0, HS256 tokens, checkpoints every 100 ms.
pub fn config(url: &str, private_key: &str) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: url.to_owned(),
        auth: auth_config(),
        signing_key: std::sync::Arc::new(LogKey::parse(private_key).unwrap()),
        log_origin: ORIGIN.to_owned(),
        checkpoint_interval: std::time::Duration::from_millis(100),
        server: Default::default(),
        console: Default::default(),
    }
}

/// A second replica of the log on the same store, sharing nothing with the first but the URL.
pub struct Replica {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Replica {
    pub async fn start(url: &str) -> Replica {
        let app = Application::build(config(url, &log_key().0)).await.unwrap();
        let addr = app.local_addr();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run(shutdown.clone()));
        Replica {
            addr,
            shutdown,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// A valid event; `tweak` edits its JSON.
pub fn event(tweak: impl FnOnce(&mut Value)) -> Value {
    let mut e = json!({
        "event_id": Uuid::now_v7(),
        "occurred_at": "2026-11-25T10:00:00.123Z",
        "source": "order-service",
        "operation": "order.get",
        "outcome": "success",
        "actor": {"sub": "alice", "scopes": ["orders:read"]},
        "order_id": null,
        "request": {"method": "GET", "path": "/v1/orders", "query": "limit=5", "request_id": "req-1",
                    "client_ip": "127.0.0.1", "user_agent": "test", "body": null, "body_truncated": false},
        "response": {"status": 200, "body": {"items": [], "note": "é ✓", "n": 1.5}, "body_truncated": false},
        "duration_us": 1234,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"
    });
    tweak(&mut e);
    e
}

pub fn events(n: usize) -> Vec<Value> {
    (0..n).map(|_| event(|_| {})).collect()
}

/// Seqs of records, in the order given.
pub fn seqs(items: &[Value]) -> Vec<u64> {
    items.iter().map(|r| r["seq"].as_u64().unwrap()).collect()
}
