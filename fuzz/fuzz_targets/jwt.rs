//! Bearer tokens: any text is refused without a panic, and any header and claims signed with
//! the configured key are accepted only as HS256 with a `sub`, the configured `aud`, an `exp`
//! in the future and no `nbf` in the future (numbers both); the caller is then exactly that
//! `sub`.

#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{crypto, Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use platform::auth::{AuthConfig, AuthError, KeyConfig, Principal, Verifier};
use serde_json::Value;

const SECRET: &str = "fuzz-secret-0123456789-0123456789-abcdef";
const AUDIENCE: &str = "fuzz";
/// The verifier's allowance for clock skew, in seconds.
const LEEWAY: i64 = 60;

fn verify(token: &str) -> Result<Principal, AuthError> {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    let verifier = VERIFIER.get_or_init(|| {
        Verifier::new(&AuthConfig::new(
            "FUZZ",
            "fuzz",
            KeyConfig::Hs256Secret(SECRET.into()),
            AUDIENCE,
        ))
        .expect("an HS256 verifier")
    });
    ordersys_fuzz::runtime().block_on(verifier.verify(token))
}

/// `header.claims.signature` with a valid HS256 signature over whatever the segments hold.
fn signed(header: &[u8], claims: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let signature = crypto::sign(input.as_bytes(), &key, Algorithm::HS256).expect("HS256 signs");
    format!("{input}.{signature}")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        // Raw text: nobody without the key can make a valid signature.
        let token = String::from_utf8_lossy(rest);
        match verify(&token) {
            Ok(principal) => panic!("an unsigned token was accepted for {}", principal.sub),
            Err(AuthError::Missing) => assert!(token.trim().is_empty()),
            Err(AuthError::Invalid(_)) => {}
        }
        return;
    }
    // A signed token: header and claims are split at the first NUL byte.
    let split = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let (header, claims) = (&rest[..split], rest.get(split + 1..).unwrap_or_default());
    let Ok(principal) = verify(&signed(header, claims)) else {
        return;
    };
    let header: Value = serde_json::from_slice(header).expect("an accepted header is JSON");
    let claims: Value = serde_json::from_slice(claims).expect("accepted claims are JSON");
    assert_eq!(header["alg"], "HS256", "accepted {header}");
    assert_eq!(claims["sub"].as_str(), Some(principal.sub.as_str()));
    let aud_ok = match &claims["aud"] {
        Value::String(a) => a == AUDIENCE,
        Value::Array(items) => items.iter().any(|a| a == AUDIENCE),
        _ => false,
    };
    assert!(aud_ok, "a token without our aud was accepted: {claims}");
    let now = chrono::Utc::now().timestamp();
    let exp = claims["exp"]
        .as_f64()
        .expect("an accepted token has an exp");
    assert!(
        exp + LEEWAY as f64 >= now as f64,
        "an expired token was accepted: {claims}"
    );
    assert!(
        claims.get("nbf").is_none_or(Value::is_number),
        "a token whose nbf is not a number was accepted: {claims}"
    );
    if let Some(nbf) = claims["nbf"].as_f64() {
        assert!(
            nbf - LEEWAY as f64 <= now as f64,
            "a not-yet-valid token was accepted"
        );
    }
});
