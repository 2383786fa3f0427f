//! Verifies a bearer token against the configured keys (SPEC section 4).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::config::{AuthConfig, KeyConfig};
use super::jwks::JwksSource;
use super::key::{select, VerificationKey};
use super::{AuthError, Principal};
use crate::config::ConfigError;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 60;

enum Keys {
    Static(Vec<VerificationKey>),
    Jwks(JwksSource),
}

/// Verifies bearer tokens of one service.
pub struct Verifier {
    keys: Keys,
    audience: String,
    issuer: Option<String>,
    realm: String,
}

impl Verifier {
    pub fn new(config: &AuthConfig) -> Result<Self, ConfigError> {
        let prefix_var = |name: &str| format!("{}_AUTH_{name}", config.prefix);
        let (keys, issuer) = match &config.keys {
            KeyConfig::Hs256Secret(secret) => (
                Keys::Static(vec![VerificationKey {
                    kid: None,
                    key: DecodingKey::from_secret(secret.as_bytes()),
                    algorithms: vec![Algorithm::HS256],
                }]),
                None,
            ),
            KeyConfig::PublicKeyFile(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    ConfigError::new(
                        prefix_var("PUBLIC_KEY_FILE"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let key = VerificationKey::from_pem(&pem).ok_or_else(|| {
                    ConfigError::new(
                        prefix_var("PUBLIC_KEY_FILE"),
                        "is not an RSA, EC P-256 or Ed25519 public key in PEM form",
                    )
                })?;
                (Keys::Static(vec![key]), None)
            }
            KeyConfig::JwksUrl(url) => (
                Keys::Jwks(JwksSource::from_url(url, config.clock.clone())),
                None,
            ),
            KeyConfig::Issuer(issuer) => (
                Keys::Jwks(JwksSource::from_issuer(issuer, config.clock.clone())),
                Some(issuer.clone()),
            ),
        };
        if config.audience.trim().is_empty() {
            return Err(ConfigError::new(
                prefix_var("AUDIENCE"),
                "is required: the `aud` every token must name",
            ));
        }
        Ok(Self {
            keys,
            audience: config.audience.clone(),
            issuer,
            realm: config.realm.clone(),
        })
    }

    /// The `realm` of this service's `WWW-Authenticate` challenges.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Fetches remote keys once, so that the first request does not pay for it, and starts
    /// refreshing them in the background. Failure is not fatal: the background task retries.
    pub async fn warm_up(&self) {
        if let Keys::Jwks(source) = &self.keys {
            source.start().await;
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if !header_is_json(token) {
            return Err(AuthError::Invalid("malformed token".into()));
        }
        let header =
            decode_header(token).map_err(|_| AuthError::Invalid("malformed token".into()))?;
        let candidates = match &self.keys {
            Keys::Static(keys) => select(keys, &header),
            Keys::Jwks(source) => source.candidates(&header).await,
        };
        if candidates.is_empty() {
            return Err(AuthError::Invalid(
                "no key matches the token's kid and algorithm".into(),
            ));
        }
        let validation = self.validation(header.alg);
        let mut last = AuthError::Invalid("bad signature".into());
        for key in candidates {
            match decode::<Value>(token, &key.key, &validation) {
                Ok(data) => {
                    return Principal::from_claims(&data.claims)
                        .ok_or_else(|| AuthError::Invalid("the token has no usable sub".into()))
                }
                Err(e) => last = AuthError::Invalid(describe(&e).into()),
            }
        }
        Err(last)
    }

    /// `aud` always, `iss` when an issuer is configured: both required (jsonwebtoken skips a
    /// check whose claim is absent unless the claim is required); `exp` and `nbf` with leeway.
    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_audience(&[&self.audience]);
        let mut required = vec!["exp", "sub", "aud"];
        if let Some(iss) = &self.issuer {
            // The configured issuer has no trailing slash; some providers (Auth0) put one in `iss`.
            validation.set_issuer(&[iss.clone(), format!("{iss}/")]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        validation
    }
}

/// Whether the token's header is UTF-8 JSON (RFC 7515). jsonwebtoken skips header fields it
/// does not know without checking them, so it would accept invalid text inside one.
fn header_is_json(token: &str) -> bool {
    let segment = token.split('.').next().unwrap_or_default();
    URL_SAFE_NO_PAD
        .decode(segment)
        .is_ok_and(|bytes| serde_json::from_slice::<Value>(&bytes).is_ok())
}

fn describe(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind::*;
    match e.kind() {
        ExpiredSignature => "token expired",
        ImmatureSignature => "token not valid yet",
        InvalidAudience => "wrong audience",
        InvalidIssuer => "wrong issuer",
        MissingRequiredClaim(_) => "a required claim is missing",
        InvalidClaimFormat(_) => "a claim has the wrong type",
        InvalidSignature => "bad signature",
        InvalidAlgorithm | InvalidAlgorithmName => "algorithm not allowed",
        _ => "malformed token",
    }
}
