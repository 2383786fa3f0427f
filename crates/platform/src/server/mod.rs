//! The hardened server loop both services run (see `docs/SECURITY.md`, "Input limits").
//!
//! On top of what `axum::serve` does (HTTP/1.1 and HTTP/2 with prior knowledge, graceful
//! shutdown, `ConnectInfo<SocketAddr>`), it bounds what one client can make the process hold:
//!
//! - at most [`Limits::max_connections`] connections at once, and at most
//!   [`Limits::max_connections_per_address`] from one client address (the TCP peer; an IPv6
//!   address counts as its /64; trusted proxies are exempt). Room is made for a newcomer
//!   (see `room.rs`): first by closing the oldest connection that has not sent a single byte
//!   yet (of the newcomer's address when that address is full), then, when the server is
//!   full, one of the address that holds the most connections (HTTP/1: closed after its
//!   response; HTTP/2: GOAWAY); only when the newcomer's own address holds the most is it
//!   closed at once. Accept errors (such as running out of file descriptors) pause accepting
//!   briefly instead of ending the process;
//! - the first bytes, the TLS handshake and every HTTP/1 request head must arrive within
//!   [`Limits::header_read_timeout`] (slowloris; hyper's timer also runs while an HTTP/1
//!   keep-alive connection waits for its next request). Waiting costs nothing: the first
//!   bytes are read (and handed to HTTP again), never polled for;
//! - a connection with no request in progress for [`Limits::idle_timeout`] is closed (HTTP/2:
//!   GOAWAY, then closed if the peer does not finish within a second); this is what closes an
//!   HTTP/2 connection that only sent the preface, or that idles after its last stream;
//! - HTTP/2 keep-alive: a PING after [`Limits::keep_alive_interval`] without frames, and the
//!   connection is closed when it is not answered within [`Limits::keep_alive_timeout`];
//! - a request head is at most [`Limits::max_header_bytes`] bytes and
//!   [`Limits::max_headers`] header lines (hyper answers 431 past that);
//! - a request body must keep arriving: a gap of [`Limits::body_idle_timeout`] or a total
//!   over [`Limits::body_total_timeout`] fails the body read with [`BodyTimeout`], which the
//!   body extractors answer with a `408 timeout` problem.
//!
//! Every request carries the TCP peer (`ConnectInfo<SocketAddr>`) and the client address
//! resolved through [`Limits::trusted_proxies`] ([`crate::client_addr::ClientAddr`]).
//!
//! The handler timeout, [`Limits::request_timeout`], is a middleware of each service's router
//! ([`crate::timeout`]), so that the recording middleware sees its answer.

mod activity;
mod addresses;
mod body;
mod connection;
mod idle;
mod rewind;
mod room;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use body::{body_timeout_problem, is_body_timeout, BodyTimeout};
use connection::Connection;
use room::Room;

use crate::client_addr::TrustedProxies;

/// The default of [`Limits::max_connections_per_address`]: eight addresses are needed to fill
/// the server, while a NAT gateway, or a client with a few hundred calls in flight at once,
/// stays below it.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 512;

/// The bounds of one server.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    /// Connections from one client address (the TCP peer, an IPv6 /64); `None`: no cap.
    /// Peers in [`Limits::trusted_proxies`] are not held to it.
    pub max_connections_per_address: Option<usize>,
    /// The proxies whose `X-Forwarded-For` / `Forwarded` name the client
    /// ([`crate::client_addr`]); none by default.
    pub trusted_proxies: TrustedProxies,
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub body_idle_timeout: Duration,
    pub body_total_timeout: Duration,
    /// A connection with no request in progress for this long is closed.
    pub idle_timeout: Duration,
    /// HTTP/2: a PING after this long without a frame from the peer.
    pub keep_alive_interval: Duration,
    /// HTTP/2: the connection is closed when a PING is not answered within this.
    pub keep_alive_timeout: Duration,
    /// The handler timeout: a request not answered by then gets `408 timeout` (applied by
    /// [`crate::timeout::layer`] in each service's router).
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_connections_per_address: Some(DEFAULT_MAX_CONNECTIONS_PER_ADDRESS),
            trusted_proxies: TrustedProxies::none(),
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            body_idle_timeout: Duration::from_secs(10),
            body_total_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            keep_alive_interval: Duration::from_secs(20),
            keep_alive_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `app` with [`Limits::default`] until `shutdown`, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, Limits::default()).await
}

/// Serves `app` under `limits` until `shutdown`, then lets in-flight requests finish.
pub async fn serve_with(
    listener: TcpListener,
    app: axum::Router,
    shutdown: CancellationToken,
    limits: Limits,
) -> std::io::Result<()> {
    serve_on(listener, app, shutdown, limits, None).await
}

/// Serves `app` under `limits` until `shutdown`, over TLS when `tls` is given (ALPN picks
/// HTTP/2 or HTTP/1.1), then lets in-flight requests finish.
pub async fn serve_on(
    listener: TcpListener,
    app: axum::Router,
    shutdown: CancellationToken,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    let limits = Arc::new(limits);
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let room = Room::new(&limits);
    // Connections hold a receiver; shutdown waits until all are dropped.
    let (close_tx, close_rx) = watch::channel(());
    let mut accept_errors = 0u64;
    while let Some((stream, remote)) = accept(&listener, &shutdown, &mut accept_errors).await {
        let seat = match room.admit(remote.ip()).await {
            Ok(seat) => seat,
            Err(refused) => {
                metrics::counter!("connections_refused_total", "reason" => refused.label())
                    .increment(1);
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            remote,
            app: app.clone(),
            limits: limits.clone(),
            shutdown: shutdown.clone(),
            in_flight: close_rx.clone(),
        };
        tokio::spawn(connection.serve(stream, tls.clone(), seat));
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
    Ok(())
}

/// The next connection, or `None` once `shutdown` is cancelled. Accept errors (EMFILE,
/// ENFILE, ECONNABORTED…) are never fatal: they pause accepting briefly so as not to spin.
async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
    errors: &mut u64,
) -> Option<(TcpStream, std::net::SocketAddr)> {
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => return Some(accepted),
                Err(e) => {
                    *errors += 1;
                    if errors.is_power_of_two() {
                        tracing::warn!(error = %e, count = *errors, "accepting a connection failed");
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
}
