//! Small helpers for reading configuration from the environment with one clear error line.

use std::net::SocketAddr;

/// An invalid or contradictory setting, naming the variable. Never carries the value, which
/// may be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {var} {message}")]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(var: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            var: var.into(),
            message: message.into(),
        }
    }
}

/// The variable's value; unset and empty both mean "not set".
pub fn optional_env(var: &str) -> Result<Option<String>, ConfigError> {
    match std::env::var(var) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::new(var, "is not valid UTF-8")),
    }
}

pub fn env_or(var: &str, default: &str) -> Result<String, ConfigError> {
    Ok(optional_env(var)?.unwrap_or_else(|| default.to_owned()))
}

/// A `host:port` listen address.
pub fn listen_addr(var: &str, default: &str) -> Result<SocketAddr, ConfigError> {
    env_or(var, default)?
        .parse()
        .map_err(|_| ConfigError::new(var, "must be an address like 127.0.0.1:8080"))
}

/// An `http(s)://` URL.
pub fn http_url(var: &str, value: &str) -> Result<reqwest::Url, ConfigError> {
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(url),
        _ => Err(ConfigError::new(var, "must be an http(s) URL")),
    }
}

/// The URL of an identity provider or token endpoint the service calls (issuer, JWKS, token URL):
/// `https://`, or `http://` only to a loopback address (127.0.0.0/8, `::1`, `localhost`), so
/// that keys and credentials never travel in clear text over a network.
pub fn secure_url(var: &str, value: &str) -> Result<reqwest::Url, ConfigError> {
    let url = http_url(var, value)?;
    if is_secure(&url) {
        Ok(url)
    } else {
        Err(ConfigError::new(
            var,
            "must be an https:// URL (http:// is allowed only to a loopback address: 127.0.0.0/8, ::1, localhost)",
        ))
    }
}

/// Whether `url` is `https://`, or `http://` to a loopback address.
pub fn is_secure(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    match url.scheme() {
        "https" => true,
        "http" => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            match host.parse::<std::net::IpAddr>() {
                Ok(ip) => ip.is_loopback(),
                Err(_) => matches!(host, "localhost" | "localhost."),
            }
        }
        _ => false,
    }
}

/// Prints the error as one line on stderr and exits with status 2.
pub fn exit_on_error<T>(result: Result<T, ConfigError>) -> T {
    result.unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    })
}

/// The URL with any password replaced by `***`, for logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outgoing_urls_are_https_except_to_loopback() {
        for ok in [
            "https://idp.example/realms/x",
            "https://10.0.0.1/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://127.9.9.9/",
            "http://[::1]:9000/token",
            "http://localhost:8080",
            "http://LOCALHOST/",
        ] {
            assert!(secure_url("V", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://idp.example/realms/x",
            "http://10.0.0.1/jwks",
            "http://keycloak:8080/realms/x",
            "http://localhost.evil.example/",
            "http://127.0.0.1.nip.io/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
            "ftp://127.0.0.1/",
            "not a url",
        ] {
            let e = secure_url("ORDERS_AUTH_ISSUER", bad).unwrap_err();
            assert_eq!(e.var, "ORDERS_AUTH_ISSUER", "{bad}");
            assert!(!e.to_string().contains(bad), "the value is not echoed: {e}");
        }
    }
}
