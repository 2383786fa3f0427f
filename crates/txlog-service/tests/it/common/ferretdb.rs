//! A FerretDB server (MongoDB wire protocol, SQLite handler) for one test, on a free port,
//! killed when dropped. Under `CI=true`, a missing or failing FerretDB fails the test instead
//! of skipping it.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct FerretDb {
    pub port: u16,
    child: Child,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl FerretDb {
    /// Starts a server storing its data under `dir`, without authentication (the Rust driver
    /// cannot authenticate to FerretDB 1.24: docs/TXLOG.md); `None` (with a notice) when
    /// FerretDB is not installed, except under `CI=true` where that panics.
    pub fn start(dir: &Path) -> Option<FerretDb> {
        let Some(bin) = testkit::ferretdb_binary() else {
            testkit::unavailable(
                "ferretdb is not installed (bash .ci/ferretdb.sh builds it); MongoDB-store tests did not run",
            );
            return None;
        };
        let data = dir.join("ferretdb");
        std::fs::create_dir_all(&data).unwrap();
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&bin)
                .arg("--handler=sqlite")
                .arg(format!("--sqlite-url=file:{}/", data.display()))
                .arg(format!("--state-dir={}", data.display()))
                .arg(format!("--listen-addr=127.0.0.1:{port}"))
                .args(["--debug-addr=-", "--telemetry=disable", "--log-level=error"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut server = FerretDb { port, child };
            if server.wait_ready() {
                return Some(server);
            }
            let _ = server.child.kill();
        }
        panic!("ferretdb did not start");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn url(&self) -> String {
        format!(
            "mongodb://127.0.0.1:{}/txlog?directConnection=true",
            self.port
        )
    }
}

impl Drop for FerretDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
