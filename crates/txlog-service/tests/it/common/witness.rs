//! Real C2SP tlog-witness witnesses for tests: litewitness and witnessctl from
//! filippo.io/torchwood (`bash .ci/witness.sh` builds them), each with its own ssh-agent holding
//! a fresh Ed25519 key, its own SQLite database and a free port, killed when dropped. Under
//! `CI=true` missing binaries fail the test.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::prelude::*;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use txlog_service::config::{Witness, WitnessConfig};
use txlog_service::{Application, Config};

use super::{Replica, TestApp, TestDb};

/// A binary `.ci/witness.sh` installs: `$<VAR>` or `~/.cache/ordersys/bin/<name>`.
fn binary(var: &str, name: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/ordersys/bin")
            .join(name)
    });
    path.is_file().then_some(path)
}

/// Both binaries, or `None` (with a notice; a failure under `CI=true`).
pub fn binaries() -> Option<(PathBuf, PathBuf)> {
    match (
        binary("LITEWITNESS_BIN", "litewitness"),
        binary("WITNESSCTL_BIN", "witnessctl"),
    ) {
        (Some(lite), Some(ctl)) => Some((lite, ctl)),
        _ => {
            testkit::unavailable(
                "litewitness and witnessctl are not installed (bash .ci/witness.sh builds them); witness tests did not run",
            );
            None
        }
    }
}

/// One litewitness process with its ssh-agent.
pub struct LiteWitness {
    pub name: String,
    /// `<name>+<key id>+<base64(0x04 ‖ key)>`, computed from its SSH public key and checked
    /// against the key litewitness reports.
    pub vkey: String,
    pub port: u16,
    dir: TempDir,
    litewitness: PathBuf,
    fingerprint: String,
    agent: Child,
    process: Option<Child>,
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl LiteWitness {
    /// A witness named `name` that knows the log `origin` with the log's verifier key.
    pub fn start(name: &str, origin: &str, log_vkey: &str) -> Option<LiteWitness> {
        let (litewitness, witnessctl) = binaries()?;
        let dir = tempfile::Builder::new()
            .prefix("lw")
            .tempdir_in("/tmp")
            .unwrap();
        let sock = dir.path().join("agent.sock");
        let agent = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent runs");
        wait_for(|| sock.exists(), "the ssh-agent socket");
        let key = dir.path().join("witness_key");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&key));
        run(Command::new("ssh-add")
            .arg(&key)
            .env("SSH_AUTH_SOCK", &sock)
            .stderr(Stdio::null()));
        let fingerprint = run(Command::new("ssh-keygen")
            .arg("-lf")
            .arg(key.with_extension("pub")))
        .split_whitespace()
        .nth(1)
        .expect("ssh-keygen -l prints a fingerprint")
        .to_owned();
        let vkey = cosignature_vkey(name, &key.with_extension("pub"));
        let db = dir.path().join("witness.db");
        run(Command::new(&witnessctl)
            .args(["add-log", "-db"])
            .arg(&db)
            .args(["-origin", origin]));
        run(Command::new(&witnessctl)
            .args(["add-key", "-db"])
            .arg(&db)
            .args(["-origin", origin, "-key", log_vkey]));
        let mut witness = LiteWitness {
            name: name.to_owned(),
            vkey,
            port: free_port(),
            dir,
            litewitness,
            fingerprint,
            agent,
            process: None,
        };
        witness.resume();
        let reported = std::fs::read_to_string(witness.log_path()).unwrap();
        assert!(
            reported.contains(&format!("vkey={}", witness.vkey)),
            "litewitness reports another verifier key than {}: {reported}",
            witness.vkey
        );
        Some(witness)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("litewitness.log")
    }

    /// The base URL the log posts `add-checkpoint` to.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `<url> <vkey>`, as `TXLOG_WITNESSES` lists it.
    pub fn entry(&self) -> String {
        format!("{} {}", self.url(), self.vkey)
    }

    /// (Re)starts litewitness on its port with its database and key; returns once it answers.
    pub fn resume(&mut self) {
        assert!(self.process.is_none(), "the witness is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(&self.litewitness)
            .arg("-db")
            .arg(self.dir.path().join("witness.db"))
            .args(["-name", &self.name, "-key", &self.fingerprint, "-ssh-agent"])
            .arg(self.dir.path().join("agent.sock"))
            .args(["-listen", &format!("127.0.0.1:{}", self.port)])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("litewitness runs");
        self.process = Some(child);
        let port = self.port;
        wait_for(
            || TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "litewitness to listen",
        );
    }

    /// Kills litewitness (its database stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The size litewitness holds for `origin`, from `witnessctl list-logs`.
    pub fn size(&self, origin: &str) -> u64 {
        let (_, witnessctl) = binaries().unwrap();
        let listing = run(Command::new(witnessctl)
            .args(["list-logs", "-db"])
            .arg(self.dir.path().join("witness.db")));
        listing
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["origin"] == origin)
            .and_then(|l| l["size"].as_u64())
            .unwrap_or_else(|| panic!("witness {} does not list {origin}: {listing}", self.name))
    }
}

