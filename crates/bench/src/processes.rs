//! The real service binaries and FerretDB as child processes, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// `target/<profile>/<name>`, next to the running `bench` executable.
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the bench executable")?;
    let path = exe
        .parent()
        .context("the bench executable has no directory")?
        .join(name);
    if !path.is_file() {
        anyhow::bail!(
            "{} is missing: build the services first with \
             `cargo build --release --bin order-service --bin txlog-service`",
            path.display()
        );
    }
    Ok(path)
}

/// The FerretDB binary (`testkit::ferretdb_binary`), or an error naming how to get it.
pub fn ferretdb_binary() -> anyhow::Result<PathBuf> {
    testkit::ferretdb_binary().context(
        "ferretdb is not installed (bash .ci/ferretdb.sh builds it), or use --txlog-store sqlite",
    )
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A child process, with its output in a log file.
pub struct Process {
    pub name: String,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Process {
    /// Starts `program` (after the `wrapper` words, e.g. `valgrind --tool=callgrind`).
    pub fn spawn(
        name: &str,
        wrapper: &[String],
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        dir: &Path,
    ) -> anyhow::Result<Self> {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let mut command = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(program);
                c
            }
            None => Command::new(program),
        };
        let child = command
            .args(args)
            .envs(env.iter().cloned())
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            // Nothing routes to these processes: stop without the load-balancer drain delay.
            .env("ORDERS_SHUTDOWN_DELAY", "0")
            .env("TXLOG_SHUTDOWN_DELAY", "0")
            .stdout(out.try_clone()?)
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        Ok(Self {
            name: name.to_owned(),
            log,
            child: Some(child),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Fails when the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(child) = self.child.as_mut() {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!(
                    "{} exited ({status}); see {}",
                    self.name,
                    self.log.display()
                );
            }
        }
        Ok(())
    }

    /// Waits until `GET url` answers 200.
    pub async fn wait_ready(&mut self, url: &str, timeout: Duration) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            self.check_alive()?;
            if let Ok(r) = http.get(url).send().await {
                if r.status() == 200 {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!(
            "{} did not become ready; see {}",
            self.name,
            self.log.display()
        )
    }

    /// Waits until something listens on `port`.
    pub async fn wait_listening(&mut self, port: u16, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            self.check_alive()?;
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!(
            "{} did not start listening; see {}",
            self.name,
            self.log.display()
        )
    }

    /// SIGTERM, then waits (up to `timeout`, then SIGKILL).
    pub async fn stop(&mut self, timeout: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
