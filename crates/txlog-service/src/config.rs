//! `TXLOG_*` settings (SPEC section 3), validated at start with one clear line per error.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use platform::auth::{AuthConfig, KeyConfig};
pub use platform::config::redact_url;
use platform::config::{env_or, listen_addr, optional_env, ConfigError};
use platform::serving::ServerConfig;

pub use crate::transparency::witness::{Witness, WitnessConfig};
use crate::transparency::LogKey;
use txlog_verify::cosignature::WitnessKey;

/// The realm named in `WWW-Authenticate` challenges (and the service's `AuthConfig`).
pub const REALM: &str = "txlog-service";
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
pub const WITNESSES_VAR: &str = "TXLOG_WITNESSES";
pub const WITNESS_QUORUM_VAR: &str = "TXLOG_WITNESS_QUORUM";
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
        let auth = AuthConfig::from_env("TXLOG", REALM)?;
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
/// The log's signing key from `TXLOG_SIGNING_KEY` or `TXLOG_SIGNING_KEY_FILE` (exactly one).
pub fn signing_key_from_env() -> Result<LogKey, ConfigError> {
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

impl WitnessConfig {
    /// `TXLOG_WITNESSES` and `TXLOG_WITNESS_QUORUM`.
    pub fn from_env() -> Result<WitnessConfig, ConfigError> {
        let list = optional_env(WITNESSES_VAR)?.unwrap_or_default();
        let quorum = optional_env(WITNESS_QUORUM_VAR)?;
        WitnessConfig::parse(&list, quorum.as_deref())
    }

    /// `list`: comma-separated `<base URL> <witness verifier key>`; `quorum`: 1 to the number
    /// listed (default: all). URLs are `https://` except to a loopback address (SPEC 11).
    pub fn parse(list: &str, quorum: Option<&str>) -> Result<WitnessConfig, ConfigError> {
        let mut witnesses: Vec<Witness> = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (url, key) = entry.split_once(char::is_whitespace).ok_or_else(|| {
                ConfigError::new(
                    WITNESSES_VAR,
                    format!("{entry:?} is not `<base URL> <witness verifier key>`"),
                )
            })?;
            let url = platform::config::secure_url(WITNESSES_VAR, url.trim())?;
            let key: WitnessKey = key.trim().parse().map_err(|e| {
                ConfigError::new(
                    WITNESSES_VAR,
                    format!("{e} (expected <name>+<8 hex key id>+<base64 key>)"),
                )
            })?;
            if witnesses.iter().any(|w| w.key.name() == key.name()) {
                return Err(ConfigError::new(
                    WITNESSES_VAR,
                    format!("lists the witness {} twice", key.name()),
                ));
            }
            witnesses.push(Witness { url, key });
        }
        let count = witnesses.len();
        let quorum = match quorum.map(str::trim) {
            None | Some("") => count,
            Some(_) if count == 0 => {
                return Err(ConfigError::new(
                    WITNESS_QUORUM_VAR,
                    format!("is set but {WITNESSES_VAR} lists no witness"),
                ))
            }
            Some(text) => match text.parse::<usize>() {
                Ok(k) if (1..=count).contains(&k) => k,
                _ => {
                    return Err(ConfigError::new(
                        WITNESS_QUORUM_VAR,
                        format!("must be a whole number from 1 to {count}, the witnesses listed"),
                    ))
                }
            },
        };
        Ok(WitnessConfig { witnesses, quorum })
    }
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
    fn witnesses_are_parsed_and_checked() {
        let key = "w.example+3a2d5f1c+BNy8ukgmSGuTxMJp8HrGe6bqUb8Z3+EvmRGmWXeL5L9a";
        let other = |name: &str| {
            let secret = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
            WitnessKey::new(name, secret.verifying_key())
                .unwrap()
                .to_string()
        };
        let (a, b) = (other("a.example"), other("b.example"));
        let two = format!("https://a.example {a}, http://127.0.0.1:7380/w {b}");
        let config = WitnessConfig::parse(&two, None).unwrap();
        assert_eq!(config.quorum, 2);
        assert_eq!(config.witnesses[1].url.as_str(), "http://127.0.0.1:7380/w");
        assert_eq!(config.witnesses[0].key.name(), "a.example");
        assert_eq!(WitnessConfig::parse(&two, Some("1")).unwrap().quorum, 1);
        for quorum in ["0", "3", "x"] {
            let error = WitnessConfig::parse(&two, Some(quorum)).unwrap_err();
            assert_eq!(error.var, WITNESS_QUORUM_VAR);
            assert!(error.message.contains("from 1 to 2"), "{}", error.message);
        }
        assert_eq!(WitnessConfig::parse("", None).unwrap().witnesses.len(), 0);
        assert_eq!(
            WitnessConfig::parse("", Some("1")).unwrap_err().var,
            WITNESS_QUORUM_VAR
        );
        for bad in [
            format!("http://a.example {a}"),
            format!("https://a.example {key}x"),
            "https://a.example".to_owned(),
            format!("https://a.example {a}, https://b.example {a}"),
        ] {
            assert_eq!(
                WitnessConfig::parse(&bad, None).unwrap_err().var,
                WITNESSES_VAR,
                "{bad}"
            );
        }
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
