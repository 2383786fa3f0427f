//! A connection waiting for the rest of an HTTP/2 preface costs no CPU (issue 28): the server
//! reads the first bytes when they arrive instead of peeking for them every few milliseconds.
//! This test holds 4 000 connections that each sent 16 of the 24 preface bytes and counts the
//! CPU seconds the whole process (server and idle clients) uses over 3 s.

// Its own binary, not a module of `it`: it counts the CPU time of the whole process, which
// under `cargo test` would include the tests running beside it in the same binary.
#[path = "it/support/mod.rs"]
mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use platform::server::Limits;
use support::{connect_from, hello_from, ip, process_cpu, require_open_files, Server};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HOLD: usize = 4000;
const WINDOW: Duration = Duration::from_secs(3);
const MAX_CPU: Duration = Duration::from_millis(300);

/// Client addresses 127.0.1.1 to 127.0.16.250: 250 connections each, under the default cap
/// per address.
fn client_address(i: usize) -> IpAddr {
    let (hi, lo) = (1 + i / 250, 1 + i % 250);
    IpAddr::V4(Ipv4Addr::new(127, 0, hi as u8, lo as u8))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_waiting_for_the_rest_of_the_http2_preface_cost_no_cpu() {
    require_open_files(2 * HOLD as u64 + 500);
    let limits = Limits {
        // Long enough that no connection times out while it is measured.
        header_read_timeout: Duration::from_secs(120),
        ..Limits::default()
    };
    let server = Server::hello(limits).await;
    let connecting = Arc::new(Semaphore::new(256));
    let mut opening = JoinSet::new();
    for i in 0..HOLD {
        let (addr, connecting) = (server.addr, connecting.clone());
        opening.spawn(async move {
            let _permit = connecting.acquire().await.unwrap();
            let mut stream = connect_from(client_address(i), addr).await.unwrap();
            stream.write_all(&PREFACE[..16]).await.unwrap();
            stream
        });
    }
    let mut held = Vec::with_capacity(HOLD);
    while let Some(stream) = opening.join_next().await {
        held.push(stream.unwrap());
    }
    // The server accepts in order: once a later client is answered, all 4 000 were accepted.
    let answer = hello_from(ip("127.0.0.2"), server.addr).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let before = process_cpu();
    tokio::time::sleep(WINDOW).await;
    let used = process_cpu() - before;
    eprintln!("{HOLD} partial prefaces held for {WINDOW:?} cost {used:?} of CPU");

    // They were all still held, waiting, the whole time.
    let mut buf = [0u8; 1];
    let open = held
        .iter()
        .filter(|s| {
            matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count();
    assert_eq!(open, HOLD, "connections the server closed or answered");
    assert!(
        used < MAX_CPU,
        "{HOLD} waiting connections used {used:?} of CPU in {WINDOW:?}"
    );
}
