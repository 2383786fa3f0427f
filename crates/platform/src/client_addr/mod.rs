//! Who is calling: the client address of a request, through trusted proxies.
//!
//! The server loop ([`crate::server`]) resolves the address of every request once, from the
//! TCP peer and [`TrustedProxies`] (`<P>_TRUSTED_PROXIES`), and puts it in the request's
//! extensions as a [`ClientAddr`]; [`client_addr`] reads it. Everything that needs the caller's
//! address (the anonymous rate limit, the access log, the `client_ip` the order service
//! records) goes through [`client_addr`].
//!
//! When the peer is not a trusted proxy its address is the client's, whatever the headers say
//! (anyone can write `X-Forwarded-For`). When it is, the client is the right-most entry of
//! `X-Forwarded-For` (or, without that header, of `Forwarded: for=`) that is not itself a
//! trusted proxy: each trusted proxy appends the address it saw, so entries to the left of
//! the first untrusted one are the caller's own claims and are ignored.

mod forwarded;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request};
use ipnet::IpNet;

use crate::config::{optional_env, ConfigError};

/// The resolved client address of a request (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client address of `request`: the [`ClientAddr`] the server resolved, else the TCP peer
/// ([`ConnectInfo`]), else `None` (a router called without a server, as in unit tests).
pub fn client_addr<B>(request: &Request<B>) -> Option<IpAddr> {
    let extensions = request.extensions();
    extensions.get::<ClientAddr>().map(|c| c.0).or_else(|| {
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_canonical())
    })
}

/// The address ranges of the proxies in front of the service (`<P>_TRUSTED_PROXIES`); none by
/// default.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    pub fn none() -> Self {
        Self::default()
    }

    /// `10.0.0.0/8, 192.168.7.1, fd00::/8`: CIDR ranges or single addresses, comma-separated.
    /// `None` for anything else; an empty list is none.
    pub fn parse(text: &str) -> Option<Self> {
        let mut nets = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = entry
                .parse::<IpNet>()
                .ok()
                .or_else(|| entry.parse::<IpAddr>().ok().map(IpNet::from))?;
            nets.push(net.trunc());
        }
        Some(Self(nets.into()))
    }

    /// `var` (such as `ORDERS_TRUSTED_PROXIES`); unset or empty is none.
    pub fn from_env(var: &str) -> Result<Self, ConfigError> {
        match optional_env(var)? {
            None => Ok(Self::none()),
            Some(text) => Self::parse(&text).ok_or_else(|| {
                ConfigError::new(
                    var,
                    "must be a comma-separated list of CIDR ranges or addresses, like 10.0.0.0/8, 192.168.1.10",
                )
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is in one of the ranges (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a request that came from `peer` with `headers`.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let Some(hops) = forwarded::hops(headers) else {
            return peer;
        };
        // Walk from the nearest hop outwards, past trusted proxies.
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.contains(*ip) => client = *ip,
                Some(ip) => return *ip,
                // Not an address: nothing beyond it can be told apart, stop at the last proxy.
                None => return client,
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn lists_of_ranges_and_addresses_parse() {
        let trusted = TrustedProxies::parse(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8,").unwrap();
        assert!(trusted.contains(ip("10.200.3.4")));
        assert!(trusted.contains(ip("::ffff:10.1.1.1")));
        assert!(trusted.contains(ip("192.168.1.7")));
        assert!(!trusted.contains(ip("192.168.1.8")));
        assert!(trusted.contains(ip("fd12::1")));
        assert!(!trusted.contains(ip("2001:db8::1")));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        for bad in [
            "10.0.0.0/33",
            "10.0.0",
            "ingress",
            "10.0.0.0/8;1.2.3.4",
            "::/129",
        ] {
            assert!(TrustedProxies::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_the_headers_say() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let peer = ip("203.0.113.9");
        assert_eq!(trusted.resolve(peer, &xff("198.51.100.1")), peer);
        assert_eq!(TrustedProxies::none().resolve(peer, &xff("10.0.0.1")), peer);
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_entry_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let proxy = ip("10.0.0.2");
        // The caller wrote 1.1.1.1 itself; the ingress appended what it saw.
        assert_eq!(
            trusted.resolve(proxy, &xff("1.1.1.1, 198.51.100.1")),
            ip("198.51.100.1")
        );
        // Two trusted hops.
        assert_eq!(
            trusted.resolve(proxy, &xff("1.1.1.1, 198.51.100.1, 10.0.0.9")),
            ip("198.51.100.1")
        );
        // No header, or only proxies: the left-most proxy, or the peer.
        assert_eq!(trusted.resolve(proxy, &HeaderMap::new()), proxy);
        assert_eq!(trusted.resolve(proxy, &xff("10.0.0.7")), ip("10.0.0.7"));
        // Garbage stops the walk at the last proxy.
        assert_eq!(trusted.resolve(proxy, &xff("1.1.1.1, nonsense")), proxy);
        // RFC 7239, when there is no X-Forwarded-For.
        let mut forwarded = HeaderMap::new();
        forwarded.insert(
            "forwarded",
            HeaderValue::from_static(r#"for=1.1.1.1, for="[2001:db8::5]:443""#),
        );
        assert_eq!(trusted.resolve(proxy, &forwarded), ip("2001:db8::5"));
    }
}
