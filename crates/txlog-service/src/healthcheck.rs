//! `txlog-service healthcheck`: asks the local service's `/readyz` (for container probes).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The address to probe: the listen address, with a wildcard host replaced by loopback.
pub fn probe_addr(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// True when `GET /readyz` answers 200 within 5 seconds.
pub async fn is_ready(listen: SocketAddr) -> bool {
    let url = format!("http://{}/readyz", probe_addr(listen));
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    else {
        return false;
    };
    match client.get(&url).send().await {
        Ok(response) => response.status() == reqwest::StatusCode::OK,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::probe_addr;

    #[test]
    fn wildcards_become_loopback() {
        assert_eq!(
            probe_addr("0.0.0.0:8081".parse().unwrap()),
            "127.0.0.1:8081".parse().unwrap()
        );
        assert_eq!(
            probe_addr("[::]:8081".parse().unwrap()),
            "[::1]:8081".parse().unwrap()
        );
        assert_eq!(
            probe_addr("10.0.0.5:80".parse().unwrap()),
            "10.0.0.5:80".parse().unwrap()
        );
    }
}
