//! The hash chain (SPEC section 8): how a record is sealed and how a chain is verified.
//!
//! `hash = hex(sha256(prev_hash_hex ++ jcs(record without hash)))`, the first `prev_hash` is
//! 64 zeros. Stores keep the canonical JSON text of each record verbatim, so that the API
//! returns exactly the bytes that were hashed.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use txlog_api::{Event, VerifyHead, VerifyReport};
use uuid::Uuid;

use crate::ids::{EventId, TransactionId};
pub use txlog_verify::chain::{link_hash, GENESIS_HASH};
pub use txlog_verify::hash::{ChainHash, NotAHash, StatedHash};

/// The link a new record attaches to: the current head of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: ChainHash,
    pub recorded_at: DateTime<Utc>,
}

/// The query fields a store keeps beside the canonical text. They are derived from the
/// canonical text and checked against it by `verify`, so that editing them is detected too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFields {
    pub seq: u64,
    pub event_id: EventId,
    pub transaction_id: TransactionId,
    pub order_id: Option<String>,
    pub actor: Option<String>,
    pub operation: String,
    pub outcome: String,
    pub recorded_at: DateTime<Utc>,
}

/// A record as stored and read back: its canonical text (what was hashed), its hash as the
/// store states it (text that is not a hash is kept, so the record is still served as stored
/// and [`ChainVerifier`] reports it) and the fields the stores index for queries.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub canonical: String,
    pub hash: StatedHash,
    pub index: IndexFields,
}

impl StoredRecord {
    /// The link the next record attaches to; [`NotAHash`] when the stored hash is not one (a
    /// record changed in the database), which nothing may be chained onto.
    pub fn head(&self) -> Result<Head, NotAHash> {
        Ok(Head {
            seq: self.index.seq,
            hash: self.hash.hash().ok_or(NotAHash)?,
            recorded_at: self.index.recorded_at,
        })
    }

    /// The record as the API serves it and as its Merkle leaf covers it: the stored canonical
    /// text with `hash` spliced in as stored, never re-encoded ([`txlog_verify::leaf`]).
    pub fn text(&self) -> Result<String, serde_json::Error> {
        txlog_verify::leaf::record_text(&self.canonical, &self.hash.text())
    }
}

/// `recorded_at` is kept to the millisecond and written in one fixed form, so that it sorts
/// as text and fits a BSON date exactly.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Truncates to whole milliseconds.
pub fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// Where a new record's `recorded_at` and `transaction_id` come from: the system clock and
/// UUIDv7 in the service ([`SystemStamps`]); tests may fix both.
pub trait Stamps: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    fn transaction_id(&self) -> TransactionId;
}

/// The system clock and time-ordered UUIDv7 ids.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemStamps;

impl Stamps for SystemStamps {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn transaction_id(&self) -> TransactionId {
        TransactionId(Uuid::now_v7())
    }
}

/// The `recorded_at` of the next record: `now`, but never before the head's, so that the
/// order of `recorded_at` follows `seq` even when replicas' clocks disagree a little.
pub fn next_recorded_at(head: Option<&Head>, now: DateTime<Utc>) -> DateTime<Utc> {
    let now = to_millis(now);
    match head {
        Some(h) if h.recorded_at > now => h.recorded_at,
        _ => now,
    }
}

/// Seals `event`, delivered by `submitted_by` (the `sub` of the delivering token), as the
/// record `transaction_id` after `head`, recorded at `recorded_at`.
pub fn seal(
    event: &Event,
    submitted_by: Option<&str>,
    head: Option<&Head>,
    recorded_at: DateTime<Utc>,
    transaction_id: TransactionId,
) -> serde_json::Result<StoredRecord> {
    let seq = head.map_or(0, |h| h.seq + 1);
    let prev_hash = head.map_or(GENESIS_HASH, |h| h.hash);
    let mut object = match serde_json::to_value(event)? {
        Value::Object(map) => map,
        _ => {
            return Err(serde::ser::Error::custom(
                "an event must serialize to a JSON object",
            ))
        }
    };
    object.insert(
        "transaction_id".into(),
        Value::String(transaction_id.to_string()),
    );
    object.insert("seq".into(), Value::from(seq));
    object.insert(
        "recorded_at".into(),
        Value::String(format_time(recorded_at)),
    );
    object.insert("prev_hash".into(), Value::String(prev_hash.to_hex()));
    if let Some(sub) = submitted_by {
        object.insert("submitted_by".into(), Value::String(sub.to_owned()));
    }
    let canonical = txlog_verify::canonical::to_string(&Value::Object(object))?;
    let hash = link_hash(&prev_hash, &canonical).into();
    let index = IndexFields {
        seq,
        event_id: EventId(event.event_id),
        transaction_id,
        order_id: event.order_id.clone(),
        actor: event.actor.as_ref().map(|a| a.sub.clone()),
        operation: event.operation.clone(),
        outcome: event.outcome.as_str().to_owned(),
        recorded_at,
    };
    Ok(StoredRecord {
        canonical,
        hash,
        index,
    })
}

