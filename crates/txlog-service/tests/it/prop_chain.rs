//! Property tests (issue 7): canonical-JSON hashing of the chain. Whatever an event holds,
//! the canonical text is stable (re-canonicalising it changes nothing, key order does not
//! matter), a sealed chain verifies, and changing any byte of any record is detected.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use txlog_api::Event;
use txlog_service::chain::{
    link_hash, seal_all, ChainHash, ChainVerifier, StoredRecord, GENESIS_HASH,
};

/// Arbitrary JSON, including the strings and numbers canonicalisation has to get right.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[\\x00-\\x1f\"\\\\/\u{7f}\u{2028}\u{2029}\u{202e}\u{1f600}é]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON text as a hostile caller writes it: serde's private marker keys (first or later),
/// keys twice, integers beyond 2^53, odd number forms, odd Unicode, nesting deeper than the
/// recorder keeps as JSON.
fn hostile_json_text() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        Just("18446744073709551615".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("9007199254740993".to_owned()),
        Just("-9223372036854775808".to_owned()),
        Just("123456789012345678901234567890".to_owned()),
        Just("1e300".to_owned()),
        Just("-0.0".to_owned()),
        Just("5e-324".to_owned()),
        Just("1E21".to_owned()),
        Just("0.1".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
    ];
    let text = prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\"\\\\/\u{7f}\u{2028}\u{2029}\u{202e}\u{e000}\u{fffe}\u{1f600}é]{0,8}",
    ];
    let key = prop_oneof![
        Just("$serde_json::private::RawValue".to_owned()),
        Just("$serde_json::private::Number".to_owned()),
        Just("a".to_owned()),
        Just("\u{1f600}".to_owned()),
        Just("\u{e000}".to_owned()),
        text.clone(),
    ];
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        number,
        text.prop_map(|t| serde_json::to_string(&t).unwrap()),
    ];
    let tree = leaf.prop_recursive(6, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((key.clone(), inner), 0..5).prop_map(|members| {
                let members: Vec<String> = members
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap()))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    });
    (tree, 0usize..3).prop_map(|(text, deep)| match deep {
        2 => format!("{}{text}{}", "[".repeat(70), "]".repeat(70)),
        _ => text,
    })
}

fn event(request_body: Value, response_body: Value, text: String) -> Event {
    serde_json::from_value(json!({
        "event_id": uuid::Uuid::now_v7(),
        "occurred_at": "2026-11-25T10:00:00.123Z",
        "source": "order-service",
        "operation": "order.create",
        "outcome": "client_error",
        "actor": {"sub": text, "scopes": ["orders:write"]},
        "order_id": null,
        "request": {"method": "POST", "path": "/v1/orders", "query": text, "request_id": "r-1",
                    "client_ip": "127.0.0.1", "user_agent": text, "body": request_body, "body_truncated": false},
        "response": {"status": 422, "body": response_body, "body_truncated": false},
        "duration_us": 12,
        "trace_id": null
    }))
    .expect("a well-formed event")
}