impl Drop for LiteWitness {
    fn drop(&mut self) {
        self.stop();
        let _ = self.agent.kill();
        let _ = self.agent.wait();
    }
}

fn wait_for(mut ready: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "waited 30 s for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The cosignature/v1 verifier key of the Ed25519 key in an OpenSSH public key file.
fn cosignature_vkey(name: &str, public: &Path) -> String {
    let text = std::fs::read_to_string(public).unwrap();
    let blob = BASE64_STANDARD
        .decode(text.split_whitespace().nth(1).unwrap())
        .unwrap();
    // SSH wire form: string "ssh-ed25519", string <32-byte key>; the key ends the blob.
    let key: [u8; 32] = blob[blob.len() - 32..].try_into().unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap();
    txlog_verify::cosignature::WitnessKey::new(name, key)
        .unwrap()
        .to_string()
}

/// `TXLOG_WITNESSES` for these witnesses, with `quorum` (all when `None`).
pub fn witness_config(witnesses: &[&LiteWitness], quorum: Option<usize>) -> WitnessConfig {
    let list: Vec<String> = witnesses.iter().map(|w| w.entry()).collect();
    let config = WitnessConfig::parse(&list.join(", "), quorum.map(|q| q.to_string()).as_deref())
        .expect("a valid witness list");
    assert!(config
        .witnesses
        .iter()
        .all(|w: &Witness| w.url.scheme() == "http"));
    config
}

/// The application on `db` with `config`, sending checkpoints to `witnesses`.
pub async fn spawn_witnessed(db: TestDb, config: Config, witnesses: WitnessConfig) -> TestApp {
    let app = Application::build_witnessed(config, witnesses)
        .await
        .expect("the application builds");
    TestApp::serve(db, app)
}

/// A second replica on the same store, sending to the same witnesses.
pub async fn spawn_witnessed_replica(config: Config, witnesses: WitnessConfig) -> Replica {
    let app = Application::build_witnessed(config, witnesses)
        .await
        .expect("the replica builds");
    let addr = app.local_addr();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(app.run(shutdown.clone()));
    Replica {
        addr,
        shutdown,
        task,
    }
}

/// A copy of a whole store (a backup an operator could restore): SQLite's own consistent
/// snapshot (`VACUUM INTO`, whatever connections are still closing), or every MongoDB
/// collection.
pub enum Backup {
    Sqlite(Vec<u8>),
    Mongo(Vec<(String, Vec<mongodb::bson::Document>)>),
}

const MONGO_COLLECTIONS: [&str; 6] = [
    txlog_service::store::RECORDS_COLLECTION,
    txlog_service::store::TREE_COLLECTION,
    txlog_service::store::OLD_TREE_COLLECTION,
    txlog_service::store::CHECKPOINTS_COLLECTION,
    txlog_service::store::VERIFIED_COLLECTION,
    txlog_service::store::COSIGNATURES_COLLECTION,
];

async fn mongo_database(db: &TestDb) -> mongodb::Database {
    let client = mongodb::Client::with_uri_str(&db.url).await.unwrap();
    client.database("txlog")
}

impl Backup {
    pub async fn take(db: &TestDb) -> Backup {
        if db.mongo.is_none() {
            use sqlx::Connection as _;
            let snapshot = db.dir.path().join("backup.db");
            let mut connection = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query("VACUUM INTO ?")
                .bind(snapshot.display().to_string())
                .execute(&mut connection)
                .await
                .unwrap();
            connection.close().await.unwrap();
            let bytes = std::fs::read(&snapshot).unwrap();
            std::fs::remove_file(&snapshot).unwrap();
            return Backup::Sqlite(bytes);
        }
        use futures::TryStreamExt as _;
        let database = mongo_database(db).await;
        let mut copy = Vec::new();
        for name in MONGO_COLLECTIONS {
            let documents: Vec<mongodb::bson::Document> = database
                .collection(name)
                .find(mongodb::bson::doc! {})
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            copy.push((name.to_owned(), documents));
        }
        Backup::Mongo(copy)
    }

    /// The store as the copy holds it, everything stored since gone: a SQLite copy is restored
    /// as a new file (no connection of the stopped service can touch it), MongoDB in place.
    pub async fn restore(&self, db: TestDb) -> TestDb {
        match self {
            Backup::Sqlite(bytes) => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("data/txlog.db");
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, bytes).unwrap();
                TestDb {
                    url: format!("sqlite://{}", path.display()),
                    dir,
                    mongo: None,
                }
            }
            Backup::Mongo(collections) => {
                let database = mongo_database(&db).await;
                for (name, documents) in collections {
                    let collection = database.collection::<mongodb::bson::Document>(name);
                    collection
                        .delete_many(mongodb::bson::doc! {})
                        .await
                        .unwrap();
                    if !documents.is_empty() {
                        collection.insert_many(documents.clone()).await.unwrap();
                    }
                }
                db
            }
        }
    }
}
