//! The hardened server loop both services run (see `docs/SECURITY.md`, "Input limits").
//!
//! On top of what `axum::serve` does (HTTP/1.1 and HTTP/2 with prior knowledge, graceful
//! shutdown, `ConnectInfo<SocketAddr>`), it bounds what one client can make the process hold:
//!
//! - at most [`Limits::max_connections`] connections at once; when full, the oldest connection
//!   that has not sent a single byte yet is closed to make room, and if there is none the new
//!   connection is closed at once. Accept errors (such as running out of file descriptors)
//!   pause accepting briefly instead of ending the process;
//! - the first bytes, the TLS handshake and every HTTP/1 request head must arrive within
//!   [`Limits::header_read_timeout`] (slowloris; hyper's timer also runs while an HTTP/1
//!   keep-alive connection waits for its next request);
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
//! The handler timeout, [`Limits::request_timeout`], is a middleware of each service's router
//! ([`crate::timeout`]), so that the recording middleware sees its answer.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::Problem;

/// The bounds of one server.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
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

/// How long a connection asked to close (idle or shutting down) may take to finish its
/// goodbye while no request is in progress; then it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The error a request body yields when it stalls or takes too long.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

/// Whether `error`, or anything in its source chain, is a [`BodyTimeout`].
pub fn is_body_timeout(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<BodyTimeout>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// The answer to a body that did not arrive in time.
pub fn body_timeout_problem() -> Problem {
    Problem::timeout("the request body took too long to arrive")
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
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let idle = Arc::new(IdleQueue::default());
    // Connections hold a receiver; shutdown waits until all are dropped.
    let (close_tx, close_rx) = watch::channel(());
    let mut accept_errors = 0u64;
    loop {
        let (stream, remote) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE, ENFILE, ECONNABORTED…: never fatal; pause so as not to spin.
                    accept_errors += 1;
                    if accept_errors.is_power_of_two() {
                        tracing::warn!(error = %e, count = accept_errors, "accepting a connection failed");
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Full: make room by closing the oldest connection that never said anything.
                let evicted = idle.evict_oldest();
                let waited = if evicted {
                    tokio::time::timeout(
                        Duration::from_millis(500),
                        permits.clone().acquire_owned(),
                    )
                    .await
                    .ok()
                    .and_then(Result::ok)
                } else {
                    None
                };
                match waited {
                    Some(permit) => permit,
                    None => {
                        metrics::counter!("connections_refused_total").increment(1);
                        drop(stream);
                        continue;
                    }
                }
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
        tokio::spawn(connection.serve(stream, tls.clone(), idle.clone(), permit));
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
    Ok(())
}

/// What one accepted connection needs.
struct Connection {
    remote: SocketAddr,
    app: axum::Router,
    limits: Arc<Limits>,
    shutdown: CancellationToken,
    /// Held by the connection and by each of its requests: shutdown waits for all of them.
    in_flight: watch::Receiver<()>,
}

impl Connection {
    async fn serve(
        self,
        stream: TcpStream,
        tls: Option<tokio_rustls::TlsAcceptor>,
        idle: Arc<IdleQueue>,
        permit: OwnedSemaphorePermit,
    ) {
        let _permit = permit;
        // Until the first bytes arrive the connection is idle and may be evicted.
        let waiting = idle.push();
        let protocol = tokio::select! {
            () = self.shutdown.cancelled() => None,
            () = waiting.evicted.cancelled() => None,
            ready = tokio::time::timeout(self.limits.header_read_timeout, first_bytes(&stream)) => {
                ready.ok().flatten()
            }
        };
        waiting.started.store(true, Ordering::Release);
        let Some(protocol) = protocol else {
            return;
        };
        let Some(tls) = tls else {
            return self.drive(stream, protocol).await;
        };
        let handshake = tokio::select! {
            () = self.shutdown.cancelled() => None,
            done = tokio::time::timeout(self.limits.header_read_timeout, tls.accept(stream)) => {
                match done {
                    Ok(Ok(stream)) => Some(stream),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, remote = %self.remote, "TLS handshake failed");
                        None
                    }
                    Err(_) => None,
                }
            }
        };
        let Some(stream) = handshake else {
            return;
        };
        let protocol = match stream.get_ref().1.alpn_protocol() {
            Some(b"h2") => Protocol::Http2,
            _ => Protocol::Http1,
        };
        self.drive(stream, protocol).await;
    }

    /// Serves HTTP on `io` until the peer leaves, the connection idles out, or shutdown has
    /// let its requests finish.
    async fn drive<S>(self, io: S, protocol: Protocol)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            remote,
            app,
            limits,
            shutdown,
            in_flight,
        } = self;
        let activity = Arc::new(Activity::default());
        let body_limits = (limits.body_idle_timeout, limits.body_total_timeout);
        let service = {
            let activity = activity.clone();
            hyper::service::service_fn(move |mut request: Request<Incoming>| {
                let active = activity.start();
                request.extensions_mut().insert(ConnectInfo(remote));
                let request = request.map(|body| Body::new(TimedBody::new(body, body_limits)));
                let (app, in_flight) = (app.clone(), in_flight.clone());
                // Each request runs in a task of its own, so that a client that goes away does
                // not cancel its handler half-way (a database transaction left open, a call
                // unrecorded): the handler finishes, and shutdown waits for it like for a
                // connection.
                let handler = tokio::spawn(async move {
                    let _in_flight = in_flight;
                    app.oneshot(request).await.unwrap_or_else(|e| match e {})
                });
                async move {
                    let response = handler.await.unwrap_or_else(|e| {
                        tracing::error!(error = %e, "a request handler failed");
                        Problem::internal().into_response()
                    });
                    // The stream stays open until its response body is sent (or dropped).
                    Ok::<Response, Infallible>(response.map(|body| {
                        Body::new(ActiveBody {
                            inner: body,
                            _active: active,
                        })
                    }))
                }
            })
        };
        let io = TokioIo::new(io);
        // One select loop for either protocol: serve; close when idle; on shutdown finish
        // in-flight requests. A connection asked to close that has no request in progress
        // and has not finished within CLOSE_GRACE is dropped (a peer that never answers the
        // HTTP/2 GOAWAY's PING would otherwise hold it).
        macro_rules! drive {
            ($connection:expr) => {{
                let connection = $connection;
                tokio::pin!(connection);
                let mut closing = false;
                let check = tokio::time::sleep(limits.idle_timeout);
                tokio::pin!(check);
                loop {
                    tokio::select! {
                        result = connection.as_mut() => {
                            if let Err(e) = result {
                                tracing::debug!(error = %e, %remote, "connection ended with an error");
                            }
                            break;
                        }
                        () = shutdown.cancelled(), if !closing => {
                            closing = true;
                            connection.as_mut().graceful_shutdown();
                            check.as_mut().reset(Instant::now() + CLOSE_GRACE);
                        }
                        () = check.as_mut() => {
                            if closing {
                                if activity.active() == 0 {
                                    break;
                                }
                                check.as_mut().reset(Instant::now() + CLOSE_GRACE);
                            } else {
                                match activity.idle_until(limits.idle_timeout) {
                                    Some(next) => check.as_mut().reset(next),
                                    None => {
                                        tracing::debug!(%remote, "closing an idle connection");
                                        closing = true;
                                        connection.as_mut().graceful_shutdown();
                                        check.as_mut().reset(Instant::now() + CLOSE_GRACE);
                                    }
                                }
                            }
                        }
                    }
                }
            }};
        }
        if protocol == Protocol::Http2 {
            let mut builder = http2::Builder::new(TokioExecutor::new());
            builder
                .timer(TokioTimer::new())
                .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
                .max_concurrent_streams(128)
                .keep_alive_interval(limits.keep_alive_interval)
                .keep_alive_timeout(limits.keep_alive_timeout);
            drive!(builder.serve_connection(io, service));
        } else {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(limits.max_header_bytes.max(8192) + 16 * 1024)
                .max_header_size(limits.max_header_bytes)
                .max_headers(limits.max_headers);
            drive!(builder.serve_connection(io, service).with_upgrades());
        }
    }
}

