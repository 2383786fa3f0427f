//! `--full`: every record downloaded and checked on its own: the hash chain, the record's
//! fields, and that the first `size` records produce the root the checkpoint signs.

use serde_json::Value;
use tlog_tiles::Hash;
use txlog_api::Record;
use txlog_verify::leaf::leaf_hash_of_text;

use super::client::LogClient;
use super::{failed, AuditError};
use crate::chain::{link_hash, GENESIS_HASH};
use crate::transparency::tree::MemoryTree;
use crate::transparency::TreeHead;

/// Checks every record; a line saying what held.
pub async fn check_all(client: &LogClient, head: &TreeHead) -> Result<String, AuditError> {
    let mut tree = MemoryTree::default();
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut count = 0u64;
    let mut cursor = None;
    loop {
        let (items, next) = client.records(cursor.as_deref()).await?;
        for record in items {
            prev_hash = check_record(count, &record, &prev_hash)?;
            if count < head.size {
                let leaf = txlog_verify::canonical::to_string(&record)
                    .map_err(|e| failed(format!("record seq {count}: {e}")))?;
                tree.push(Hash(leaf_hash_of_text(leaf.as_bytes())))
                    .map_err(|e| failed(format!("record seq {count}: {e}")))?;
            }
            count += 1;
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if count < head.size {
        return Err(failed(format!(
            "records: the checkpoint signs {} records, the log returned {count}",
            head.size
        )));
    }
    let root = tree
        .root(head.size)
        .map_err(|e| failed(format!("records: {e}")))?;
    if root != head.root {
        return Err(failed(format!(
            "root mismatch: records 0..{} give {}, the checkpoint signs {}",
            head.size,
            hex::encode(root.0),
            hex::encode(head.root.0)
        )));
    }
    Ok(format!(
        "records: {count} checked (seq, fields, hash chain); the first {} produce the signed root",
        head.size
    ))
}

/// One record: its place, its fields, and its link to the one before. Returns its hash.
fn check_record(seq: u64, record: &Value, prev_hash: &str) -> Result<String, AuditError> {
    let at = |what: String| failed(format!("record seq {seq}: {what}"));
    let parsed: Record =
        serde_json::from_value(record.clone()).map_err(|e| at(format!("fields: {e}")))?;
    if parsed.seq != seq {
        return Err(at(format!(
            "missing (the log returned seq {} in its place)",
            parsed.seq
        )));
    }
    if parsed.prev_hash != prev_hash {
        return Err(at(match seq {
            0 => "prev_hash is not the genesis hash".to_owned(),
            _ => format!("prev_hash does not link to record seq {}", seq - 1),
        }));
    }
    let mut content = record.clone();
    if let Some(object) = content.as_object_mut() {
        object.remove("hash");
    }
    let canonical = txlog_verify::canonical::to_string(&content).map_err(|e| at(e.to_string()))?;
    if link_hash(prev_hash, &canonical) != parsed.hash {
        return Err(at("hash does not match its content".to_owned()));
    }
    Ok(parsed.hash)
}
