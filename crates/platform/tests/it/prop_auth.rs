//! Property tests (issue 7): JWT parsing and verification never panic; anything but a token
//! signed with the configured key, with a `sub`, the configured `aud` and valid times, is
//! refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use platform::auth::{AuthConfig, AuthError, KeyConfig, Verifier};
use proptest::prelude::*;
use serde_json::{json, Value};

const SECRET: &str = "prop-secret-0123456789-0123456789-abcdef";
const AUDIENCE: &str = "urn:prop";

fn verifier() -> Verifier {
    Verifier::new(&AuthConfig::new(
        "PROP",
        "prop",
        KeyConfig::Hs256Secret(SECRET.into()),
        AUDIENCE,
    ))
    .unwrap()
}

/// Whether `aud` names the configured audience (a string, or an array holding it).
fn names_audience(aud: &Value) -> bool {
    match aud {
        Value::String(s) => s == AUDIENCE,
        Value::Array(items) => items.iter().any(|a| a == AUDIENCE),
        _ => false,
    }
}

fn verify(token: &str) -> Result<platform::auth::Principal, AuthError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(verifier().verify(token))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hs256(signing_input: &str, secret: &[u8]) -> String {
    use hmac_sig::sign;
    b64(&sign(secret, signing_input.as_bytes()))
}

/// HMAC-SHA256 through jsonwebtoken, so the test needs no extra crate.
mod hmac_sig {
    use base64::Engine;