/// Requests in progress on one connection, and when the last one ended.
struct Activity {
    active: AtomicUsize,
    origin: std::time::Instant,
    /// Milliseconds after `origin` when the connection last had no request in progress.
    last_ms: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            active: AtomicUsize::new(0),
            origin: std::time::Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl Activity {
    fn start(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        ActiveGuard(self.clone())
    }

    fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// When to look again if the connection is not yet idle for `idle`; None once it is.
    fn idle_until(&self, idle: Duration) -> Option<Instant> {
        let now = Instant::now();
        if self.active() > 0 {
            return Some(now + idle);
        }
        let last = self.origin + Duration::from_millis(self.last_ms.load(Ordering::Acquire));
        let due = tokio::time::Instant::from_std(last) + idle;
        (due > now).then_some(due)
    }
}

/// One request in progress; dropped when its response has been sent.
struct ActiveGuard(Arc<Activity>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_ms.fetch_max(ms, Ordering::AcqRel);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in progress until it is dropped.
struct ActiveBody {
    inner: Body,
    _active: ActiveGuard,
}

impl HttpBody for ActiveBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// Waits until the peer has sent at least one byte, and, when it starts like the HTTP/2
/// preface, the whole 24-byte preface; tells which protocol it speaks. None when the peer
/// closed first.
async fn first_bytes(stream: &TcpStream) -> Option<Protocol> {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut buf = [0u8; 24];
    loop {
        match stream.peek(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) if buf[..n] != PREFACE[..n.min(PREFACE.len())] => return Some(Protocol::Http1),
            Ok(n) if n >= PREFACE.len() => return Some(Protocol::Http2),
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Connections that have not sent anything yet, oldest first.
#[derive(Default)]
struct IdleQueue {
    queue: Mutex<VecDeque<Arc<Waiting>>>,
}

struct Waiting {
    started: AtomicBool,
    evicted: CancellationToken,
}

impl IdleQueue {
    fn push(&self) -> Arc<Waiting> {
        let waiting = Arc::new(Waiting {
            started: AtomicBool::new(false),
            evicted: CancellationToken::new(),
        });
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        // Forget connections that have started (or ended) so the queue stays small.
        if queue.len() >= 1024 && queue.len().is_power_of_two() {
            queue.retain(|w| !w.started.load(Ordering::Acquire));
        }
        queue.push_back(waiting.clone());
        waiting
    }

    /// Closes the oldest still idle connection; false when there is none.
    fn evict_oldest(&self) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(waiting) = queue.pop_front() {
            if !waiting.started.load(Ordering::Acquire) {
                waiting.evicted.cancel();
                return true;
            }
        }
        false
    }
}

/// A request body that fails with [`BodyTimeout`] when it stalls or takes too long.
struct TimedBody {
    inner: Incoming,
    idle_timeout: Duration,
    deadline: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl TimedBody {
    fn new(inner: Incoming, (idle_timeout, total): (Duration, Duration)) -> Self {
        let now = Instant::now();
        let deadline = now + total;
        Self {
            inner,
            idle_timeout,
            deadline,
            sleep: Box::pin(tokio::time::sleep_until((now + idle_timeout).min(deadline))),
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = (Instant::now() + this.idle_timeout).min(this.deadline);
                this.sleep.as_mut().reset(next);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn timeouts_are_found_in_source_chains() {
        let direct: Box<dyn StdError + Send + Sync> = Box::new(BodyTimeout);
        assert!(is_body_timeout(direct.as_ref()));
        let wrapped = axum::Error::new(BodyTimeout);
        assert!(is_body_timeout(&wrapped));
        let other = std::io::Error::other("x");
        assert!(!is_body_timeout(&other));
        assert_eq!(body_timeout_problem().status, StatusCode::REQUEST_TIMEOUT);
    }

    #[test]
    fn eviction_skips_started_connections() {
        let queue = IdleQueue::default();
        let a = queue.push();
        let b = queue.push();
        a.started.store(true, Ordering::Release);
        assert!(queue.evict_oldest());
        assert!(!a.evicted.is_cancelled());
        assert!(b.evicted.is_cancelled());
        assert!(!queue.evict_oldest());
    }
}
