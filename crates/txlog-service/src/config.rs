//! `TXLOG_*` settings (SPEC section 3), validated at start with one clear line per error.

use std::net::SocketAddr;

use platform::auth::AuthConfig;
pub use platform::config::redact_url;
use platform::config::{env_or, listen_addr, ConfigError};

pub const LISTEN_VAR: &str = "TXLOG_LISTEN";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";
pub const DATABASE_URL_VAR: &str = "TXLOG_DATABASE_URL";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/txlog.db";

/// Everything the service needs to start.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub auth: AuthConfig,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("auth", &self.auth)
            .finish()
    }
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let listen = listen_addr(LISTEN_VAR, DEFAULT_LISTEN)?;
        let database_url = database_url_from_env()?;
        let auth = AuthConfig::from_env("TXLOG", "txlog-service")?;
        Ok(Config {
            listen,
            database_url,
            auth,
        })
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
