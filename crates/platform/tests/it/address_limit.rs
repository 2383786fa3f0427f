//! One client address cannot lock everyone else out (issue 28): over real loopback sockets, an
//! address that fills the whole connection cap with busy keep-alive connections gives way to
//! a newcomer from another address, and an address over its own cap is refused while others
//! are served.

use crate::support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use platform::client_addr::TrustedProxies;
use platform::server::Limits;
use support::{connect_from, hello_from, ip, require_open_files, Server};
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// More than the server's cap of 4 096.
const HOLD: usize = 4200;
/// Each connection sends a request this often.
const PERIOD: Duration = Duration::from_secs(3);

/// What the clients of the crowding address see.
#[derive(Default)]
struct Crowd {
    /// Connections that have been answered and are still open.
    live: AtomicUsize,
    /// Connections that ended (refused or closed by the server).
    ended: AtomicUsize,
    stop: AtomicBool,
}

/// One client of the crowd: a keep-alive connection from 127.0.0.1 that sends `GET /hello`
/// every [`PERIOD`], and opens a new one when the server closes it.
async fn busy_client(
    server: std::net::SocketAddr,
    crowd: Arc<Crowd>,
    connecting: Arc<Semaphore>,
    offset: Duration,
) {
    while !crowd.stop.load(Ordering::Relaxed) {
        let permit = connecting.acquire().await.unwrap();
        let Ok(stream) = connect_from(ip("127.0.0.1"), server).await else {
            drop(permit);
            crowd.ended.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        drop(permit);
        let Ok((mut sender, connection)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            continue;
        };
        tokio::spawn(connection);
        let mut counted = false;
        loop {
            let request = hyper::Request::get(format!("http://{server}/hello"))
                .body(Empty::<Bytes>::new())
                .unwrap();
            let answered = match sender.send_request(request).await {
                Ok(response) => response.into_body().collect().await.is_ok(),
                Err(_) => false,
            };
            if !answered {
                break;
            }
            if !counted {
                counted = true;
                crowd.live.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(offset).await;
            }
            tokio::time::sleep(PERIOD).await;
        }
        if counted {
            crowd.live.fetch_sub(1, Ordering::Relaxed);
        }
        crowd.ended.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_holding_every_slot_with_busy_connections_gives_way_to_a_newcomer() {
    require_open_files(2 * HOLD as u64 + 500);
    // No cap per address: one address fills the whole server, as before issue 28.
    let limits = Limits {
        max_connections_per_address: None,
        ..Limits::default()
    };
    let cap = limits.max_connections;
    let server = Server::hello(limits).await;
    let crowd = Arc::new(Crowd::default());
    let connecting = Arc::new(Semaphore::new(256));
    let mut clients = JoinSet::new();
    for i in 0..HOLD {
        let offset = PERIOD.mul_f64(i as f64 / HOLD as f64);
        clients.spawn(busy_client(
            server.addr,
            crowd.clone(),
            connecting.clone(),
            offset,
        ));
    }

    // Wait until the crowd holds every slot and the server turns its extra connections away.
    let deadline = Instant::now() + Duration::from_secs(120);
    while crowd.live.load(Ordering::Relaxed) < cap || crowd.ended.load(Ordering::Relaxed) == 0 {
        assert!(
            Instant::now() < deadline,
            "the crowd got {} of {cap} slots ({} connections ended)",
            crowd.live.load(Ordering::Relaxed),
            crowd.ended.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let started = Instant::now();
    let answer = hello_from(ip("127.0.0.2"), server.addr).await;
    let took = started.elapsed();
    eprintln!(
        "127.0.0.1 held {} connections; 127.0.0.2 was answered in {took:?}",
        crowd.live.load(Ordering::Relaxed)
    );
    let answer = answer.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("hi"), "{answer}");
    assert!(took < Duration::from_secs(1), "took {took:?}");

    crowd.stop.store(true, Ordering::Relaxed);
    clients.abort_all();
}

#[tokio::test]
async fn an_address_over_its_cap_is_refused_while_others_and_trusted_proxies_are_served() {
    let limits = Limits {
        max_connections_per_address: Some(3),
        trusted_proxies: TrustedProxies::parse("127.0.0.3").unwrap(),
        ..Limits::default()
    };
    let server = Server::hello(limits).await;
    let (crowd, other, proxy) = (ip("127.0.0.1"), ip("127.0.0.2"), ip("127.0.0.3"));
    // Three connections of 127.0.0.1 that have each been answered and stay open.
    let mut held = Vec::new();
    for from in [crowd, crowd, crowd, proxy, proxy, proxy, proxy] {
        let stream = connect_from(from, server.addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let request = hyper::Request::get("/hello")
            .header("host", "x")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200, "from {from}");
        held.push(sender);
    }
    // A fourth from 127.0.0.1 is closed without an answer; another address is served.
    let refused = hello_from(crowd, server.addr).await;
    assert!(
        !refused.as_deref().unwrap_or_default().contains("200 OK"),
        "{refused:?}"
    );
    let served = hello_from(other, server.addr).await.unwrap();
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    // Turning the newcomer away closed none of the connections 127.0.0.1 holds.
    assert!(held.iter().all(|s| !s.is_closed()));
}

#[tokio::test]
async fn at_its_cap_an_address_makes_room_by_closing_its_oldest_silent_connection() {
    let limits = Limits {
        max_connections_per_address: Some(2),
        ..Limits::default()
    };
    let server = Server::hello(limits).await;
    let from = ip("127.0.0.1");
    let mut oldest = connect_from(from, server.addr).await.unwrap();
    let _silent = connect_from(from, server.addr).await.unwrap();
    // Accepted in order: the two silent ones are counted before the newcomer.
    let served = hello_from(from, server.addr).await.unwrap();
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), oldest.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the oldest silent connection was closed: {read:?}"
    );
}
