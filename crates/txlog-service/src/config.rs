//! `TXLOG_*` settings (SPEC section 3), validated at start with one clear line per error.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use platform::auth::AuthConfig;
pub use platform::config::redact_url;
use platform::config::{env_or, listen_addr, optional_env, ConfigError};
use platform::serving::ServerConfig;

use crate::transparency::LogKey;

pub const LISTEN_VAR: &str = "TXLOG_LISTEN";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";
pub const DATABASE_URL_VAR: &str = "TXLOG_DATABASE_URL";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/txlog.db";
pub const SIGNING_KEY_VAR: &str = "TXLOG_SIGNING_KEY";
pub const SIGNING_KEY_FILE_VAR: &str = "TXLOG_SIGNING_KEY_FILE";
pub const LOG_ORIGIN_VAR: &str = "TXLOG_LOG_ORIGIN";
pub const DEFAULT_LOG_ORIGIN: &str = "ordersys/txlog";
pub const CHECKPOINT_INTERVAL_VAR: &str = "TXLOG_CHECKPOINT_INTERVAL_MS";
const DEFAULT_CHECKPOINT_INTERVAL_MS: u64 = 1000;

/// Everything the service needs to start.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub auth: AuthConfig,
    /// The log's checkpoint signing key (SPEC section 10).
    pub signing_key: Arc<LogKey>,
    /// The first line of every checkpoint.
    pub log_origin: String,
    pub checkpoint_interval: Duration,
    /// Limits, TLS, the metrics listener and the shutdown delay.
    pub server: ServerConfig,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("auth", &self.auth)
            .field("signing_key", &self.signing_key)
            .field("log_origin", &self.log_origin)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("server", &self.server)
            .finish()
    }
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let listen = listen_addr(LISTEN_VAR, DEFAULT_LISTEN)?;
        let database_url = database_url_from_env()?;
        let auth = AuthConfig::from_env("TXLOG", crate::api::REALM)?;
        Ok(Config {
            listen,
            database_url,
            auth,
            signing_key: Arc::new(signing_key_from_env()?),
            log_origin: log_origin_from_env()?,
            checkpoint_interval: checkpoint_interval_from_env()?,
            server: ServerConfig::from_env("TXLOG", listen)?,
        })
    }
}

/// `TXLOG_SIGNING_KEY` or `TXLOG_SIGNING_KEY_FILE`: exactly one is required.
fn signing_key_from_env() -> Result<LogKey, ConfigError> {
    let inline = optional_env(SIGNING_KEY_VAR)?;
    let file = optional_env(SIGNING_KEY_FILE_VAR)?;
    let (var, key) = match (inline, file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                SIGNING_KEY_VAR,
                format!("and {SIGNING_KEY_FILE_VAR} are both set; set one"),
            ))
        }
        (Some(text), None) => (SIGNING_KEY_VAR, LogKey::parse(&text)),
        (None, Some(path)) => (SIGNING_KEY_FILE_VAR, LogKey::read(Path::new(&path))),
        (None, None) => {
            return Err(ConfigError::new(
                SIGNING_KEY_VAR,
                format!(
                    "or {SIGNING_KEY_FILE_VAR} is required: the log signs its checkpoints \
                     (create a key with `txlog-service keygen --name NAME`)"
                ),
            ))
        }
    };
    key.map_err(|e| ConfigError::new(var, format!("{e:#}")))
}

/// `TXLOG_LOG_ORIGIN`: one line of text without control characters.
fn log_origin_from_env() -> Result<String, ConfigError> {
    let origin = env_or(LOG_ORIGIN_VAR, DEFAULT_LOG_ORIGIN)?;
    if origin.chars().any(char::is_control) || origin.len() > 256 {
        return Err(ConfigError::new(
            LOG_ORIGIN_VAR,
            "must be one line of at most 256 characters",
        ));
    }
    Ok(origin)
}

/// `TXLOG_CHECKPOINT_INTERVAL_MS`: 10 ms to 1 h.
fn checkpoint_interval_from_env() -> Result<Duration, ConfigError> {
    let text = env_or(
        CHECKPOINT_INTERVAL_VAR,
        &DEFAULT_CHECKPOINT_INTERVAL_MS.to_string(),
    )?;
    match text.trim().parse::<u64>() {
        Ok(ms) if (10..=3_600_000).contains(&ms) => Ok(Duration::from_millis(ms)),
        _ => Err(ConfigError::new(
            CHECKPOINT_INTERVAL_VAR,
            "must be a whole number of milliseconds from 10 to 3600000",
        )),
    }
}

/// `TXLOG_DATABASE_URL`, checked: `sqlite://…`, `mongodb://…` or `mongodb+srv://…`.
pub fn database_url_from_env() -> Result<String, ConfigError> {
    let url = env_or(DATABASE_URL_VAR, DEFAULT_DATABASE_URL)?;
    check_database_url(&url)?;
    Ok(url)
}

pub fn check_database_url(url: &str) -> Result<(), ConfigError> {
    let known = ["sqlite://", "mongodb://", "mongodb+srv://"]
        .iter()
        .any(|s| url.starts_with(s));
    let has_rest = url
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty());
    if known && has_rest {
        Ok(())
    } else {
        Err(ConfigError::new(
            DATABASE_URL_VAR,
            "must be a sqlite://, mongodb:// or mongodb+srv:// URL",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_checked() {
        assert!(check_database_url("sqlite://data/txlog.db").is_ok());
        assert!(check_database_url("mongodb://h:27017/txlog").is_ok());
        assert!(check_database_url("mongodb+srv://cluster.example.net/txlog").is_ok());
        let err = check_database_url("postgres://h/db").unwrap_err();
        assert_eq!(err.var, DATABASE_URL_VAR);
        assert!(check_database_url("sqlite://").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("mongodb://app:s3cret@h:27017/txlog?x=1"),
            "mongodb://app:***@h:27017/txlog?x=1"
        );
        assert_eq!(
            redact_url("sqlite://data/txlog.db"),
            "sqlite://data/txlog.db"
        );
    }
}
