//! What the connection-layer tests share: a server on loopback, clients bound to a chosen
//! loopback address, and the process's limits and CPU time.

#![allow(dead_code)] // each test binary uses part of it

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::routing::get;
use platform::server::{serve_with, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

/// A server of `app` on 127.0.0.1; stopped when dropped.
pub struct Server {
    pub addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Server {
    pub async fn start(limits: Limits, app: axum::Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(serve_with(listener, app, stop.clone(), limits));
        Self { addr, stop }
    }

    /// A server whose `/hello` answers `hi`.
    pub async fn hello(limits: Limits) -> Self {
        Self::start(
            limits,
            axum::Router::new().route("/hello", get(|| async { "hi" })),
        )
        .await
    }
}

/// A connection to `server` from `from` (any 127.0.0.0/8 address is this host).
pub async fn connect_from(from: IpAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match from {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(server).await
}

/// `GET /hello` on a new connection from `from`: the whole answer, or why there was none.
pub async fn hello_from(from: IpAddr, server: SocketAddr) -> Result<String, String> {
    let mut stream = connect_from(from, server)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .map_err(|_| "no answer within 5 s".to_owned())?
        .map_err(|e| format!("read: {e}"))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

pub fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Fails the test, saying how to fix it, when this process may not open `needed` files.
pub fn require_open_files(needed: u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(
        soft.is_some_and(|soft| soft >= needed),
        "this test needs {needed} open files; the limit is {soft:?}: raise it with `ulimit -n 20000` \
         (.ci/run does)"
    );
}

/// CPU time (user + system, all threads) this process has used so far (Linux).
pub fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the line, in USER_HZ (100 a second on Linux).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}
