//! The server loop against real sockets: idle HTTP/2 and HTTP/1 connections are closed and
//! give their slot back, and TLS serves HTTP/1.1 and HTTP/2 and picks up a new certificate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use platform::server::{serve_on, Limits};
use platform::tls::TlsFiles;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start(limits: Limits, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
    let app = axum::Router::new().route("/hello", get(|| async { "hi" }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(serve_on(listener, app, stop.clone(), limits, tls));
    Server { addr, stop }
}

/// Reads until the peer closes; how long that took, or None when it stayed open.
async fn closed_within(
    stream: &mut (impl AsyncReadExt + Unpin),
    wait: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + wait).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

async fn http1_get(addr: SocketAddr) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .map_err(|_| "no answer".to_owned())?
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn short_idle() -> Limits {
    Limits {
        max_connections: 4,
        idle_timeout: Duration::from_secs(1),
        // Long, so that only the idle timeout can close the connections below.
        keep_alive_interval: Duration::from_secs(60),
        ..Limits::default()
    }
}

#[tokio::test]
async fn preface_only_http2_connections_are_closed_when_idle_and_free_their_slots() {
    let server = start(short_idle(), None).await;
    let mut squatters = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(PREFACE).await.unwrap();
        squatters.push(stream);
    }
    // Every slot is held by a connection that has spoken: a newcomer is turned away.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = http1_get(server.addr).await;
    assert!(
        !refused.as_deref().unwrap_or_default().contains("200 OK"),
        "{refused:?}"
    );
    for stream in &mut squatters {
        let closed = closed_within(stream, Duration::from_secs(5)).await;
        assert!(closed.is_some(), "a preface-only connection stayed open");
    }
    let answer = http1_get(server.addr).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn an_http2_connection_idle_after_its_requests_is_closed() {
    let server = start(short_idle(), None).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let driven = tokio::spawn(async move {
        let started = Instant::now();
        let _ = connection.await;
        started.elapsed()
    });
    for _ in 0..3 {
        let request = hyper::Request::get(format!("http://{}/hello", server.addr))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hi");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Still open while used every 300 ms; closed about a second after the last stream.
    let lasted = tokio::time::timeout(Duration::from_secs(5), driven)
        .await
        .expect("the idle HTTP/2 connection was not closed")
        .unwrap();
    assert!(
        lasted >= Duration::from_millis(1500),
        "closed after {lasted:?}"
    );
    drop(sender);
}

#[tokio::test]
async fn an_idle_http1_keep_alive_connection_is_closed() {
    let server = start(short_idle(), None).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let closed = closed_within(&mut stream, Duration::from_secs(5)).await;
    assert!(
        closed.is_some(),
        "an idle keep-alive connection stayed open"
    );
}

struct Pki {
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    dir: PathBuf,
}

impl Pki {
    fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        let dir = std::env::temp_dir().join(format!("platform-tls-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { ca, dir }
    }

    fn files(&self) -> TlsFiles {
        TlsFiles {
            cert: self.dir.join("tls.crt"),
            key: self.dir.join("tls.key"),
        }
    }

    /// Writes a new leaf certificate and key for `localhost`; returns the certificate.
    fn issue(&self) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let files = self.files();
        // Replaced like a mounted Secret: new files renamed over the old ones.
        for (path, text) in [(&files.key, key.serialize_pem()), (&files.cert, cert.pem())] {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
        cert.der().clone()
    }

    fn client(&self, alpn: &[u8]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

async fn tls_connect(pki: &Pki, addr: SocketAddr, alpn: &[u8]) -> TlsStream {
    let tcp = TcpStream::connect(addr).await.unwrap();
    pki.client(alpn)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

fn served_cert(stream: &TlsStream) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

async fn get_over(stream: TlsStream, addr: SocketAddr) -> (u16, Bytes) {
    let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let request = hyper::Request::get(format!("https://localhost:{}/hello", addr.port()))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = if http2 {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await.unwrap()
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        sender.send_request(request).await.unwrap()
    };
    let status = response.status().as_u16();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

/// Polls the served certificate until it is `expected`; false past the deadline.
async fn serves(pki: &Pki, addr: SocketAddr, expected: &CertificateDer<'_>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if served_cert(&tls_connect(pki, addr, b"http/1.1").await) == *expected {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn tls_serves_both_protocols_and_reloads_a_replaced_certificate() {
    let pki = Pki::new();
    let first = pki.issue();
    let config = platform::tls::server_config(&pki.files(), Duration::from_millis(100)).unwrap();
    let server = start(Limits::default(), Some(config)).await;

    for (alpn, expected) in [(&b"h2"[..], &b"h2"[..]), (b"http/1.1", b"http/1.1")] {
        let stream = tls_connect(&pki, server.addr, alpn).await;
        assert_eq!(stream.get_ref().1.alpn_protocol(), Some(expected));
        assert_eq!(served_cert(&stream), first);
        let (status, body) = get_over(stream, server.addr).await;
        assert_eq!((status, &body[..]), (200, &b"hi"[..]));
    }
    // Plain HTTP on a TLS listener gets nowhere.
    assert!(http1_get(server.addr)
        .await
        .map_or(true, |answer| !answer.contains("200 OK")));

    let second = pki.issue();
    assert_ne!(first, second);
    assert!(
        serves(&pki, server.addr, &second).await,
        "the new certificate was not served"
    );

    // A broken replacement is refused and the current certificate stays.
    std::fs::write(pki.files().cert, "not a certificate").unwrap();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stream = tls_connect(&pki, server.addr, b"h2").await;
        assert_eq!(served_cert(&stream), second);
    }
    let third = pki.issue();
    assert!(
        serves(&pki, server.addr, &third).await,
        "no reload after a failed one"
    );
    let (status, _) = get_over(tls_connect(&pki, server.addr, b"h2").await, server.addr).await;
    assert_eq!(status, 200);
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let pki = Pki::new();
    pki.issue();
    let files = pki.files();
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(&files.key, other.serialize_pem()).unwrap();
    let error = platform::tls::load(&files).unwrap_err();
    assert!(format!("{error:#}").contains("does not match"), "{error:#}");
}
