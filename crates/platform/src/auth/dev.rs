//! Development tokens signed with a local HS256 secret (`ordersys token`, `ordersys up`, tests).

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

/// The issuer named in development tokens.
pub const DEV_ISSUER: &str = "ordersys-dev";

/// An HS256 token for `audience` (the `aud` the receiving service expects), naming `sub` with
/// space-separated `scopes`, valid for `ttl_secs`.
pub fn sign_hs256(secret: &str, audience: &str, sub: &str, scopes: &str, ttl_secs: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let claims = json!({
        "iss": DEV_ISSUER,
        "aud": audience,
        "sub": sub,
        "scope": scopes,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_secs,
    });
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}

/// A random secret suitable for HS256 (64 hex characters).
pub fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
