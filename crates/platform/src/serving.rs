//! How a service listens: the limits, TLS, a separate metrics port and the stop sequence
//! (SPEC section 11), the same for both services.
//!
//! The stop sequence: when the stop token is cancelled, `/readyz` answers 503 at once
//! ([`Serving::draining`]), the listeners keep serving for the shutdown delay so that load
//! balancers stop routing here, then they stop accepting and in-flight requests finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::client_addr::TrustedProxies;
use crate::config::{optional_env, ConfigError};
use crate::server::Limits;
use crate::tls::TlsFiles;

/// The listener settings of one service.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub limits: Limits,
    /// How long the listener keeps serving after a stop signal (with `/readyz` at 503).
    pub shutdown_delay: Duration,
    pub tls: Option<TlsFiles>,
    /// Serve `/metrics` here only (plain HTTP) instead of on the main listener.
    pub metrics_listen: Option<SocketAddr>,
}

/// The SPEC's default for `<P>_SHUTDOWN_DELAY`.
pub const DEFAULT_SHUTDOWN_DELAY: Duration = Duration::from_secs(5);

impl Default for ServerConfig {
    /// For embedding and tests: default limits, plain HTTP, metrics on the main listener, and
    /// no shutdown delay (there is no load balancer to wait for). [`ServerConfig::from_env`]
    /// starts from the SPEC's defaults instead.
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            shutdown_delay: Duration::ZERO,
            tls: None,
            metrics_listen: None,
        }
    }
}

impl ServerConfig {
    /// `<P>_SHUTDOWN_DELAY`, `<P>_TLS_CERT_FILE` with `<P>_TLS_KEY_FILE`, `<P>_METRICS_LISTEN`,
    /// `<P>_MAX_CONNECTIONS_PER_ADDRESS`, `<P>_TRUSTED_PROXIES`. `listen` is the main address,
    /// which the metrics address must differ from.
    pub fn from_env(prefix: &str, listen: SocketAddr) -> Result<Self, ConfigError> {
        let delay_var = format!("{prefix}_SHUTDOWN_DELAY");
        let shutdown_delay = match optional_env(&delay_var)? {
            None => DEFAULT_SHUTDOWN_DELAY,
            Some(text) => parse_duration(&text)
                .filter(|d| *d <= Duration::from_secs(600))
                .ok_or_else(|| {
                    ConfigError::new(
                        &delay_var,
                        "must be a duration from 0 to 600s, like 5s, 500ms or 0",
                    )
                })?,
        };
        let metrics_var = format!("{prefix}_METRICS_LISTEN");
        let metrics_listen = match optional_env(&metrics_var)? {
            None => None,
            Some(text) => {
                let addr: SocketAddr = text.trim().parse().map_err(|_| {
                    ConfigError::new(&metrics_var, "must be an address like 0.0.0.0:9090")
                })?;
                if addr == listen && addr.port() != 0 {
                    return Err(ConfigError::new(
                        &metrics_var,
                        format!("must differ from {prefix}_LISTEN"),
                    ));
                }
                Some(addr)
            }
        };
        let mut limits = Limits::default();
        let per_address_var = format!("{prefix}_MAX_CONNECTIONS_PER_ADDRESS");
        if let Some(text) = optional_env(&per_address_var)? {
            limits.max_connections_per_address = parse_per_address(&text, limits.max_connections)
                .ok_or_else(|| {
                ConfigError::new(
                    &per_address_var,
                    format!(
                        "must be a whole number from 1 to {}, or off",
                        limits.max_connections
                    ),
                )
            })?;
        }
        limits.trusted_proxies = TrustedProxies::from_env(&format!("{prefix}_TRUSTED_PROXIES"))?;
        Ok(Self {
            limits,
            shutdown_delay,
            tls: tls_from_env(prefix)?,
            metrics_listen,
        })
    }
}

/// `<P>_TLS_CERT_FILE` and `<P>_TLS_KEY_FILE`: both or neither, and loadable now.
fn tls_from_env(prefix: &str) -> Result<Option<TlsFiles>, ConfigError> {
    let cert_var = format!("{prefix}_TLS_CERT_FILE");
    let key_var = format!("{prefix}_TLS_KEY_FILE");
    let files = match (optional_env(&cert_var)?, optional_env(&key_var)?) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(ConfigError::new(
                &key_var,
                format!("is required with {cert_var}"),
            ))
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                &cert_var,
                format!("is required with {key_var}"),
            ))
        }
        (Some(cert), Some(key)) => TlsFiles {
            cert: cert.into(),
            key: key.into(),
        },
    };
    crate::tls::read_chain(&files.cert)
        .map_err(|e| ConfigError::new(&cert_var, format!("is not usable: {e:#}")))?;
    crate::tls::load(&files)
        .map_err(|e| ConfigError::new(&key_var, format!("is not usable: {e:#}")))?;
    Ok(Some(files))
}

