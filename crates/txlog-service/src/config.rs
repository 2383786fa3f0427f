//! `TXLOG_*` settings (SPEC section 3), validated at start with one clear line per error.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use platform::auth::{AuthConfig, KeyConfig};
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
pub const CONSOLE_CLIENT_ID_VAR: &str = "TXLOG_CONSOLE_OIDC_CLIENT_ID";
pub const CONSOLE_VERIFIER_KEY_VAR: &str = "TXLOG_CONSOLE_VERIFIER_KEY";
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
    /// What the auditor console at `/console/` is told (nothing secret).
    pub console: ConsoleConfig,
}

/// The auditor console's settings: both public, both optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleConfig {
    /// A public OIDC client (authorization code with PKCE) at `TXLOG_AUTH_ISSUER`; without one
    /// the console asks for a bearer token.
    pub oidc_client_id: Option<String>,
    /// The log's verifier key (SPEC section 10) the console checks checkpoints with; without
    /// one the auditor pastes it.
    pub verifier_key: Option<String>,
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
            .field("console", &self.console)
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
            signing_key: Arc::new(signing_key_from_env()?),
            log_origin: log_origin_from_env()?,
            checkpoint_interval: checkpoint_interval_from_env()?,
            console: console_from_env(&auth)?,
            server: ServerConfig::from_env("TXLOG", listen)?,
            auth,
        })
    }
}

/// `TXLOG_CONSOLE_OIDC_CLIENT_ID` (only with `TXLOG_AUTH_ISSUER`: the browser signs in there)
/// and `TXLOG_CONSOLE_VERIFIER_KEY` (a C2SP verifier key).
fn console_from_env(auth: &AuthConfig) -> Result<ConsoleConfig, ConfigError> {
    let console = ConsoleConfig {
        oidc_client_id: optional_env(CONSOLE_CLIENT_ID_VAR)?.map(|id| id.trim().to_owned()),
        verifier_key: optional_env(CONSOLE_VERIFIER_KEY_VAR)?.map(|key| key.trim().to_owned()),
    };
    check_console(&console, auth)?;
    Ok(console)
}

pub fn check_console(console: &ConsoleConfig, auth: &AuthConfig) -> Result<(), ConfigError> {
    if console.oidc_client_id.is_some() && !matches!(auth.keys, KeyConfig::Issuer(_)) {
        return Err(ConfigError::new(
            CONSOLE_CLIENT_ID_VAR,
            "needs TXLOG_AUTH_ISSUER: the console signs in at that identity provider",
        ));
    }
    if let Some(key) = &console.verifier_key {
        signed_note::StandardVerifier::new(key).map_err(|e| {
            ConfigError::new(
                CONSOLE_VERIFIER_KEY_VAR,
                format!("is not a verifier key <name>+<key id>+<base64 key>: {e}"),
            )
        })?;
    }
    Ok(())
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
    fn the_console_needs_an_issuer_and_a_real_verifier_key() {
        let issuer = AuthConfig::new(
            "TXLOG",
            "txlog",
            KeyConfig::Issuer("https://idp.example".into()),
            "aud",
        );
        let hs256 = AuthConfig::new("TXLOG", "txlog", KeyConfig::Hs256Secret("s".into()), "aud");
        let client = ConsoleConfig {
            oidc_client_id: Some("console".into()),
            verifier_key: None,
        };
        assert!(check_console(&client, &issuer).is_ok());
        assert_eq!(
            check_console(&client, &hs256).unwrap_err().var,
            CONSOLE_CLIENT_ID_VAR
        );
        let (_, verifier) = LogKey::generate("test-log").unwrap();
        let key = |k: &str| ConsoleConfig {
            oidc_client_id: None,
            verifier_key: Some(k.into()),
        };
        assert!(check_console(&key(&verifier), &hs256).is_ok());
        assert_eq!(
            check_console(&key("test-log+0000+AAAA"), &hs256)
                .unwrap_err()
                .var,
            CONSOLE_VERIFIER_KEY_VAR
        );
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
