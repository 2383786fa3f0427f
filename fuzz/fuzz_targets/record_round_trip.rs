//! SPEC 12, "every record reads back": any bytes a caller sends as a body are recorded as the
//! order service records them, pass the limits the log checks, travel in a batch as the relay
//! sends it, seal, are served as stored text that is canonical and is the leaf data, read back
//! as the recorded body, and the chain verifies, as the auditor checks it too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use txlog_api::{body_from_bytes, limits, Event, Record};
use txlog_service::api::validate::{self, RawBatch};
use txlog_service::chain::{seal_all, ChainVerifier};
use txlog_verify::{canonical, json as plain, leaf};

fuzz_target!(|bytes: &[u8]| {
    let (recorded, _) = body_from_bytes(bytes);
    let event: Event = serde_json::from_value(json!({
        "event_id": "0193a0e0-0000-7000-8000-000000000000",
        "occurred_at": "2026-12-07T10:00:00.123Z",
        "source": "order-service",
        "operation": "order.create",
        "outcome": "client_error",
        "actor": {"sub": "alice", "scopes": ["orders:write"]},
        "order_id": null,
        "request": {"method": "POST", "path": "/v1/orders", "query": null, "request_id": "r-1",
                    "client_ip": null, "user_agent": null, "body": recorded, "body_truncated": false},
        "response": {"status": 422, "body": {"echo": recorded}, "body_truncated": false},
        "duration_us": 1,
        "trace_id": null
    }))
    .expect("a well-formed event");
    assert_eq!(
        limits::check(&event),
        vec![],
        "the recorder made an event the log refuses"
    );
    let wire = serde_json::to_vec(&json!({"transactions": [event]})).expect("serializes");
    let batch: RawBatch =
        serde_json::from_slice(&wire).expect("the log reads what the relay sends");
    let received = validate::batch(batch.events()).expect("the log accepts it");
    assert_eq!(received, [event]);
    let records = seal_all(
        &received,
        Some("fuzz"),
        None,
        &txlog_service::chain::SystemStamps,
    )
    .expect("seals");
    assert!(ChainVerifier::verify(&records).valid);
    let record = &records[0];
    let served = record.text().expect("a record is served");
    let back: Value = plain::from_str(&served).expect("the served record reads back");
    assert_eq!(canonical::to_string(&back).expect("canonical"), served);
    let recorded = recorded.unwrap_or(Value::Null);
    assert_eq!(
        canonical::to_string(&back["request"]["body"]).expect("canonical"),
        canonical::to_string(&recorded).expect("canonical")
    );
    assert_eq!(
        leaf::leaf_hash(&record.canonical, &record.hash.text()).expect("leaf"),
        leaf::leaf_hash_of_text(served.as_bytes())
    );
    let typed: Record = serde_json::from_value(back).expect("the auditor reads it as a record");
    assert_eq!(typed.hash, record.hash.text());
});
