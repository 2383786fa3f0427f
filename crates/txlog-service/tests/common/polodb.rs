//! A PoloDB server (MongoDB wire protocol) for one test, on a free port, killed when dropped.
//! Under `CI=true`, a missing or failing PoloDB fails the test instead of skipping it.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Polodb {
    pub port: u16,
    child: Child,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `POLODB_BIN`, `polodb` on the PATH, or `~/.cargo/bin/polodb`.
pub fn binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("POLODB_BIN") {
        return Some(PathBuf::from(bin));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("polodb"))
        .find(|p| p.is_file());
    on_path.or_else(|| {
        let home = std::env::var_os("HOME")?;
        let p = PathBuf::from(home).join(".cargo/bin/polodb");
        p.is_file().then_some(p)
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Polodb {
    /// Starts a server storing its data under `dir`; `None` (with a notice) when PoloDB is not
    /// installed, except under `CI=true` where that panics.
    pub fn start(dir: &Path) -> Option<Polodb> {
        let Some(bin) = binary() else {
            assert!(
                !in_ci(),
                "polodb is not installed (cargo install polodb --locked) and CI=true: failing"
            );
            eprintln!("SKIPPED: polodb is not installed; MongoDB-store tests did not run");
            return None;
        };
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&bin)
                .args(["serve", "--path"])
                .arg(dir.join("polodb"))
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut server = Polodb { port, child };
            if server.wait_ready() {
                return Some(server);
            }
            let _ = server.child.kill();
        }
        panic!("polodb did not start");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
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

impl Drop for Polodb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