/// Seals `events` in order as the records after `head`, stamped by `stamps`.
pub fn seal_all<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    submitted_by: Option<&str>,
    mut head: Option<Head>,
    stamps: &dyn Stamps,
) -> serde_json::Result<Vec<StoredRecord>> {
    let mut records = Vec::new();
    for event in events {
        let record = seal(
            event,
            submitted_by,
            head.as_ref(),
            next_recorded_at(head.as_ref(), stamps.now()),
            stamps.transaction_id(),
        )?;
        head = Some(
            record
                .head()
                .map_err(<serde_json::Error as serde::ser::Error>::custom)?,
        );
        records.push(record);
    }
    Ok(records)
}

/// What the canonical text of a record says about itself.
struct Parsed {
    index: IndexFields,
    /// `None` when its `prev_hash` is text but not a hash (then it links to nothing).
    prev_hash: Option<ChainHash>,
}

fn parse(canonical: &str) -> Option<Parsed> {
    let Value::Object(value) = txlog_verify::json::from_str(canonical).ok()? else {
        return None;
    };
    let text = |key: &str| value.get(key).and_then(Value::as_str);
    let optional_text = |key: &str| match value.get(key) {
        Some(Value::Null) | None => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    };
    let actor = match value.get("actor") {
        Some(Value::Null) | None => None,
        Some(actor) => Some(actor.get("sub")?.as_str()?.to_owned()),
    };
    let index = IndexFields {
        seq: value.get("seq")?.as_u64()?,
        event_id: text("event_id")?.parse().ok()?,
        transaction_id: text("transaction_id")?.parse().ok()?,
        order_id: optional_text("order_id")?,
        actor,
        operation: text("operation")?.to_owned(),
        outcome: text("outcome")?.to_owned(),
        recorded_at: DateTime::parse_from_rfc3339(text("recorded_at")?)
            .ok()?
            .with_timezone(&Utc),
    };
    Some(Parsed {
        index,
        prev_hash: text("prev_hash")?.parse().ok(),
    })
}

/// The query fields the canonical text of a record holds, `None` when it is not a record.
pub fn index_of(canonical: &str) -> Option<IndexFields> {
    parse(canonical).map(|p| p.index)
}

/// Walks a chain one record at a time, in `seq` order, in constant memory.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_seq: u64,
    /// What the next record links to; `None` after a record whose stored hash is not a hash.
    prev_hash: Option<ChainHash>,
    checked: u64,
    head: Option<VerifyHead>,
    first_invalid_seq: Option<u64>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            expected_seq: 0,
            prev_hash: Some(GENESIS_HASH),
            checked: 0,
            head: None,
            first_invalid_seq: None,
        }
    }
}

impl ChainVerifier {
    /// A verifier that continues after `head`, a record an earlier verification found valid.
    /// A stored head whose hash is not a hash was changed in the database, with its record
    /// (the caller compared the two): that record is the first invalid one.
    pub fn after(head: VerifyHead) -> Self {
        let prev_hash = ChainHash::from_hex(&head.hash).ok();
        Self {
            expected_seq: head.seq + 1,
            first_invalid_seq: prev_hash.is_none().then_some(head.seq),
            prev_hash,
            checked: 0,
            head: Some(head),
        }
    }

    /// Checks the next stored record: `seq` continuity, `prev_hash` linkage, the hash, and that
    /// the stored query fields agree with the canonical text.
    pub fn push(&mut self, record: &StoredRecord) {
        let seq = record.index.seq;
        let valid = self.first_invalid_seq.is_none() && self.is_valid(record);
        if !valid && self.first_invalid_seq.is_none() {
            // A missing record is reported at the first seq that is missing.
            self.first_invalid_seq = Some(self.expected_seq.min(seq));
        }
        self.checked += 1;
        self.expected_seq = seq + 1;
        self.prev_hash = record.hash.hash();
        self.head = Some(VerifyHead {
            seq,
            hash: record.hash.text().into_owned(),
        });
    }

