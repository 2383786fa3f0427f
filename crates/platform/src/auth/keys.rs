use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::config::{AuthConfig, KeyConfig};
use super::jwks::JwksSource;
use super::{AuthError, Principal};
use crate::config::ConfigError;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 60;

const RSA_ALGS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// One verification key and the algorithms it may verify (fixed by the key, never by the token).
#[derive(Clone)]
pub struct VerificationKey {
    pub kid: Option<String>,
    pub key: DecodingKey,
    pub algorithms: Vec<Algorithm>,
}

impl VerificationKey {
    /// A key from a JWKS entry; `None` for keys we never verify with (encryption keys,
    /// symmetric keys, unknown curves).
    pub fn from_jwk(jwk: &Jwk) -> Option<Self> {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            return None;
        }
        let by_type: Vec<Algorithm> = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => RSA_ALGS.to_vec(),
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => vec![Algorithm::ES256],
                EllipticCurve::P384 => vec![Algorithm::ES384],
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                vec![Algorithm::EdDSA]
            }
            _ => return None,
        };
        let algorithms = match jwk.common.key_algorithm {
            Some(declared) => {
                let name = serde_json::to_value(declared).ok()?;
                let alg = Algorithm::from_str(name.as_str()?).ok()?;
                if !by_type.contains(&alg) {
                    return None;
                }
                vec![alg]
            }
            None => by_type,
        };
        let key = DecodingKey::from_jwk(jwk).ok()?;
        Some(Self {
            kid: jwk.common.key_id.clone(),
            key,
            algorithms,
        })
    }

    /// A key from a PEM file: RSA (RS*/PS*), EC P-256 (ES256) or Ed25519 (EdDSA).
    pub fn from_pem(pem: &[u8]) -> Option<Self> {
        let (key, algorithms) = if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            (key, RSA_ALGS.to_vec())
        } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            (key, vec![Algorithm::ES256])
        } else if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            (key, vec![Algorithm::EdDSA])
        } else {
            return None;
        };
        Some(Self {
            kid: None,
            key,
            algorithms,
        })
    }
}

enum Keys {
    Static(Vec<VerificationKey>),
    Jwks(JwksSource),
}

/// Verifies bearer tokens of one service.
pub struct Verifier {
    keys: Keys,
    audience: Option<String>,
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
            KeyConfig::JwksUrl(url) => (Keys::Jwks(JwksSource::from_url(url)), None),
            KeyConfig::Issuer(issuer) => (
                Keys::Jwks(JwksSource::from_issuer(issuer)),
                Some(issuer.clone()),
            ),
        };
        Ok(Self {
            keys,
            audience: config.audience.clone(),
            issuer,
            realm: config.realm.clone(),
        })
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Fetches remote keys once, so that the first request does not pay for it. Failure is
    /// not fatal: keys are fetched again on demand.
    pub async fn warm_up(&self) {
        if let Keys::Jwks(source) = &self.keys {
            if let Err(e) = source.refresh(true).await {
                tracing::warn!(error = %e, "could not fetch the token signing keys yet; will retry on demand");
            }
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
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        // jsonwebtoken skips the `aud` and `iss` checks when the claim is absent: require them
        // whenever they are configured.
        let mut required = vec!["exp", "sub"];
        match &self.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            // The configured issuer has no trailing slash; some providers (Auth0) put one in `iss`.
            validation.set_issuer(&[iss.clone(), format!("{iss}/")]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
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
}

/// Whether the token's header is UTF-8 JSON (RFC 7515). jsonwebtoken skips header fields it
/// does not know without checking them, so it would accept invalid text inside one.
fn header_is_json(token: &str) -> bool {
    let segment = token.split('.').next().unwrap_or_default();
    URL_SAFE_NO_PAD
        .decode(segment)
        .is_ok_and(|bytes| serde_json::from_slice::<Value>(&bytes).is_ok())
}

/// Keys that may verify a token with this header: same `kid` (when the token names one) and an
/// algorithm the key allows.
pub(super) fn select(
    keys: &[VerificationKey],
    header: &jsonwebtoken::Header,
) -> Vec<VerificationKey> {
    keys.iter()
        .filter(|k| header.kid.is_none() || k.kid.is_none() || k.kid == header.kid)
        .filter(|k| k.algorithms.contains(&header.alg))
        .cloned()
        .collect()
}

fn describe(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind::*;
    match e.kind() {
        ExpiredSignature => "token expired",
        ImmatureSignature => "token not valid yet",
        InvalidAudience => "wrong audience",
        InvalidIssuer => "wrong issuer",
        MissingRequiredClaim(_) => "a required claim is missing",
        InvalidSignature => "bad signature",
        InvalidAlgorithm | InvalidAlgorithmName => "algorithm not allowed",
        _ => "malformed token",
    }
}
