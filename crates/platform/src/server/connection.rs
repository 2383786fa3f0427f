//! One accepted connection: its first bytes (which protocol), its TLS handshake, then HTTP/1.1
//! or HTTP/2 until the peer leaves, the connection idles out, or shutdown has let its requests
//! finish.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::activity::{ActiveBody, ActiveGuard, Activity};
use super::body::TimedBody;
use super::rewind::{first_bytes, Protocol, Rewind};
use super::room::Seat;
use super::Limits;
use crate::client_addr::ClientAddr;
use crate::Problem;

/// How long a connection asked to close (idle or shutting down) may take to finish its
/// goodbye while no request is in progress; then it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The same for a connection closed to make room for a newcomer, who waits for its slot.
const EVICT_GRACE: Duration = Duration::from_millis(100);

/// What one accepted connection needs.
pub(super) struct Connection {
    pub remote: SocketAddr,
    pub app: axum::Router,
    pub limits: Arc<Limits>,
    pub shutdown: CancellationToken,
    /// Held by the connection and by each of its requests: shutdown waits for all of them.
    pub in_flight: watch::Receiver<()>,
}

impl Connection {
    pub async fn serve(
        self,
        stream: TcpStream,
        tls: Option<tokio_rustls::TlsAcceptor>,
        seat: Seat,
    ) {
        let slot = seat.slot().clone();
        // Until the first bytes arrive the connection is silent and may be evicted.
        let first = tokio::select! {
            () = self.shutdown.cancelled() => None,
            () = slot.evicted.cancelled() => None,
            ready = tokio::time::timeout(self.limits.header_read_timeout, first_bytes(stream)) => {
                ready.ok().flatten()
            }
        };
        slot.started.store(true, Ordering::Release);
        let Some((protocol, stream)) = first else {
            return;
        };
        match tls {
            None => self.drive(stream, protocol, seat).await,
            Some(tls) => {
                if let Some((stream, protocol)) = self.tls_handshake(&tls, stream, &seat).await {
                    self.drive(stream, protocol, seat).await;
                }
            }
        }
    }

    /// The TLS stream and the protocol ALPN chose; `None` when the handshake failed, took
    /// longer than the header read timeout, or shutdown came first.
    async fn tls_handshake(
        &self,
        tls: &tokio_rustls::TlsAcceptor,
        stream: Rewind<TcpStream>,
        seat: &Seat,
    ) -> Option<(tokio_rustls::server::TlsStream<Rewind<TcpStream>>, Protocol)> {
        let stream = tokio::select! {
            () = self.shutdown.cancelled() => return None,
            () = seat.slot().evicted.cancelled() => return None,
            done = tokio::time::timeout(self.limits.header_read_timeout, tls.accept(stream)) => {
                match done {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, remote = %self.remote, "TLS handshake failed");
                        return None;
                    }
                    Err(_) => return None,
                }
            }
        };
        let protocol = match stream.get_ref().1.alpn_protocol() {
            Some(b"h2") => Protocol::Http2,
            _ => Protocol::Http1,
        };
        Some((stream, protocol))
    }

    /// Serves HTTP on `io` until the peer leaves, the connection idles out or is closed to
    /// make room, or shutdown has let its requests finish.
    async fn drive<S>(self, io: S, protocol: Protocol, seat: Seat)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::default());
        seat.slot().serving(activity.clone());
        let service = {
            let (remote, app, in_flight) = (self.remote, self.app.clone(), self.in_flight.clone());
            let body_limits = (
                self.limits.body_idle_timeout,
                self.limits.body_total_timeout,
            );
            let proxies = self.limits.trusted_proxies.clone();
            let activity = activity.clone();
            hyper::service::service_fn(move |mut request: Request<Incoming>| {
                let client = proxies.resolve(remote.ip(), request.headers());
                request.extensions_mut().insert(ConnectInfo(remote));
                request.extensions_mut().insert(ClientAddr(client));
                let request = request.map(|body| Body::new(TimedBody::new(body, body_limits)));
                respond(app.clone(), request, in_flight.clone(), activity.start())
            })
        };
        let io = TokioIo::new(io);
        let watch = Watch {
            remote: self.remote,
            shutdown: &self.shutdown,
            evicted: &seat.slot().evicted,
            activity: &activity,
            idle_timeout: self.limits.idle_timeout,
        };
        match protocol {
            Protocol::Http2 => {
                let connection = http2_builder(&self.limits).serve_connection(io, service);
                watch
                    .until_closed(connection, |c| c.graceful_shutdown())
                    .await;
            }
            Protocol::Http1 => {
                let connection = http1_builder(&self.limits)
                    .serve_connection(io, service)
                    .with_upgrades();
                watch
                    .until_closed(connection, |c| c.graceful_shutdown())
                    .await;
            }
        }
    }
}

