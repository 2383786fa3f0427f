//! The canonical JSON (RFC 8785) that the chain hashes, and the recorded form of a body: any
//! bytes record without a panic; canonical text is JSON, is its own canonical form, and does
//! not depend on key order or spacing; the link hash is a SHA-256 in hex.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use txlog_api::{body_from_bytes, BODY_RECORD_LIMIT};
use txlog_service::chain::{link_hash, GENESIS_HASH};

fuzz_target!(|bytes: &[u8]| {
    let (recorded, truncated) = body_from_bytes(bytes);
    assert_eq!(truncated, bytes.len() > BODY_RECORD_LIMIT);
    assert_eq!(recorded.is_none(), bytes.is_empty());
    let Some(value) = recorded else { return };
    let canonical =
        serde_json_canonicalizer::to_string(&value).expect("a recorded body canonicalizes");
    let parsed: Value = serde_json::from_str(&canonical).expect("canonical text is JSON");
    assert_eq!(
        serde_json_canonicalizer::to_string(&parsed).expect("canonicalizes"),
        canonical
    );
    assert_eq!(
        serde_json_canonicalizer::to_string(&ordersys_fuzz::reversed(&value))
            .expect("canonicalizes"),
        canonical
    );
    let pretty = serde_json::to_string_pretty(&value).expect("serializes");
    let respaced: Value = serde_json::from_str(&pretty).expect("pretty JSON is JSON");
    assert_eq!(
        serde_json_canonicalizer::to_string(&respaced).expect("canonicalizes"),
        canonical
    );
    let hash = link_hash(&GENESIS_HASH, &canonical);
    assert_eq!(hash.to_hex().parse(), Ok(hash));
    assert_eq!(hash, link_hash(&GENESIS_HASH, &canonical));
});
