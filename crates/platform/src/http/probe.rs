//! The `healthcheck` command of both binaries.

use std::net::SocketAddr;

use axum::http::StatusCode;

/// Probes `GET /readyz` of a service listening on `listen` (0.0.0.0 means this host); returns
/// the process exit status: 0 when ready.
pub async fn healthcheck(listen: SocketAddr) -> i32 {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build();
    let ready = match client {
        Ok(client) => client
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK),
        Err(_) => false,
    };
    i32::from(!ready)
}
