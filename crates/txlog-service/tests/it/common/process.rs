//! The built `txlog-service` binary as a child process, on a port it picks itself.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub const BINARY: &str = env!("CARGO_BIN_EXE_txlog-service");

/// A running `txlog-service`, killed when dropped.
pub struct ServiceProcess {
    pub addr: SocketAddr,
    child: Child,
}

/// The binary with a clean `TXLOG_*` environment for `database_url`.
pub fn command(database_url: &str) -> Command {
    let mut command = Command::new(BINARY);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TXLOG_") {
            command.env_remove(key);
        }
    }
    command
        .env("TXLOG_DATABASE_URL", database_url)
        .env("TXLOG_AUTH_HS256_SECRET", super::SECRET)
        .env("TXLOG_AUTH_AUDIENCE", super::AUDIENCE)
        .env("TXLOG_SIGNING_KEY", &super::log_key().0)
        .env("TXLOG_LOG_ORIGIN", super::ORIGIN)
        .env("TXLOG_CHECKPOINT_INTERVAL_MS", "1000")
        .env("TXLOG_LISTEN", "127.0.0.1:0")
        // Stop at once unless a test asks for the drain delay.
        .env("TXLOG_SHUTDOWN_DELAY", "0")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info");
    command
}

impl ServiceProcess {
    /// Starts the service and waits for its "listening" log line.
    pub fn start(database_url: &str) -> ServiceProcess {
        Self::start_command(command(database_url))
    }

    /// Starts `command` (from [`command`], with more settings) and waits for its "listening"
    /// log line.
    pub fn start_command(mut command: Command) -> ServiceProcess {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let parsed: Option<Value> = serde_json::from_str(&line).ok();
                if parsed
                    .as_ref()
                    .is_some_and(|v| v["severity"] == "ERROR" || v["severity"] == "WARNING")
                {
                    eprintln!("txlog-service: {line}");
                }
                if let Some(address) = parsed.as_ref().and_then(|v| v["address"].as_str()) {
                    let _ = tx.send(address.parse::<SocketAddr>().unwrap());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("txlog-service did not start listening");
        ServiceProcess { addr, child }
    }

    /// Sends SIGTERM and waits (at most 35 s) for the process to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = std::time::Instant::now() + Duration::from_secs(35);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "txlog-service ignored SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Go checker under `tests/tlogcheck`, built by `.ci/tlogcheck.sh`.
pub fn tlogcheck() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("TLOGCHECK_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/ordersys/bin/tlogcheck")
        });
    if path.is_file() {
        Some(path)
    } else {
        testkit::unavailable("the Go reference checker (bash .ci/tlogcheck.sh builds it)");
        None
    }
}
