//! `POST /v1/transactions` bodies: any bytes are a 400 or a 422, never a panic; every batch
//! that passes seals into a chain that verifies, whose records are canonical JSON that read
//! back as records, and in which changing the first record's text is detected.

#![no_main]

use libfuzzer_sys::fuzz_target;
use txlog_api::Record;
use txlog_service::api::validate::{self, RawBatch};
use txlog_service::chain::{seal_all, ChainVerifier};

fuzz_target!(|bytes: &[u8]| {
    let Some(raw) = ordersys_fuzz::parse_body::<RawBatch>(bytes) else {
        return;
    };
    let events = match validate::batch(raw.events()) {
        Ok(events) => events,
        Err(problem) => {
            assert_eq!(problem.status.as_u16(), 422);
            assert!(!problem.errors.is_empty());
            return;
        }
    };
    let mut records = seal_all(
        &events,
        Some("fuzz"),
        None,
        &txlog_service::chain::SystemStamps,
    )
    .expect("valid events seal");
    for (record, event) in records.iter().zip(&events) {
        let value =
            txlog_verify::json::from_str(&record.canonical).expect("canonical text is JSON");
        assert_eq!(
            txlog_verify::canonical::to_string(&value).expect("canonicalizes"),
            record.canonical
        );
        let shown = txlog_verify::json::from_str(&record.text().expect("a record shows"))
            .expect("a served record is JSON");
        let back: Record = serde_json::from_value(shown).expect("a record reads back");
        assert_eq!(back.hash, record.hash.text());
        assert_eq!(back.event.event_id, event.event_id);
    }
    assert!(
        ChainVerifier::verify(&records).valid,
        "a freshly sealed chain does not verify"
    );
    records[0].canonical.insert(1, ' ');
    records[0].canonical.push(' ');
    let report = ChainVerifier::verify(&records);
    assert!(!report.valid && report.first_invalid_seq == Some(0));
});