    /// A stored hash (or a `prev_hash`) that is not a hash makes its record invalid.
    fn is_valid(&self, record: &StoredRecord) -> bool {
        let (Some(parsed), Some(prev_hash), Some(hash)) =
            (parse(&record.canonical), self.prev_hash, record.hash.hash())
        else {
            return false;
        };
        record.index.seq == self.expected_seq
            && parsed.index == record.index
            && parsed.prev_hash == Some(prev_hash)
            && link_hash(&prev_hash, &record.canonical) == hash
    }

    /// Verifies a whole chain held in memory, from its first record.
    pub fn verify(records: &[StoredRecord]) -> VerifyReport {
        let mut verifier = Self::default();
        records.iter().for_each(|r| verifier.push(r));
        verifier.report()
    }

    pub fn report(self) -> VerifyReport {
        VerifyReport {
            valid: self.first_invalid_seq.is_none(),
            checked: self.checked,
            head: self.head,
            first_invalid_seq: self.first_invalid_seq,
            since: None,
            complete: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use txlog_api::{Outcome, RequestRecord, ResponseRecord};

    fn event() -> Event {
        Event {
            event_id: Uuid::now_v7(),
            occurred_at: Utc::now(),
            source: "order-service".into(),
            operation: "order.get".into(),
            outcome: Outcome::Success,
            actor: None,
            order_id: Some("o-1".into()),
            request: RequestRecord {
                method: "GET".into(),
                path: "/v1/orders/o-1".into(),
                query: None,
                request_id: "r1".into(),
                client_ip: None,
                user_agent: None,
                body: Some(serde_json::json!({"b": 1.5, "a": "é"})),
                body_truncated: false,
                body_bytes: None,
                body_sha256: None,
            },
            response: ResponseRecord {
                status: 200,
                body: None,
                body_truncated: false,
                body_bytes: None,
                body_sha256: None,
                order_ids: None,
            },
            duration_us: 12,
            trace_id: None,
            truncated: Vec::new(),
        }
    }

    fn chain(n: usize) -> Vec<StoredRecord> {
        let events: Vec<Event> = (0..n).map(|_| event()).collect();
        seal_all(&events, Some("order-service"), None, &SystemStamps).unwrap()
    }

    #[test]
    fn the_hash_follows_the_spec_rule() {
        let record = &chain(1)[0];
        let mut value: Value = serde_json::from_str(&record.canonical).unwrap();
        assert_eq!(value["prev_hash"], GENESIS_HASH.to_hex());
        assert_eq!(value["seq"], 0);
        assert!(value.get("hash").is_none());
        let recanonical = serde_json_canonicalizer::to_string(&value).unwrap();
        assert_eq!(recanonical, record.canonical);
        let expected = hex::encode(Sha256::digest(format!(
            "{GENESIS_HASH}{}",
            record.canonical
        )));
        assert_eq!(record.hash.text(), expected);
        value["hash"] = Value::String(expected);
        let text = record.text().unwrap();
        assert_eq!(text, serde_json_canonicalizer::to_string(&value).unwrap());
    }

    #[test]
    fn a_good_chain_verifies() {
        let records = chain(5);
        let report = ChainVerifier::verify(&records);
        assert!(report.valid);
        assert_eq!(report.checked, 5);
        assert_eq!(report.head.unwrap().hash, records[4].hash.text());
    }

    #[test]
    fn tampering_gaps_and_edited_index_fields_are_found() {
        let records = chain(5);
        let mut edited = records.clone();
        edited[2].canonical = edited[2].canonical.replace("order.get", "order.del");
        let mut gap = records.clone();
        gap.remove(3);
        let mut index = records.clone();
        index[1].index.order_id = Some("other".into());
        let mut not_a_hash = records.clone();
        not_a_hash[3].hash = StatedHash::read(records[3].hash.text().to_uppercase());
        for (chain, bad) in [(edited, 2), (gap, 3), (index, 1), (not_a_hash, 3)] {
            let report = ChainVerifier::verify(&chain);
            assert!(!report.valid);
            assert_eq!(report.first_invalid_seq, Some(bad));
        }
    }
}
