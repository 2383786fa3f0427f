//! Verifies a bearer token against the configured keys (SPEC section 4).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::config::{AuthConfig, KeyConfig};
use super::jwks::JwksSource;
use super::key::{select, VerificationKey};
use super::token_cache::TokenCache;
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
    /// Tokens verified before, until their `exp`.
    verified: TokenCache,
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
            verified: TokenCache::default(),
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

    /// The caller a bearer token names, if the token is valid. A token verified before is
    /// answered from [`TokenCache`] until its `exp`, as long as the keys have not changed.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let now = unix_now();
        let keys = self.key_generation();
        if let Some(principal) = self.verified.get(token, keys, now) {
            return Ok(principal);
        }
        let (principal, exp) = self.verify_uncached(token).await?;
        if let Some(exp) = exp {
            self.verified
                .insert(token, principal.clone(), exp, keys, now);
        }
        Ok(principal)
    }

    /// Which key set tokens are verified with: constant for static keys, the JWKS source's
    /// generation otherwise.
    fn key_generation(&self) -> u64 {
        match &self.keys {
            Keys::Static(_) => 0,
            Keys::Jwks(source) => source.key_generation(),
        }
    }

    /// Checks a token with the keys, and returns its principal and its `exp` (when it is a
    /// whole number of seconds).
    async fn verify_uncached(&self, token: &str) -> Result<(Principal, Option<u64>), AuthError> {
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
                    let principal = Principal::from_claims(&data.claims)
                        .ok_or_else(|| AuthError::Invalid("the token has no usable sub".into()))?;
                    return Ok((principal, data.claims.get("exp").and_then(Value::as_u64)));
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

/// Seconds since the Unix epoch, the clock jsonwebtoken checks `exp` against.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "cache-secret-0123456789-0123456789-abcdef";

    fn verifier() -> Verifier {
        Verifier::new(&AuthConfig::new(
            "TEST",
            "test",
            KeyConfig::Hs256Secret(SECRET.into()),
            "urn:test",
        ))
        .unwrap()
    }

    fn token(exp: i64, secret: &str) -> String {
        let claims = json!({"sub": "alice", "aud": "urn:test", "scope": "orders:read", "exp": exp});
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_verified_token_is_remembered_and_answers_the_same() {
        let verifier = verifier();
        let token = token(unix_now() as i64 + 3600, SECRET);
        let first = verifier.verify(&token).await.unwrap();
        assert_eq!(verifier.verified.len(), 1);
        let second = verifier.verify(&token).await.unwrap();
        assert_eq!(first, second);
        assert_eq!(first.sub, "alice");
        assert!(first.has("orders:read"));
        assert_eq!(verifier.verified.len(), 1);
    }

    #[tokio::test]
    async fn refused_tokens_and_tokens_past_exp_are_not_remembered() {
        let verifier = verifier();
        let now = unix_now() as i64;
        // Past its exp but within the leeway: accepted, never remembered.
        assert!(verifier.verify(&token(now - 5, SECRET)).await.is_ok());
        assert!(verifier.verified.is_empty());
        // Refused: wrong key, far past exp.
        let forged = token(now + 3600, "another-secret-0123456789-0123456789-abc");
        assert!(verifier.verify(&forged).await.is_err());
        assert!(verifier.verify(&token(now - 3600, SECRET)).await.is_err());
        assert!(verifier.verified.is_empty());
        // The same claims under the right key, once remembered, do not make the forgery pass.
        let good = token(now + 3600, SECRET);
        assert!(verifier.verify(&good).await.is_ok());
        assert!(verifier.verify(&forged).await.is_err());
        let (signing_input, _) = good.rsplit_once('.').unwrap();
        let (_, forged_sig) = forged.rsplit_once('.').unwrap();
        assert!(verifier
            .verify(&format!("{signing_input}.{forged_sig}"))
            .await
            .is_err());
    }
}
