//! Starts the real OpenID Connect provider of `tests/oidc` (npm's oidc-provider).
//!
//! `OidcProvider::start()` installs the provider's npm packages once when they are missing
//! (`npm ci --prefix tests/oidc`, guarded by a lock directory so parallel test processes do not
//! race), spawns `node tests/oidc/server.mjs 0` from the repository root, waits for its
//! `READY <issuer>` line and kills it on drop. Under `CI=true` every failure panics; elsewhere a
//! machine without Node (or without registry access for the first install) skips the test with a
//! loud message.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// The audience (`resource`) of order-service tokens.
pub const AUDIENCE: &str = "urn:ordersys:order-service";
/// The secret of every client of the test provider.
pub const CLIENT_SECRET: &str = "test-secret";

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// A running provider; killed on drop.
pub struct OidcProvider {
    pub issuer: String,
    child: Child,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    http: reqwest::Client,
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// Panics under CI; otherwise reports why the test is skipped.
fn unavailable(why: String) -> Option<OidcProvider> {
    testkit::unavailable(format!(
        "the OpenID Connect test provider cannot run here: {why}"
    ));
    None
}

impl OidcProvider {
    /// The provider on a free loopback port, or `None` (only outside CI) when Node or its
    /// packages are not available.
    pub fn start() -> Option<Self> {
        let root = repo_root();
        if let Err(why) = Command::new("node").arg("--version").output() {
            return unavailable(format!("node is not installed ({why})"));
        }
        if let Err(why) = ensure_installed(&root.join("tests/oidc")) {
            return unavailable(why);
        }
        let mut child = Command::new("node")
            .args(["tests/oidc/server.mjs", "0"])
            .current_dir(&root)
            .env("OIDC_EXIT_ON_STDIN_EOF", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn node tests/oidc/server.mjs");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]);
                eprint!("[oidc] {text}");
                sink.lock().unwrap().push_str(&text);
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first);
            // Keep draining so the provider never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(READY_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "the OpenID Connect test provider did not print READY within {READY_TIMEOUT:?} ({other:?}); stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        let issuer = match line.strip_prefix("READY ") {
            Some(issuer) if issuer.starts_with("http://127.0.0.1:") => issuer.trim().to_owned(),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("unexpected first line from the OpenID Connect test provider: {line:?}");
            }
        };
        Some(Self {
            issuer,
            child,
            stderr,
            http: reqwest::Client::new(),
        })
    }

    /// An access token from the client-credentials grant, for audience `resource`.
    pub async fn token(&self, client_id: &str, scope: &str, resource: &str) -> String {
        let r = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(client_id, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", scope),
                ("resource", resource),
            ])
            .send()
            .await
            .expect("the token endpoint answers");
        let status = r.status();
        let body: Value = r.json().await.expect("a JSON token response");
        assert_eq!(
            status,
            reqwest::StatusCode::OK,
            "token request for {client_id}: {body}"
        );
        assert_eq!(body["token_type"], "Bearer", "{body}");
        body["access_token"]
            .as_str()
            .expect("an access_token")
            .to_owned()
    }

    /// Makes the provider sign with a new key (`drop`: publish only that key); its `kid`.
    pub async fn rotate(&self, drop: bool) -> String {
        let url = format!(
            "{}/test/rotate{}",
            self.issuer,
            if drop { "?drop=1" } else { "" }
        );
        let r = self
            .http
            .post(url)
            .send()
            .await
            .expect("the rotate endpoint answers");
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["dropped_old"], drop, "{body}");
        body["kid"].as_str().expect("the new kid").to_owned()
    }

    /// Everything the provider wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn installed(dir: &Path) -> bool {
    dir.join("node_modules/oidc-provider/package.json")
        .is_file()
}

/// `npm ci` once, across threads and test processes: a lock directory in the temp dir is the
/// mutex (creating a directory is atomic); a lock older than the install timeout is stale.
fn ensure_installed(dir: &Path) -> Result<(), String> {
    let lock = std::env::temp_dir().join("ordersys-oidc-npm-ci.lock");
    if installed(dir) && !lock.exists() {
        return Ok(());
    }
    let deadline = std::time::Instant::now() + INSTALL_TIMEOUT + Duration::from_secs(30);
    loop {
        match std::fs::create_dir(&lock) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let age = std::fs::metadata(&lock)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .unwrap_or_default();
                if age > INSTALL_TIMEOUT {
                    let _ = std::fs::remove_dir(&lock);
                }
                if std::time::Instant::now() > deadline {
                    return Err(format!(
                        "timed out waiting for {} (another npm ci)",
                        lock.display()
                    ));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(format!("cannot create {}: {e}", lock.display())),
        }
    }
    let result = if installed(dir) {
        Ok(())
    } else {
        eprintln!(
            "installing the OpenID Connect test provider: npm ci --prefix {}",
            dir.display()
        );
        match Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(dir)
            .output()
        {
            Ok(out) if out.status.success() && installed(dir) => Ok(()),
            Ok(out) => Err(format!(
                "npm ci --prefix {} failed ({}): {}",
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )),
            Err(e) => Err(format!("npm is not available: {e}")),
        }
    };
    let _ = std::fs::remove_dir(&lock);
    result
}