/// `off` (no cap, `Some(None)`), or a whole number from 1 to `max`.
fn parse_per_address(text: &str, max: usize) -> Option<Option<usize>> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Some(None);
    }
    let n: usize = text.parse().ok()?;
    (1..=max).contains(&n).then_some(Some(n))
}

/// `0`, or a whole number with a unit: `500ms`, `5s`, `2m`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        _ => None,
    }
}

/// A service's bound listeners, ready to serve.
pub struct Serving {
    listener: TcpListener,
    metrics: Option<TcpListener>,
    tls: Option<Arc<rustls::ServerConfig>>,
    config: ServerConfig,
    draining: CancellationToken,
}

impl Serving {
    /// Binds the main listener on `listen` (and the metrics one, if configured) and loads the
    /// TLS certificate.
    pub async fn bind(listen: SocketAddr, config: ServerConfig) -> anyhow::Result<Self> {
        let tls = match &config.tls {
            Some(files) => Some(crate::tls::server_config(
                files,
                crate::tls::RELOAD_INTERVAL,
            )?),
            None => None,
        };
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let metrics = match config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} for metrics"))?,
            ),
            None => None,
        };
        Ok(Self {
            listener,
            metrics,
            tls,
            config,
            draining: CancellationToken::new(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The metrics listener's address, when `/metrics` has its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Whether the main router serves `/metrics`.
    pub fn metrics_on_main(&self) -> bool {
        self.metrics.is_none()
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Cancelled as soon as a stop is asked for: `/readyz` answers 503 from then on.
    /// Logs, once at start, where `service` listens (and its metrics listener, when it has one).
    pub fn announce(&self, service: &str) {
        let (scheme, address) = (self.scheme(), self.local_addr());
        match self.metrics_addr() {
            Some(metrics) => tracing::info!(
                %address, %metrics,
                "{service} listening on {scheme}://{address}, metrics on http://{metrics}/metrics"
            ),
            None => tracing::info!(%address, "{service} listening on {scheme}://{address}"),
        }
    }

    pub fn draining(&self) -> CancellationToken {
        self.draining.clone()
    }

    pub fn limits(&self) -> &Limits {
        &self.config.limits
    }

    pub fn shutdown_delay(&self) -> Duration {
        self.config.shutdown_delay
    }

    /// Serves `app` until `stop` is cancelled; then `/readyz` answers 503, the listeners keep
    /// serving for the shutdown delay, stop accepting, and in-flight requests finish.
    pub async fn run(self, app: axum::Router, stop: CancellationToken) -> std::io::Result<()> {
        let Serving {
            listener,
            metrics,
            tls,
            config,
            draining,
        } = self;
        let close = CancellationToken::new();
        let delay = config.shutdown_delay;
        let sequence = {
            let close = close.clone();
            tokio::spawn(async move {
                stop.cancelled().await;
                draining.cancel();
                tracing::info!(
                    delay_ms = delay.as_millis() as u64,
                    "stop requested: /readyz answers 503; still serving for the shutdown delay"
                );
                tokio::time::sleep(delay).await;
                tracing::info!("no longer accepting connections; finishing in-flight requests");
                close.cancel();
            })
        };
        let main =
            crate::server::serve_on(listener, app, close.clone(), config.limits.clone(), tls);
        let metrics = async {
            match metrics {
                Some(listener) => {
                    let router = axum::Router::new()
                        .route("/metrics", get(crate::metrics::render))
                        .fallback(crate::http::not_found);
                    crate::server::serve_on(listener, router, close.clone(), config.limits, None)
                        .await
                }
                None => Ok(()),
            }
        };
        let (main, metrics) = tokio::join!(main, metrics);
        sequence.abort();
        main.and(metrics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_per_address_is_a_number_up_to_the_cap_or_off() {
        assert_eq!(parse_per_address("256", 4096), Some(Some(256)));
        assert_eq!(parse_per_address(" 4096 ", 4096), Some(Some(4096)));
        assert_eq!(parse_per_address("OFF", 4096), Some(None));
        for bad in ["0", "4097", "-1", "1.5", "lots", ""] {
            assert_eq!(parse_per_address(bad, 4096), None, "{bad}");
        }
    }

    #[test]
    fn durations_take_a_unit_or_zero() {
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration(" 500ms "), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        for bad in [
            "",
            "5",
            "s",
            "-1s",
            "1.5s",
            "5 s",
            "5h",
            "0s5",
            "99999999999999999999s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
