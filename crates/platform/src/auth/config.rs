use std::path::PathBuf;

use super::Clock;
use crate::config::{optional_env, secure_url, ConfigError};

/// Where verification keys come from.
#[derive(Clone)]
pub enum KeyConfig {
    Hs256Secret(String),
    PublicKeyFile(PathBuf),
    JwksUrl(String),
    Issuer(String),
}

/// `<P>_AUTH_*` settings of one service.
#[derive(Clone)]
pub struct AuthConfig {
    pub keys: KeyConfig,
    /// The `aud` every token must name (`<P>_AUTH_AUDIENCE`, required in every mode).
    pub audience: String,
    /// The `realm` of `WWW-Authenticate` challenges.
    pub realm: String,
    /// `ORDERS` or `TXLOG`: names variables in error messages.
    pub prefix: String,
    /// The time the JWKS cache runs on (the system's, except in tests).
    pub clock: Clock,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = match &self.keys {
            KeyConfig::Hs256Secret(_) => "hs256-secret(redacted)".to_owned(),
            KeyConfig::PublicKeyFile(p) => format!("public-key-file({})", p.display()),
            KeyConfig::JwksUrl(u) => format!("jwks({u})"),
            KeyConfig::Issuer(i) => format!("issuer({i})"),
        };
        f.debug_struct("AuthConfig")
            .field("keys", &keys)
            .field("audience", &self.audience)
            .finish()
    }
}

impl AuthConfig {
    /// Settings for the service whose variables start with `prefix` (`ORDERS`, `TXLOG`) and
    /// whose challenges name `realm`.
    pub fn new(prefix: &str, realm: &str, keys: KeyConfig, audience: impl Into<String>) -> Self {
        Self {
            keys,
            audience: audience.into(),
            realm: realm.to_owned(),
            prefix: prefix.to_owned(),
            clock: Clock::system(),
        }
    }

    /// The same settings, with the JWKS cache running on `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Reads `<prefix>_AUTH_ISSUER`, `_JWKS_URL`, `_AUDIENCE`, `_HS256_SECRET`, `_PUBLIC_KEY_FILE`.
    /// Exactly one key source must be set, and the audience always.
    pub fn from_env(prefix: &str, realm: &str) -> Result<Self, ConfigError> {
        Self::from_lookup(prefix, realm, optional_env)
    }

    /// [`AuthConfig::from_env`] with the variables read through `lookup`.
    fn from_lookup(
        prefix: &str,
        realm: &str,
        lookup: impl Fn(&str) -> Result<Option<String>, ConfigError>,
    ) -> Result<Self, ConfigError> {
        let var = |name: &str| format!("{prefix}_AUTH_{name}");
        let issuer = lookup(&var("ISSUER"))?;
        let jwks = lookup(&var("JWKS_URL"))?;
        let secret = lookup(&var("HS256_SECRET"))?;
        let pem = lookup(&var("PUBLIC_KEY_FILE"))?;
        let audience = lookup(&var("AUDIENCE"))?;
        let set: Vec<&str> = [
            ("ISSUER", &issuer),
            ("JWKS_URL", &jwks),
            ("HS256_SECRET", &secret),
            ("PUBLIC_KEY_FILE", &pem),
        ]
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(n, _)| *n)
        .collect();
        let keys = match set.as_slice() {
            [] => {
                return Err(ConfigError::new(
                    var("ISSUER"),
                    format!(
                        "no token verification is configured: set one of {0}_AUTH_ISSUER, {0}_AUTH_JWKS_URL, {0}_AUTH_HS256_SECRET or {0}_AUTH_PUBLIC_KEY_FILE",
                        prefix
                    ),
                ))
            }
            [_] => {
                if let Some(url) = issuer {
                    secure_url(&var("ISSUER"), &url)?;
                    KeyConfig::Issuer(url.trim_end_matches('/').to_owned())
                } else if let Some(url) = jwks {
                    secure_url(&var("JWKS_URL"), &url)?;
                    KeyConfig::JwksUrl(url)
                } else if let Some(secret) = secret {
                    if secret.len() < 32 {
                        return Err(ConfigError::new(var("HS256_SECRET"), "must be at least 32 bytes long"));
                    }
                    KeyConfig::Hs256Secret(secret)
                } else {
                    KeyConfig::PublicKeyFile(PathBuf::from(pem.unwrap_or_default()))
                }
            }
            many => {
                return Err(ConfigError::new(
                    var(many[1]),
                    format!("contradicts {}: set only one way to verify tokens", var(many[0])),
                ))
            }
        };
        let audience = audience.ok_or_else(|| {
            ConfigError::new(
                var("AUDIENCE"),
                "is required: the `aud` every token must name (for example the service's client id at the identity provider)",
            )
        })?;
        Ok(Self::new(prefix, realm, keys, audience.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-secret-of-at-least-32-bytes-0123456789";

    fn read(vars: &[(&str, &str)]) -> Result<AuthConfig, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (format!("ORDERS_AUTH_{k}"), (*v).to_owned()))
            .collect();
        AuthConfig::from_lookup("ORDERS", "order-service", |name| {
            Ok(vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        })
    }

    #[test]
    fn the_audience_is_required_in_every_mode() {
        for source in [
            ("HS256_SECRET", SECRET),
            ("PUBLIC_KEY_FILE", "/etc/ordersys/key.pem"),
            ("JWKS_URL", "https://idp.example/jwks"),
            ("ISSUER", "https://idp.example/realms/shop"),
        ] {
            let e = read(&[source]).unwrap_err();
            assert_eq!(e.var, "ORDERS_AUTH_AUDIENCE", "{source:?}");
            let ok = read(&[source, ("AUDIENCE", "order-service")]).unwrap();
            assert_eq!(ok.audience, "order-service");
        }
    }

    #[test]
    fn identity_provider_urls_are_https_except_to_loopback() {
        for (var, url) in [
            ("ISSUER", "http://keycloak:8080/realms/shop"),
            ("JWKS_URL", "http://idp.example/jwks"),
        ] {
            let e = read(&[(var, url), ("AUDIENCE", "a")]).unwrap_err();
            assert_eq!(e.var, format!("ORDERS_AUTH_{var}"));
            assert!(e.message.contains("https://"), "{e}");
            assert_eq!(e.to_string().lines().count(), 1);
        }
        for (var, url) in [
            ("ISSUER", "http://127.0.0.1:9000/realms/shop"),
            ("JWKS_URL", "http://localhost:9000/jwks"),
            ("ISSUER", "https://keycloak:8443/realms/shop/"),
        ] {
            let config = read(&[(var, url), ("AUDIENCE", "a")]).unwrap();
            assert!(matches!(
                config.keys,
                KeyConfig::Issuer(_) | KeyConfig::JwksUrl(_)
            ));
        }
    }

    #[test]
    fn exactly_one_key_source() {
        let e = read(&[("AUDIENCE", "a")]).unwrap_err();
        assert_eq!(e.var, "ORDERS_AUTH_ISSUER");
        let e = read(&[
            ("HS256_SECRET", SECRET),
            ("JWKS_URL", "https://idp.example/jwks"),
            ("AUDIENCE", "a"),
        ])
        .unwrap_err();
        assert!(e.message.contains("contradicts"), "{e}");
        let e = read(&[("HS256_SECRET", "short"), ("AUDIENCE", "a")]).unwrap_err();
        assert_eq!(e.var, "ORDERS_AUTH_HS256_SECRET");
    }
}
