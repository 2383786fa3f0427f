//! The services under test as processes: the transaction log (on FerretDB or SQLite) and the
//! order service (on a fresh PostgreSQL database), wired together like in production.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{Args, TxlogStore};
use crate::processes::{ferretdb_binary, free_port, sibling_binary, Process};

/// Signs every token of the run; both services verify with it.
pub const SECRET: &str = "ordersys-bench-secret-0123456789-abcdef";
const READY: Duration = Duration::from_secs(60);

/// The `aud` both services expect in the benchmark (one audience, so one token kind).
pub const AUDIENCE: &str = "ordersys-bench";

pub fn token(sub: &str, scopes: &str) -> String {
    platform::auth::dev::sign_hs256(SECRET, AUDIENCE, sub, scopes, 24 * 3600)
}

pub struct Txlog {
    pub base: String,
    pub process: Process,
    /// The FerretDB server and its port, for the MongoDB store.
    pub ferretdb: Option<(Process, u16)>,
}

impl Txlog {
    pub async fn start(args: &Args, dir: &std::path::Path) -> anyhow::Result<Self> {
        let (ferretdb, database_url) = match args.txlog_store {
            TxlogStore::Mongo => {
                let (ferretdb, port) = start_ferretdb(dir, "ferretdb").await?;
                let url = format!("mongodb://127.0.0.1:{port}/txlog?directConnection=true");
                (Some((ferretdb, port)), url)
            }
            TxlogStore::Sqlite => (None, format!("sqlite://{}/txlog.db", dir.display())),
        };
        let listen = format!("127.0.0.1:{}", free_port()?);
        let mut process = Process::spawn(
            "txlog-service",
            &args.txlog_wrapper,
            &sibling_binary("txlog-service")?,
            &[],
            &[
                ("TXLOG_LISTEN".into(), listen.clone()),
                ("TXLOG_DATABASE_URL".into(), database_url),
                ("TXLOG_AUTH_HS256_SECRET".into(), SECRET.into()),
                ("TXLOG_AUTH_AUDIENCE".into(), AUDIENCE.into()),
                (
                    "TXLOG_SIGNING_KEY".into(),
                    txlog_service::transparency::LogKey::generate("bench")?.0,
                ),
            ],
            dir,
        )?;
        let base = format!("http://{listen}");
        process.wait_ready(&format!("{base}/readyz"), READY).await?;
        Ok(Self {
            base,
            process,
            ferretdb,
        })
    }
}

/// A FerretDB server (MongoDB wire protocol, SQLite handler) storing under `dir/name`, and
/// its port.
pub async fn start_ferretdb(dir: &std::path::Path, name: &str) -> anyhow::Result<(Process, u16)> {
    let port = free_port()?;
    let data = dir.join(name);
    std::fs::create_dir_all(&data)?;
    let mut ferretdb = Process::spawn(
        name,
        &[],
        &ferretdb_binary()?,
        &[
            "--handler=sqlite".into(),
            format!("--sqlite-url=file:{}/", data.display()),
            format!("--state-dir={}", data.display()),
            format!("--listen-addr=127.0.0.1:{port}"),
            "--debug-addr=-".into(),
            "--telemetry=disable".into(),
            "--log-level=warn".into(),
        ],
        &[],
        dir,
    )?;
    ferretdb.wait_listening(port, READY).await?;
    Ok((ferretdb, port))
}

/// The delivery identity of the order service.
pub fn delivery_token() -> String {
    token("order-service", "txlog:write")
}

pub struct Orders {
    pub base: String,
    pub process: Process,
}

impl Orders {
    pub async fn start(
        args: &Args,
        dir: &std::path::Path,
        database_url: &str,
        txlog_base: &str,
    ) -> anyhow::Result<Self> {
        Self::start_named(args, dir, "order-service", database_url, txlog_base).await
    }

    /// [`Orders::start`] with its log in `dir/<name>.log`, for several replicas at once.
    pub async fn start_named(
        args: &Args,
        dir: &std::path::Path,
        name: &str,
        database_url: &str,
        txlog_base: &str,
    ) -> anyhow::Result<Self> {
        let listen = format!("127.0.0.1:{}", free_port()?);
        let mut process = Process::spawn(
            name,
            &args.orders_wrapper,
            &sibling_binary("order-service")?,
            &[],
            &[
                ("ORDERS_LISTEN".into(), listen.clone()),
                ("ORDERS_DATABASE_URL".into(), database_url.into()),
                ("ORDERS_TXLOG_URL".into(), txlog_base.into()),
                ("ORDERS_TXLOG_TOKEN".into(), delivery_token()),
                ("ORDERS_AUTH_HS256_SECRET".into(), SECRET.into()),
                ("ORDERS_AUTH_AUDIENCE".into(), AUDIENCE.into()),
            ],
            dir,
        )?;
        let base = format!("http://{listen}");
        let timeout = if args.orders_wrapper.is_empty() {
            READY
        } else {
            READY * 5
        };
        process
            .wait_ready(&format!("{base}/readyz"), timeout)
            .await?;
        Ok(Self { base, process })
    }
}

/// A fresh work directory for logs and store files.
pub fn work_dir() -> anyhow::Result<PathBuf> {
    let dir =
        std::env::temp_dir().join(format!("ordersys-bench-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
