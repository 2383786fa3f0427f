//! End-to-end support: the real `order-service` and `txlog-service` binaries as processes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const SECRET: &str = "e2e-secret-0123456789-0123456789-abcdef";

/// A binary of this workspace, built by the same `cargo test`/`nextest` run.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests through cargo",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ordersys-e2e-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `aud` both services expect in these tests (one audience: any token works on either).
pub const AUDIENCE: &str = "urn:ordersys:e2e";

pub fn token(sub: &str, scopes: &str) -> String {
    platform::auth::dev::sign_hs256(SECRET, AUDIENCE, sub, scopes, 3600)
}

/// A fresh database on the tests' PostgreSQL, dropped when the value is (keep it for as long as
/// a service uses it).
pub async fn postgres_url() -> testkit::TestDatabase {
    let admin = testkit::postgres_admin_url();
    testkit::TestDatabase::create(&admin, "ordersys_e2e")
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required ({admin}): {e}"))
}

/// A service process, killed when dropped.
pub struct Service {
    pub base: String,
    name: &'static str,
    env: Vec<(String, String)>,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Service {
    pub async fn start(name: &'static str, env: Vec<(String, String)>, log_dir: &Path) -> Self {
        let listen = env
            .iter()
            .find(|(k, _)| k.ends_with("_LISTEN"))
            .map(|(_, v)| v.clone())
            .unwrap();
        let mut service = Self {
            base: format!("http://{listen}"),
            name,
            env,
            child: None,
            log: log_dir.join(format!("{name}.log")),
        };
        service.restart().await;
        service
    }

    pub async fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(bin(self.name))
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            // Stop at once unless a test asks for the drain delay.
            .env("ORDERS_SHUTDOWN_DELAY", "0")
            .env("TXLOG_SHUTDOWN_DELAY", "0")
            .envs(self.env.iter().cloned())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{}/readyz", self.base)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{} did not become ready; see {}",
            self.name,
            self.log.display()
        );
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Sends SIGTERM and returns at once.
    pub fn terminate(&self) {
        let child = self.child.as_ref().expect("the service is running");
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits (at most `limit`) for the process to exit; its status.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("the service is running");
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{} did not exit within {limit:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let status = child.wait().unwrap();
            assert!(status.success(), "{} exited with {status}", self.name);
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One checkpoint signing key pair for the test process: (private, verifier).
pub fn log_key() -> &'static (String, String) {
    static KEY: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    KEY.get_or_init(|| txlog_service::transparency::LogKey::generate("system-test").unwrap())
}

/// The two services wired together: orders on PostgreSQL, the log on SQLite.
pub struct System {
    pub orders: Service,
    pub txlog: Service,
    pub dir: PathBuf,
    /// The order service's database, where its outbox is.
    pub orders_database: String,
    /// Drops the database `start_with` created, after the services are gone (fields drop in
    /// order).
    created_database: Option<testkit::TestDatabase>,
}

impl System {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Both services, with `extra` environment variables for each.
    pub async fn start_with(extra: &[(&str, &str)]) -> Self {
        let database = postgres_url().await;
        let mut system = Self::start_on(database.url(), extra).await;
        system.created_database = Some(database);
        system
    }

    /// Both services, the order service on the database at `orders_database`.
    pub async fn start_on(orders_database: &str, extra: &[(&str, &str)]) -> Self {
        let orders_database = orders_database.to_owned();
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let dir = tempdir();
        let txlog_addr = format!("127.0.0.1:{}", free_port());
        let txlog = Service::start(
            "txlog-service",
            vec![
                ("TXLOG_LISTEN".into(), txlog_addr.clone()),
                (
                    "TXLOG_DATABASE_URL".into(),
                    format!("sqlite://{}/txlog.db", dir.display()),
                ),
                ("TXLOG_AUTH_HS256_SECRET".into(), SECRET.into()),
                ("TXLOG_AUTH_AUDIENCE".into(), AUDIENCE.into()),
                ("TXLOG_SIGNING_KEY".into(), log_key().0.clone()),
            ]
            .into_iter()
            .chain(extra.clone())
            .collect(),
            &dir,
        )
        .await;
        let orders = Service::start(
            "order-service",
            vec![
                ("ORDERS_LISTEN".into(), format!("127.0.0.1:{}", free_port())),
                ("ORDERS_DATABASE_URL".into(), orders_database.clone()),
                ("ORDERS_TXLOG_URL".into(), format!("http://{txlog_addr}")),
                (
                    "ORDERS_TXLOG_TOKEN".into(),
                    token("order-service", "txlog:write"),
                ),
                ("ORDERS_AUTH_HS256_SECRET".into(), SECRET.into()),
                ("ORDERS_AUTH_AUDIENCE".into(), AUDIENCE.into()),
                // The hostile suite sends thousands of anonymous calls from one address.
                ("ORDERS_RATE_LIMIT_ANONYMOUS".into(), "off".into()),
            ]
            .into_iter()
            .chain(extra)
            .collect(),
            &dir,
        )
        .await;
        Self {
            orders,
            txlog,
            dir,
            orders_database,
            created_database: None,
        }
    }

    /// Every record in the log once the order service's outbox is empty: a delivered event
    /// leaves the outbox only when the log has acknowledged it, so nothing more can arrive.
    pub async fn settled_records(&self) -> Vec<Value> {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&self.orders_database)
            .await
            .unwrap();
        for _ in 0..600 {
            let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
                .fetch_one(&mut db)
                .await
                .unwrap();
            if pending == 0 {
                return self.records().await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the order service's outbox never emptied");
    }

    /// The text of a `GET` on the log with an auditor's token (`txlog:read`).
    pub async fn read(&self, path_and_query: &str) -> String {
        reqwest::Client::new()
            .get(format!("{}{path_and_query}", self.txlog.base))
            .bearer_auth(token("auditor", "txlog:read"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// A JSON answer of the log, read with every key a plain key: a record holds whatever
    /// body a caller sent.
    pub async fn read_json(&self, path_and_query: &str) -> Value {
        let text = self.read(path_and_query).await;
        txlog_verify::json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path_and_query}: {e}: {text}"))
    }

    /// Every record in the log, oldest first.
    pub async fn records(&self) -> Vec<Value> {
        let mut records = Vec::new();
        let mut path = "/v1/transactions?order=asc&limit=500".to_owned();
        loop {
            let page = self.read_json(&path).await;
            records.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/v1/transactions?order=asc&limit=500&cursor={c}"),
                None => return records,
            }
        }
    }

    /// Waits until the log holds at least `n` records.
    pub async fn wait_for_records(&self, n: usize) -> Vec<Value> {
        for _ in 0..300 {
            let records = self.records().await;
            if records.len() >= n {
                return records;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the log did not reach {n} records (has {})",
            self.records().await.len()
        );
    }

    pub async fn verify(&self) -> Value {
        self.read_json("/v1/transactions/verify").await
    }
}
pub mod hostile;
