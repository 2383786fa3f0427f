//! One verification key and the algorithms it may verify; nothing here fetches or decides.

use std::str::FromStr;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

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

/// The keys of a JWKS document (`{"keys": [...]}`) we may verify with; entries we do not use
/// (encryption keys, symmetric keys, unknown curves, malformed entries) are skipped.
pub(super) fn from_jwks(document: &Value) -> Option<Vec<VerificationKey>> {
    let keys = document.get("keys")?.as_array()?;
    Some(
        keys.iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
            .filter_map(|jwk| VerificationKey::from_jwk(&jwk))
            .collect(),
    )
}
