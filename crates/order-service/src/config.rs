//! The order service's configuration, from the environment (SPEC section 3).

use std::net::SocketAddr;
use std::time::Duration;

use platform::auth::AuthConfig;
use platform::config::{env_or, http_url, listen_addr, optional_env, secure_url, ConfigError};
use platform::rate_limit::RateLimit;
use platform::serving::{parse_duration, ServerConfig};

use crate::outbox::TxlogAuth;
use crate::store::DatabaseOptions;

#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    /// `ORDERS_DATABASE_STATEMENT_TIMEOUT`.
    pub database: DatabaseOptions,
    pub txlog_url: String,
    pub txlog_auth: TxlogAuth,
    pub auth: AuthConfig,
    /// Limits, TLS, the metrics listener and the shutdown delay.
    pub server: ServerConfig,
    /// `ORDERS_RATE_LIMIT` (per caller) and `ORDERS_RATE_LIMIT_ANONYMOUS` (per client address).
    pub rate_limit: RateLimit,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field(
                "database_url",
                &platform::config::redact_url(&self.database_url),
            )
            .field("database", &self.database)
            .field("txlog_url", &self.txlog_url)
            .field("txlog_auth", &self.txlog_auth)
            .field("auth", &self.auth)
            .field("server", &self.server)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let listen = listen_addr("ORDERS_LISTEN", "127.0.0.1:8080")?;
        let database_url = env_or("ORDERS_DATABASE_URL", "sqlite://data/orders.db")?;
        if !["postgres://", "postgresql://", "sqlite:"]
            .iter()
            .any(|s| database_url.starts_with(s))
        {
            return Err(ConfigError::new(
                "ORDERS_DATABASE_URL",
                "must start with postgres:// or sqlite://",
            ));
        }
        let txlog_url = env_or("ORDERS_TXLOG_URL", "http://127.0.0.1:8081")?;
        http_url("ORDERS_TXLOG_URL", &txlog_url)?;
        Ok(Self {
            listen,
            database_url,
            database: DatabaseOptions {
                statement_timeout: statement_timeout()?,
            },
            txlog_url,
            txlog_auth: txlog_auth()?,
            auth: AuthConfig::from_env("ORDERS", crate::api::REALM)?,
            rate_limit: RateLimit::from_env("ORDERS")?,
            server: ServerConfig::from_env("ORDERS", listen)?,
        })
    }
}

/// `ORDERS_DATABASE_STATEMENT_TIMEOUT`: a duration up to an hour (`35s`, `500ms`, `2m`), or
/// `off` or `0` for none; the default is [`crate::store::DEFAULT_STATEMENT_TIMEOUT`].
fn statement_timeout() -> Result<Option<Duration>, ConfigError> {
    const VAR: &str = "ORDERS_DATABASE_STATEMENT_TIMEOUT";
    parse_statement_timeout(optional_env(VAR)?.as_deref()).ok_or_else(|| {
        ConfigError::new(
            VAR,
            "must be a duration up to 1h, like 35s or 500ms, or off",
        )
    })
}

/// The statement timeout a value of `ORDERS_DATABASE_STATEMENT_TIMEOUT` asks for; `None` when
/// the value is not one.
fn parse_statement_timeout(text: Option<&str>) -> Option<Option<Duration>> {
    let Some(text) = text else {
        return Some(DatabaseOptions::default().statement_timeout);
    };
    if text.trim().eq_ignore_ascii_case("off") {
        return Some(None);
    }
    match parse_duration(text)? {
        d if d.is_zero() => Some(None),
        d if d <= Duration::from_secs(3600) => Some(Some(d)),
        _ => None,
    }
}

fn txlog_auth() -> Result<TxlogAuth, ConfigError> {
    let token = optional_env("ORDERS_TXLOG_TOKEN")?;
    let token_url = optional_env("ORDERS_TXLOG_TOKEN_URL")?;
    let client_id = optional_env("ORDERS_TXLOG_CLIENT_ID")?;
    let client_secret = optional_env("ORDERS_TXLOG_CLIENT_SECRET")?;
    let scope = optional_env("ORDERS_TXLOG_SCOPE")?;
    let any_client =
        token_url.is_some() || client_id.is_some() || client_secret.is_some() || scope.is_some();
    match (token, any_client) {
        (Some(_), true) => Err(ConfigError::new(
            "ORDERS_TXLOG_TOKEN",
            "contradicts ORDERS_TXLOG_TOKEN_URL/CLIENT_ID/CLIENT_SECRET/SCOPE: use a static token or client credentials",
        )),
        (Some(token), false) => Ok(TxlogAuth::Static(token)),
        (None, false) => Err(ConfigError::new(
            "ORDERS_TXLOG_TOKEN",
            "or ORDERS_TXLOG_TOKEN_URL with ORDERS_TXLOG_CLIENT_ID and ORDERS_TXLOG_CLIENT_SECRET is required to deliver business transactions",
        )),
        (None, true) => {
            let token_url = token_url.ok_or_else(|| ConfigError::new("ORDERS_TXLOG_TOKEN_URL", "is required for client credentials"))?;
            secure_url("ORDERS_TXLOG_TOKEN_URL", &token_url)?;
            Ok(TxlogAuth::ClientCredentials {
                token_url,
                client_id: client_id.ok_or_else(|| ConfigError::new("ORDERS_TXLOG_CLIENT_ID", "is required for client credentials"))?,
                client_secret: client_secret
                    .ok_or_else(|| ConfigError::new("ORDERS_TXLOG_CLIENT_SECRET", "is required for client credentials"))?,
                scope,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_timeouts() {
        let secs = |n| Some(Some(Duration::from_secs(n)));
        assert_eq!(parse_statement_timeout(None), secs(35));
        assert_eq!(parse_statement_timeout(Some("5s")), secs(5));
        assert_eq!(
            parse_statement_timeout(Some("250ms")),
            Some(Some(Duration::from_millis(250)))
        );
        assert_eq!(parse_statement_timeout(Some("off")), Some(None));
        assert_eq!(parse_statement_timeout(Some("OFF")), Some(None));
        assert_eq!(parse_statement_timeout(Some("0")), Some(None));
        for bad in ["5", "-1s", "2h", "61m", "soon"] {
            assert_eq!(parse_statement_timeout(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn debug_output_holds_no_secrets() {
        let config = Config {
            listen: "127.0.0.1:8080".parse().unwrap(),
            database_url: "postgres://orders:db-password@db:5432/orders".into(),
            database: DatabaseOptions::default(),
            txlog_url: "http://txlog:8081".into(),
            txlog_auth: TxlogAuth::ClientCredentials {
                token_url: "http://idp/token".into(),
                client_id: "order-service".into(),
                client_secret: "client-secret-value".into(),
                scope: None,
            },
            auth: AuthConfig::new(
                "ORDERS",
                crate::api::REALM,
                platform::auth::KeyConfig::Hs256Secret(
                    "hs256-secret-value-0123456789abcdef".into(),
                ),
                "order-service",
            ),
            rate_limit: RateLimit::default(),
            server: ServerConfig::default(),
        };
        let text = format!("{config:?}");
        for secret in ["db-password", "client-secret-value", "hs256-secret-value"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(
            text.contains("postgres://orders:***@db:5432/orders"),
            "{text}"
        );
    }
}