    pub fn sign(secret: &[u8], message: &[u8]) -> Vec<u8> {
        let key = jsonwebtoken::EncodingKey::from_secret(secret);
        let text = jsonwebtoken::crypto::sign(message, &key, jsonwebtoken::Algorithm::HS256)
            .expect("HS256 signs anything");
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .expect("jsonwebtoken returns base64url")
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                "[a-z_]{1,8}|sub|exp|nbf|iss|aud|scope|scp|roles",
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {

    #[test]
    fn random_text_is_refused(token in ".{0,300}") {
        prop_assert!(verify(&token).is_err());
    }

    #[test]
    fn random_segments_are_refused(
        header in prop::collection::vec(any::<u8>(), 0..80),
        claims in prop::collection::vec(any::<u8>(), 0..200),
        signature in prop::collection::vec(any::<u8>(), 0..64),
        dots in 0usize..5,
    ) {
        let mut token = format!("{}.{}.{}", b64(&header), b64(&claims), b64(&signature));
        for _ in 0..dots {
            token.push('.');
        }
        prop_assert!(verify(&token).is_err());
    }

    /// The same claims under another secret, or with alg none, are always refused.
    #[test]
    fn wrong_keys_and_alg_none_are_refused(sub in "[a-z]{1,12}", secret in ".{1,40}") {
        prop_assume!(secret != SECRET);
        let claims = json!({"sub": sub, "aud": AUDIENCE, "exp": now() + 600, "scope": "orders:admin txlog:read"});
        let hs = format!("{}.{}", b64(br#"{"alg":"HS256","typ":"JWT"}"#), b64(claims.to_string().as_bytes()));
        let forged = format!("{hs}.{}", hs256(&hs, secret.as_bytes()));
        prop_assert!(verify(&forged).is_err());
        let none = format!("{}.{}", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims.to_string().as_bytes()));
        let none_dot = format!("{none}.");
        prop_assert!(verify(&none_dot).is_err());
        prop_assert!(verify(&none).is_err());
    }

    /// Changing one character of a good token: refused, unless the change is invisible after
    /// base64 decoding (the unused low bits of a segment's last character).
    #[test]
    fn tampered_tokens_are_refused(index in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9_.=+/-]") {
        let good = platform::auth::dev::sign_hs256(SECRET, AUDIENCE, "alice", "orders:read", 600);
        prop_assert!(verify(&good).is_ok());
        let i = index.index(good.len());
        let mut bad = good.clone();
        bad.replace_range(i..=i, &replacement);
        prop_assume!(bad != good);
        if verify(&bad).is_ok() {
            let decode = |t: &str| -> Vec<Option<Vec<u8>>> {
                t.split('.').map(|s| URL_SAFE_NO_PAD.decode(s).ok()).collect()
            };
            prop_assert_eq!(decode(&bad), decode(&good), "a changed token was accepted: {}", bad);
        }
    }
}

/// RFC 7515: the header is UTF-8 JSON. A correctly signed token whose header holds invalid
/// UTF-8 inside a field jsonwebtoken does not read is refused (found by the `jwt` fuzz target).
#[test]
fn a_header_that_is_not_utf8_json_is_refused() {
    let claims = json!({"sub": "alice", "aud": AUDIENCE, "exp": now() + 600});
    let token = |header: &[u8]| {
        let input = format!("{}.{}", b64(header), b64(claims.to_string().as_bytes()));
        let signature = hs256(&input, SECRET.as_bytes());
        format!("{input}.{signature}")
    };
    let good = token(br#"{"alg":"HS256","typ":"JWT","note":"ea T"}"#);
    assert_eq!(verify(&good).unwrap().sub, "alice");
    let bad = token(b"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"note\":\"ea\xf7T\"}");
    assert!(
        matches!(verify(&bad), Err(AuthError::Invalid(ref why)) if why == "malformed token"),
        "{:?}",
        verify(&bad)
    );
}

fn signed_claims(claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let signature = hs256(&input, SECRET.as_bytes());
    format!("{input}.{signature}")
}

/// CVE-2026-25537: jsonwebtoken 9 skipped the `nbf` check when `nbf` was a string, so a token
/// not valid for years was accepted. Times of any other type are refused as well.
#[test]
fn times_that_are_not_numbers_are_refused() {
    let good = json!({"sub": "alice", "aud": AUDIENCE, "exp": now() + 600});
    assert!(verify(&signed_claims(&good)).is_ok(), "control");
    let future = now() + 10 * 365 * 86_400;
    for (case, patch) in [
        (
            "nbf as a string, far in the future",
            json!({"nbf": future.to_string()}),
        ),
        (
            "nbf as a string, in the past",
            json!({"nbf": (now() - 600).to_string()}),
        ),
        ("nbf as an array", json!({"nbf": [future]})),
        ("nbf as an object", json!({"nbf": {"t": future}})),
        ("nbf as true", json!({"nbf": true})),
        ("exp as a string", json!({"exp": future.to_string()})),
    ] {
        let mut claims = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            claims[k] = v.clone();
        }
        assert!(
            matches!(verify(&signed_claims(&claims)), Err(AuthError::Invalid(_))),
            "{case}: {claims}"
        );
    }
    let mut numeric = good.clone();
    numeric["nbf"] = json!(future);
    assert_eq!(
        verify(&signed_claims(&numeric)),
        Err(AuthError::Invalid("token not valid yet".into())),
        "control: the same nbf as a number"
    );
}

/// `aud` is checked with an HS256 secret too: a token without it, or for another audience,
/// is refused.
#[test]
fn the_audience_is_required_with_a_secret() {
    let good = json!({"sub": "alice", "aud": AUDIENCE, "exp": now() + 600});
    assert!(verify(&signed_claims(&good)).is_ok(), "control");
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        verify(&signed_claims(&missing)),
        Err(AuthError::Invalid("a required claim is missing".into()))
    );
    for aud in [
        json!("urn:other"),
        json!([]),
        json!(["urn:a", "urn:b"]),
        json!(null),
    ] {
        let mut other = good.clone();
        other["aud"] = aud.clone();
        assert!(verify(&signed_claims(&other)).is_err(), "aud {aud}");
    }
    let empty = Verifier::new(&AuthConfig::new(
        "PROP",
        "prop",
        KeyConfig::Hs256Secret(SECRET.into()),
        " ",
    ));
    let e = empty.err().expect("an empty audience is refused");
    assert_eq!(e.var, "PROP_AUTH_AUDIENCE");
}

/// Any header and claims, signed with the right secret: never a panic; accepted only with alg
/// HS256, a string `sub` and current times, and then the caller is that `sub`. The generator
/// leans towards valid tokens, and the test checks that the accept branch was reached often,
/// so the property is tested on both sides.
#[test]
fn signed_arbitrary_claims_never_panic() {
    let strategy = (
        prop_oneof![
            6 => Just("HS256".to_owned()),
            1 => Just("none".to_owned()),
            1 => Just("RS256".to_owned()),
            1 => Just("HS512".to_owned()),
            1 => Just("ES256".to_owned()),
            1 => Just("EdDSA".to_owned()),
            1 => ".{0,8}",
        ],
        json_value(),
        json_value(),
        prop_oneof![4 => "[a-z]{1,12}".prop_map(Some), 1 => prop::option::of(".{0,30}")],
        prop_oneof![4 => (60i64..100_000).prop_map(Some), 1 => prop::option::of(-100_000i64..100_000)],
        prop_oneof![
            4 => Just(Some(json!(AUDIENCE))),
            1 => Just(Some(json!(["urn:other", AUDIENCE]))),
            1 => prop::option::of(prop_oneof![Just(json!("urn:other")), Just(json!([])), json_value()]),
        ],
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(512));
    let accepted = std::cell::Cell::new(0u32);
    runner
        .run(
            &strategy,
            |(alg, extra_header, claims, sub, exp_offset, aud)| {
                let mut header = json!({"alg": alg, "typ": "JWT"});
                if let (Value::Object(h), Value::Object(extra)) = (&mut header, &extra_header) {
                    for (k, v) in extra {
                        if k != "alg" {
                            h.insert(k.clone(), v.clone());
                        }
                    }
                }
                let mut claims = match claims {
                    Value::Object(map) => Value::Object(map),
                    other => json!({"x": other}),
                };
                if let Some(sub) = &sub {
                    claims["sub"] = json!(sub);
                }
                if let Some(offset) = exp_offset {
                    claims["exp"] = json!(now() + offset);
                }
                if let Some(aud) = aud {
                    claims["aud"] = aud;
                }
                let input = format!(
                    "{}.{}",
                    b64(header.to_string().as_bytes()),
                    b64(claims.to_string().as_bytes())
                );
                let token = format!("{input}.{}", hs256(&input, SECRET.as_bytes()));
                match verify(&token) {
                    Ok(principal) => {
                        accepted.set(accepted.get() + 1);
                        prop_assert_eq!(alg.as_str(), "HS256");
                        prop_assert_eq!(Some(principal.sub.as_str()), claims["sub"].as_str());
                        let exp = claims["exp"].as_i64();
                        prop_assert!(
                            exp.is_some_and(|e| e + 60 >= now()),
                            "expired token accepted: {}",
                            claims
                        );
                        prop_assert!(
                            names_audience(&claims["aud"]),
                            "accepted without our aud: {}",
                            claims
                        );
                    }
                    Err(AuthError::Invalid(_)) => {}
                    Err(AuthError::Missing) => {
                        prop_assert!(false, "a non-empty token is not missing")
                    }
                }
                Ok(())
            },
        )
        .unwrap();
    // About a third of the cases are valid tokens; far fewer accepted means the generator no
    // longer reaches the accept branch and the assertions above test nothing.
    assert!(
        accepted.get() >= 50,
        "only {} of 512 signed tokens were accepted",
        accepted.get()
    );
}
