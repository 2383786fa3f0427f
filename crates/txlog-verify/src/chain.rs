//! The hash chain (SPEC section 8): `hash = hex(sha256(prev_hash ‖ jcs(record without hash)))`,
//! the first `prev_hash` 64 zeros. What the log computes when it stores a record and what an
//! auditor recomputes from the record it was served.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::hash::ChainHash;

/// `prev_hash` of the first record (64 zeros).
pub const GENESIS_HASH: ChainHash = ChainHash::GENESIS;

/// `sha256(hex(prev_hash) ‖ canonical)`: the link hashes the previous hash's hex text.
pub fn link_hash(prev_hash: &ChainHash, canonical: &str) -> ChainHash {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.hex_bytes());
    hasher.update(canonical.as_bytes());
    ChainHash(hasher.finalize().into())
}

/// The fields of a served record that the list filters read (SPEC section 8), as its hashed
/// text states them: what a store's filter columns must equal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct FilterFields {
    pub seq: u64,
    pub order_id: Option<String>,
    /// The actor's `sub`.
    pub actor: Option<String>,
    pub operation: String,
    pub outcome: String,
    pub recorded_at: String,
}

/// Why a served record does not hold its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("is not a JSON object with seq, prev_hash and hash")]
    Shape,
    #[error("missing (the log returned seq {0} in its place)")]
    Missing(u64),
    #[error("prev_hash is not the genesis hash")]
    NotGenesis,
    #[error("prev_hash does not link to record seq {0}")]
    Unlinked(u64),
    #[error("hash does not match its content")]
    Hash,
    #[error("fields: {0}")]
    Fields(String),
}

/// Checks one served record (parsed with [`crate::json::Plain`]) as the chain's record `seq`
/// after a record whose hash is `prev_hash`: its place, its link and its hash (a `hash` that
/// is not 64 lowercase hex digits does not match its content either). Returns its hash and the
/// fields the filters read.
pub fn check_link(
    seq: u64,
    record: &Value,
    prev_hash: &ChainHash,
) -> Result<(ChainHash, FilterFields), LinkError> {
    let object = record.as_object().ok_or(LinkError::Shape)?;
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let stated = object
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or(LinkError::Shape)?;
    let (Some(prev), Some(hash)) = (text("prev_hash"), text("hash")) else {
        return Err(LinkError::Shape);
    };
    if stated != seq {
        return Err(LinkError::Missing(stated));
    }
    if prev.parse().ok() != Some(*prev_hash) {
        return Err(match seq {
            0 => LinkError::NotGenesis,
            _ => LinkError::Unlinked(seq - 1),
        });
    }
    let mut content = object.clone();
    content.remove("hash");
    let canonical = crate::canonical::to_string(&Value::Object(content))
        .map_err(|e| LinkError::Fields(e.to_string()))?;
    let hash = ChainHash::from_hex(hash).map_err(|_| LinkError::Hash)?;
    if link_hash(prev_hash, &canonical) != hash {
        return Err(LinkError::Hash);
    }
    Ok((hash, filter_fields(object)?))
}

fn filter_fields(object: &serde_json::Map<String, Value>) -> Result<FilterFields, LinkError> {
    let field = |key: &str| -> Result<Option<String>, LinkError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(LinkError::Fields(format!("{key} is not a string"))),
        }
    };
    let required =
        |key: &str| field(key)?.ok_or_else(|| LinkError::Fields(format!("{key} is missing")));
    let actor = match object.get("actor") {
        None | Some(Value::Null) => None,
        Some(Value::Object(actor)) => match actor.get("sub") {
            Some(Value::String(sub)) => Some(sub.clone()),
            _ => return Err(LinkError::Fields("actor.sub is not a string".into())),
        },
        Some(_) => return Err(LinkError::Fields("actor is not an object".into())),
    };
    Ok(FilterFields {
        seq: object
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or(LinkError::Shape)?,
        order_id: field("order_id")?,
        actor,
        operation: required("operation")?,
        outcome: required("outcome")?,
        recorded_at: required("recorded_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, prev: &ChainHash) -> Value {
        let mut value = serde_json::json!({
            "seq": seq, "prev_hash": prev.to_hex(), "operation": "order.get", "outcome": "success",
            "recorded_at": "2026-12-07T00:00:00.000Z", "order_id": "o-1",
            "actor": {"sub": "alice", "scopes": []}, "request": {"body": {"b": 1}},
        });
        let canonical = crate::canonical::to_string(&value).unwrap();
        value["hash"] = Value::String(link_hash(prev, &canonical).to_hex());
        value
    }

    #[test]
    fn a_chain_links_and_states_its_filter_fields() {
        let first = record(0, &GENESIS_HASH);
        let (hash, fields) = check_link(0, &first, &GENESIS_HASH).unwrap();
        assert_eq!(fields.actor.as_deref(), Some("alice"));
        assert_eq!(fields.order_id.as_deref(), Some("o-1"));
        let second = record(1, &hash);
        assert!(check_link(1, &second, &hash).is_ok());
        assert_eq!(check_link(2, &second, &hash), Err(LinkError::Missing(1)));
        assert_eq!(
            check_link(1, &second, &GENESIS_HASH),
            Err(LinkError::Unlinked(0))
        );
        let mut edited = second.clone();
        edited["request"]["body"]["b"] = Value::from(2);
        assert_eq!(check_link(1, &edited, &hash), Err(LinkError::Hash));
        // A hash or link that is not a hash's text is a broken record, not an error apart.
        for text in [hash.to_hex().to_uppercase(), "x".into()] {
            let mut not_a_hash = second.clone();
            not_a_hash["hash"] = Value::String(text.clone());
            assert_eq!(check_link(1, &not_a_hash, &hash), Err(LinkError::Hash));
            let mut unlinked = second.clone();
            unlinked["prev_hash"] = Value::String(text);
            assert_eq!(check_link(1, &unlinked, &hash), Err(LinkError::Unlinked(0)));
        }
    }
}