/// The same value with every object's keys in reverse insertion order.
fn reversed(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            let mut entries: Vec<_> = map.iter().collect();
            entries.reverse();
            for (k, v) in entries {
                out.insert(k.clone(), reversed(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
        other => other.clone(),
    }
}

fn chain(events: &[Event]) -> Vec<StoredRecord> {
    seal_all(
        events,
        Some("sender"),
        None,
        &txlog_service::chain::SystemStamps,
    )
    .expect("any event seals")
}

proptest! {

    #[test]
    fn canonical_text_is_stable(value in json_value()) {
        let canonical = serde_json_canonicalizer::to_string(&value).unwrap();
        let parsed: Value = serde_json::from_str(&canonical).expect("canonical JSON is JSON");
        prop_assert_eq!(&serde_json_canonicalizer::to_string(&parsed).unwrap(), &canonical);
        prop_assert_eq!(&serde_json_canonicalizer::to_string(&reversed(&value)).unwrap(), &canonical);
    }

    #[test]
    fn the_fast_canonical_text_is_the_crates(value in json_value()) {
        prop_assert_eq!(
            txlog_verify::canonical::to_string(&value).unwrap(),
            serde_json_canonicalizer::to_string(&value).unwrap()
        );
    }

    #[test]
    fn sealed_chains_verify_and_any_change_is_detected(
        bodies in prop::collection::vec((json_value(), json_value(), any::<String>()), 1..6),
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let events: Vec<Event> = bodies.into_iter().map(|(a, b, t)| event(a, b, t)).collect();
        let mut records = chain(&events);
        let report = ChainVerifier::verify(&records);
        prop_assert!(report.valid);
        prop_assert_eq!(report.checked, records.len() as u64);
        prop_assert_eq!(records[0].canonical.contains(&GENESIS_HASH.to_hex()), true);
        for r in &records {
            // The leaf data found by scanning the text is the canonical record with its hash.
            prop_assert_eq!(
                txlog_service::transparency::tree::leaf_data(r).unwrap(),
                txlog_service::transparency::tree::leaf_data_slow(r).unwrap()
            );
            // The leaf hash, hashed piece by piece, is the hash of that text.
            prop_assert_eq!(
                txlog_service::transparency::tree::leaf_hash(r).unwrap(),
                tlog_tiles::record_hash(
                    txlog_service::transparency::tree::leaf_data_slow(r).unwrap().as_bytes()
                )
            );
            // What is hashed parses back, and is already canonical.
            let value: Value = serde_json::from_str(&r.canonical).unwrap();
            prop_assert_eq!(&serde_json_canonicalizer::to_string(&value).unwrap(), &r.canonical);
            prop_assert!(r.hash.hash().is_some());
        }

        let i = which.index(records.len());
        let mut bytes = records[i].canonical.clone().into_bytes();
        let j = at.index(bytes.len());
        prop_assume!(bytes[j] != byte);
        bytes[j] = byte;
        let Ok(tampered) = String::from_utf8(bytes) else { return Ok(()) };
        records[i].canonical = tampered;
        let report = ChainVerifier::verify(&records);
        prop_assert!(!report.valid, "a changed record {} verified", i);
        prop_assert!(report.first_invalid_seq.is_some_and(|s| s <= i as u64));
    }

    /// SPEC 12, "every record reads back": a body as the order service records it passes the
    /// limits the log checks, seals, is served as its stored text (which is canonical and is
    /// the leaf data), reads back as the recorded body, and the chain verifies.
    #[test]
    fn every_recorded_body_reads_back(texts in prop::collection::vec(hostile_json_text(), 1..4)) {
        let recorded: Vec<Value> = texts
            .iter()
            .map(|t| txlog_api::body_from_bytes(t.as_bytes()).0.expect("a body"))
            .collect();
        let events: Vec<Event> = recorded
            .iter()
            .map(|b| event(b.clone(), json!({"echo": b}), "t".into()))
            .collect();
        for e in &events {
            prop_assert_eq!(txlog_api::limits::check(e), vec![]);
        }
        // Through the wire as the relay sends it, and the log's reading of a batch.
        let wire = serde_json::to_vec(&json!({"transactions": events})).unwrap();
        let batch: txlog_service::api::validate::RawBatch = serde_json::from_slice(&wire).unwrap();
        let received = txlog_service::api::validate::batch(batch.events()).unwrap();
        prop_assert_eq!(&received, &events);
        let records = chain(&received);
        prop_assert!(ChainVerifier::verify(&records).valid);
        for (r, body) in records.iter().zip(&recorded) {
            let served = r.text().unwrap();
            let back = txlog_verify::json::from_str(&served).unwrap();
            let canonical = |v: &Value| txlog_verify::canonical::to_string(v).unwrap();
            prop_assert_eq!(canonical(&back["request"]["body"]), canonical(body));
            prop_assert_eq!(&canonical(&back), &served);
            prop_assert_eq!(
                txlog_verify::leaf::leaf_hash(&r.canonical, &r.hash.text()).unwrap(),
                txlog_verify::leaf::leaf_hash_of_text(served.as_bytes())
            );
            // The auditor's reading: the record as fetched, typed.
            let typed: txlog_api::Record = serde_json::from_value(back).unwrap();
            prop_assert_eq!(&typed.hash, &r.hash.text());
        }
    }

    #[test]
    fn the_link_hash_depends_on_both_inputs(prev in any::<[u8; 32]>(), text in any::<String>(), other in any::<String>()) {
        let prev = ChainHash(prev);
        prop_assume!(text != other && prev != GENESIS_HASH);
        prop_assert_ne!(link_hash(&prev, &text), link_hash(&prev, &other));
        prop_assert_ne!(link_hash(&prev, &text), link_hash(&GENESIS_HASH, &text));
    }
}
