//! A database that goes away is `unavailable`, never a fault of the service: PostgreSQL restarted
//! (cleanly, then as after a crash) under a concurrent create load, and every call is answered
//! 201 or 503 with `Retry-After`, never 500 (half of the calls with an `Idempotency-Key`, so its
//! claim and release meet the restarts too); every order answered 201 exists once, no request
//! made two, and every 201 is recorded in the transaction log exactly once. A database that
//! starts after the order service is waited for.
//!
//! The test runs a PostgreSQL of its own (Debian's `initdb` and `pg_ctl`, as `.ci/postgres.sh`
//! installs them) on its own port and data directory: restarting the shared one on 5432 would
//! break every other test running at the time.

use crate::support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::Connection;
use support::{free_port, token, System};

/// Concurrent clients creating orders.
const CLIENTS: usize = 8;

/// A PostgreSQL server of this test, stopped and deleted when dropped.
struct OwnPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// Whether commands run as the `postgres` user (PostgreSQL refuses to run as root).
    as_postgres: bool,
}

impl OwnPostgres {
    /// `None` (after `testkit::unavailable`) when the binaries are not installed.
    fn start() -> Option<Self> {
        let Some(bin) = binaries() else {
            testkit::unavailable(
                "initdb and pg_ctl (Debian's postgresql package, see .ci/postgres.sh) are not installed",
            );
            return None;
        };
        let dir =
            std::env::temp_dir().join(format!("ordersys-pg-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let as_postgres = run_text("id", &["-u"]) == "0";
        if as_postgres {
            let uid: u32 = run_text("id", &["-u", "postgres"]).parse().unwrap();
            let gid: u32 = run_text("id", &["-g", "postgres"]).parse().unwrap();
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        let server = Self {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let data = server.data();
        server.pg(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        server.start_again();
        Some(server)
    }

    /// Starts the stopped server; returns once it accepts connections.
    fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("postgres.log").display().to_string();
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server cleanly (sessions terminated).
    fn stop(&self) {
        self.pg("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (`fast`: sessions are terminated and it shuts down cleanly;
    /// `immediate`: it exits at once and recovers at the next start, as after a crash) and
    /// starts it again with the same options; returns once it accepts connections.
    fn restart(&self, mode: &str) {
        // `-l`: the server must not inherit this command's output pipes, which it would hold open.
        let log = self.dir.join("postgres.log").display().to_string();
        self.pg(
            "pg_ctl",
            &["-D", &self.data(), "-l", &log, "-m", mode, "-w", "restart"],
        );
    }

    fn pg(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = command.args(args).current_dir(&self.dir).output().unwrap();
        assert!(
            out.status.success(),
            "{} {args:?}: {}{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.data();
        let program = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest installed PostgreSQL's binaries (`/usr/lib/postgresql/<version>/bin`).
fn binaries() -> Option<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn run_text(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// One create call: its tag (also its request id and the order's notes), its status, whether a
/// 503 said when to retry, the order id of a 201, and whether it was made after the restarts.
#[derive(Debug)]
struct Answer {
    tag: String,
    status: u16,
    retry_after: bool,
    order_id: Option<String>,
    after_restarts: bool,
}

/// Creates orders until `stop`, one at a time.
async fn client(
    base: String,
    n: usize,
    stop: Arc<AtomicBool>,
    restarted: Arc<AtomicBool>,
) -> Vec<Answer> {
    let http = reqwest::Client::new();
    let alice = token("alice", "orders:read orders:write");
    let mut answers = Vec::new();
    for i in 0.. {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let tag = format!("faults-{n}-{i}");
        let body = json!({
            "currency": "EUR",
            "items": [{"sku": "SKU-1", "name": "Widget", "quantity": 1, "unit_price": 100}],
            "notes": tag,
        });
        let after_restarts = restarted.load(Ordering::Acquire);
        let mut request = http
            .post(format!("{base}/v1/orders"))
            .bearer_auth(&alice)
            .header("x-request-id", &tag)
            .json(&body)
            .timeout(Duration::from_secs(30));
        if i % 2 == 1 {
            // Every other call takes the idempotency key's path too (claim, complete, release).
            request = request.header("idempotency-key", &tag);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{tag}: the order service did not answer: {e}"));
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let body: Value = response.json().await.unwrap();
        answers.push(Answer {
            tag,
            status,
            retry_after,
            order_id: body["id"].as_str().map(str::to_owned),
            after_restarts,
        });
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_is_503_never_500_and_loses_nothing() {
    let Some(postgres) = OwnPostgres::start() else {
        return;
    };
    let database = testkit::TestDatabase::create(&postgres.admin_url(), "ordersys_faults")
        .await
        .unwrap();
    let system = System::start_on(database.url(), &[]).await;
    let base = system.orders.base.clone();

    let stop = Arc::new(AtomicBool::new(false));
    let restarted = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| tokio::spawn(client(base.clone(), n, stop.clone(), restarted.clone())))
        .collect();
    // Load before, during and after: a clean restart, then one as after a crash.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let postgres = tokio::task::spawn_blocking(move || {
        postgres.restart("fast");
        std::thread::sleep(Duration::from_millis(500));
        postgres.restart("immediate");
        postgres
    })
    .await
    .unwrap();
    restarted.store(true, Ordering::Release);
    let resumed = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Release);
    let mut answers = Vec::new();
    for c in clients {
        answers.extend(c.await.unwrap());
    }

    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for a in &answers {
        *statuses.entry(a.status).or_default() += 1;
    }
    eprintln!(
        "answers: {statuses:?} (load resumed {:?} after the restarts)",
        resumed.elapsed()
    );
    for a in &answers {
        assert!(
            matches!(a.status, 201 | 503),
            "{}: answered {} (all: {statuses:?})",
            a.tag,
            a.status
        );
        assert!(
            a.status != 503 || a.retry_after,
            "{}: 503 without Retry-After",
            a.tag
        );
    }
    assert!(
        statuses.get(&503).is_some_and(|n| *n > 0),
        "no call met the restarts: the test did not test anything ({statuses:?})"
    );
    assert!(
        answers.iter().any(|a| a.after_restarts && a.status == 201),
        "nothing was created after the restarts ({statuses:?})"
    );

    // Every 201 is there, once, with its own content; no call made two orders.
    let mut db = sqlx::PgConnection::connect(database.url()).await.unwrap();
    let rows: Vec<(uuid::Uuid, String)> = sqlx::query_as("SELECT id, doc FROM orders")
        .fetch_all(&mut db)
        .await
        .unwrap();
    let mut by_tag: HashMap<String, Vec<String>> = HashMap::new();
    for (id, doc) in &rows {
        let doc: Value = serde_json::from_str(doc).unwrap();
        let tag = doc["notes"].as_str().unwrap().to_owned();
        by_tag.entry(tag).or_default().push(id.to_string());
    }
    for (tag, ids) in &by_tag {
        assert_eq!(ids.len(), 1, "{tag} made {} orders", ids.len());
    }
    for a in answers.iter().filter(|a| a.status == 201) {
        assert_eq!(
            by_tag.get(&a.tag).map(Vec::as_slice),
            Some(std::slice::from_ref(a.order_id.as_ref().unwrap())),
            "{}: answered 201 but its order is not stored",
            a.tag
        );
    }
    db.close().await.unwrap();

    // Every 201 is recorded exactly once.
    let records = system.settled_records().await;
    let mut recorded: HashMap<&str, usize> = HashMap::new();
    for r in &records {
        *recorded
            .entry(r["request"]["request_id"].as_str().unwrap())
            .or_default() += 1;
    }
    for a in answers.iter().filter(|a| a.status == 201) {
        assert_eq!(
            recorded.get(a.tag.as_str()),
            Some(&1),
            "{} recorded once",
            a.tag
        );
    }
    drop(system);
    drop(database);
    drop(postgres);
}

/// An order service that starts before its database (beside it in compose, or a network policy
/// that admits a new pod a moment after it starts) waits for it instead of exiting: with
/// PostgreSQL stopped, the service starts and logs that it retries; PostgreSQL then starts, and
/// the service becomes ready and serves a create.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_service_waits_for_a_database_that_starts_after_it() {
    let Some(postgres) = OwnPostgres::start() else {
        return;
    };
    let database = testkit::TestDatabase::create(&postgres.admin_url(), "ordersys_late")
        .await
        .unwrap();
    postgres.stop();
    let url = database.url().to_owned();
    let starting = tokio::spawn(async move { System::start_on(&url, &[]).await });
    // The service's first attempts meet a stopped server (its log below proves they did).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let postgres = tokio::task::spawn_blocking(move || {
        postgres.start_again();
        postgres
    })
    .await
    .unwrap();
    let system = starting.await.unwrap();
    let log = std::fs::read_to_string(&system.orders.log).unwrap();
    assert!(
        log.contains("the database is not reachable yet"),
        "the service never met the stopped database: {log}"
    );
    let created = reqwest::Client::new()
        .post(format!("{}/v1/orders", system.orders.base))
        .bearer_auth(token("alice", "orders:read orders:write"))
        .json(&json!({
            "currency": "EUR",
            "items": [{"sku": "SKU-1", "name": "Widget", "quantity": 1, "unit_price": 100}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    drop(system);
    drop(database);
    drop(postgres);
}