/// Answers one request. The handler runs in a task of its own, so that a client that goes
/// away does not cancel it half-way (a database transaction left open, a call unrecorded): the
/// handler finishes, and shutdown waits for it (`in_flight`) like for a connection. The
/// request counts as in progress (`active`) until its response body is sent or dropped.
fn respond(
    app: axum::Router,
    request: Request<Body>,
    in_flight: watch::Receiver<()>,
    active: ActiveGuard,
) -> impl Future<Output = Result<Response, Infallible>> {
    let handler = tokio::spawn(async move {
        let _in_flight = in_flight;
        app.oneshot(request).await.unwrap_or_else(|e| match e {})
    });
    async move {
        let response = handler.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "a request handler failed");
            Problem::internal().into_response()
        });
        Ok(response.map(|body| {
            Body::new(ActiveBody {
                inner: body,
                _active: active,
            })
        }))
    }
}

fn http2_builder(limits: &Limits) -> http2::Builder<TokioExecutor> {
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(128)
        .keep_alive_interval(limits.keep_alive_interval)
        .keep_alive_timeout(limits.keep_alive_timeout);
    builder
}

fn http1_builder(limits: &Limits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192) + 16 * 1024)
        .max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers);
    builder
}

/// What decides when a served connection ends, whichever its protocol.
struct Watch<'a> {
    remote: SocketAddr,
    shutdown: &'a CancellationToken,
    evicted: &'a CancellationToken,
    activity: &'a Activity,
    idle_timeout: Duration,
}

/// What to do when the connection's timer fires.
enum Check {
    /// Look again then.
    At(Instant),
    /// Idle for the idle timeout: ask it to close.
    Close,
    /// Asked to close, and no request in progress: drop it.
    Drop,
}

impl Watch<'_> {
    /// Serves `connection`; closes it when idle or evicted; on shutdown lets in-flight
    /// requests finish. A connection asked to close (`graceful_shutdown`) that has no request
    /// in progress and has not finished within [`CLOSE_GRACE`] ([`EVICT_GRACE`] when evicted)
    /// is dropped (a peer that never answers the HTTP/2 GOAWAY's PING would otherwise hold it).
    async fn until_closed<C, E>(&self, connection: C, graceful_shutdown: impl Fn(Pin<&mut C>))
    where
        C: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        tokio::pin!(connection);
        let mut closing = false;
        let check = tokio::time::sleep(self.idle_timeout);
        tokio::pin!(check);
        loop {
            let grace = tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, remote = %self.remote, "connection ended with an error");
                    }
                    return;
                }
                () = self.shutdown.cancelled(), if !closing => CLOSE_GRACE,
                () = self.evicted.cancelled(), if !closing => {
                    tracing::debug!(remote = %self.remote, "closing a connection to make room");
                    EVICT_GRACE
                }
                () = check.as_mut() => match self.check(closing) {
                    Check::At(when) => {
                        check.as_mut().reset(when);
                        continue;
                    }
                    Check::Close => {
                        tracing::debug!(remote = %self.remote, "closing an idle connection");
                        CLOSE_GRACE
                    }
                    Check::Drop => return,
                },
            };
            // Shutting down, idle or evicted: ask the connection to close, and give it a grace.
            closing = true;
            graceful_shutdown(connection.as_mut());
            check.as_mut().reset(Instant::now() + grace);
        }
    }

    fn check(&self, closing: bool) -> Check {
        if closing {
            return match self.activity.active() {
                0 => Check::Drop,
                _ => Check::At(Instant::now() + CLOSE_GRACE),
            };
        }
        match self.activity.idle_until(self.idle_timeout) {
            Some(next) => Check::At(next),
            None => Check::Close,
        }
    }
}
