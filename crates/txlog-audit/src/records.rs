//! `--full`: every record downloaded and checked on its own: the hash chain, the record's
//! fields, the filter fields the log keeps beside it (which must equal what the hashed text
//! states), and that the first `size` records produce the root the checkpoint signs.

use std::collections::VecDeque;

use serde_json::Value;
use txlog_verify::chain::{check_link, FilterFields, GENESIS_HASH};
use txlog_verify::checkpoint::TreeHead;
use txlog_verify::leaf::leaf_hash_of_text;
use txlog_verify::tree::MemoryTree;
use txlog_verify::{ChainHash, Hash};

use super::client::{LogClient, Page};
use super::progress::Progress;
use super::{failed, AuditError};

/// Checks every record; a line saying what held.
pub async fn check_all(client: &LogClient, head: &TreeHead) -> Result<String, AuditError> {
    let progress = Progress::new(head.size);
    let mut walk = Walk::default();
    let mut filters = FilterWalk::default();
    let mut cursor = None;
    loop {
        let page = client.records(cursor.as_deref()).await?;
        let checked = page.items.len() as u64;
        for record in page.items {
            let stated = walk.push(&record, head.size)?;
            filters.expect(stated);
        }
        filters.compare(client).await?;
        progress.advance(checked);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    filters.finish(client).await?;
    let elapsed = progress.finish();
    let count = walk.count;
    if count < head.size {
        return Err(failed(format!(
            "records: the checkpoint signs {} records, the log returned {count}",
            head.size
        )));
    }
    let root = walk
        .tree
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
    let rate = count as f64 / elapsed.as_secs_f64().max(1e-3);
    Ok(format!(
        "records: {count} checked (seq, fields, hash chain, filter fields) in {:.1} s ({rate:.0}/s); the first {} produce the signed root",
        elapsed.as_secs_f64(),
        head.size
    ))
}

/// The chain walked so far.
struct Walk {
    count: u64,
    prev_hash: ChainHash,
    tree: MemoryTree,
}

impl Default for Walk {
    fn default() -> Walk {
        Walk {
            count: 0,
            prev_hash: GENESIS_HASH,
            tree: MemoryTree::default(),
        }
    }
}

impl Walk {
    /// The next record: its place, its fields and its link; a leaf when the checkpoint covers
    /// it. Returns the filter fields its hashed text states.
    fn push(&mut self, record: &Value, signed: u64) -> Result<FilterFields, AuditError> {
        let seq = self.count;
        let at = |what: String| failed(format!("record seq {seq}: {what}"));
        let (hash, fields) =
            check_link(seq, record, &self.prev_hash).map_err(|e| at(e.to_string()))?;
        check_fields(record).map_err(at)?;
        if seq < signed {
            let leaf = txlog_verify::canonical::to_string(record).map_err(|e| at(e.to_string()))?;
            self.tree
                .push(Hash(leaf_hash_of_text(leaf.as_bytes())))
                .map_err(|e| at(e.to_string()))?;
        }
        self.prev_hash = hash;
        self.count += 1;
        Ok(fields)
    }
}

/// The record's own fields (SPEC section 8) beyond the chain's: ids, times and the call.
fn check_fields(record: &Value) -> Result<(), String> {
    let text = |key: &str| record.get(key).and_then(Value::as_str);
    for key in ["event_id", "transaction_id"] {
        let valid = text(key).is_some_and(|id| {
            id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        });
        if !valid {
            return Err(format!("fields: {key} is not a UUID"));
        }
    }
    for key in ["occurred_at", "source"] {
        if text(key).is_none() {
            return Err(format!("fields: {key} is missing"));
        }
    }
    for key in ["request", "response"] {
        if !record.get(key).is_some_and(Value::is_object) {
            return Err(format!("fields: {key} is not an object"));
        }
    }
    Ok(())
}

/// The filter fields the log keeps, read page by page beside the records and compared with
/// what each record's hashed text states.
#[derive(Default)]
struct FilterWalk {
    expected: VecDeque<FilterFields>,
    /// Where the page read last began (`None`: the first page).
    cursor: Option<String>,
    /// The last `seq` compared: a page read again skips up to it.
    last: Option<u64>,
    /// The log said there was no next page.
    done: bool,
}

impl FilterWalk {
    fn expect(&mut self, stated: FilterFields) {
        self.expected.push_back(stated);
    }

    /// Reads the log's filter fields until every record seen so far is compared.
    async fn compare(&mut self, client: &LogClient) -> Result<(), AuditError> {
        while !self.expected.is_empty() && !self.done {
            let Page { items, next } = client.filter_fields(self.cursor.as_deref()).await?;
            if items.is_empty() {
                self.done = true;
            }
            for kept in items {
                if self.last.is_some_and(|last| kept.seq <= last) {
                    continue;
                }
                self.last = Some(kept.seq);
                self.check(kept)?;
            }
            match next {
                Some(next) => self.cursor = Some(next),
                None => self.done = true,
            }
        }
        Ok(())
    }

    fn check(&mut self, kept: FilterFields) -> Result<(), AuditError> {
        let Some(stated) = self.expected.pop_front() else {
            // Records appended after this walk's last page of records.
            return Ok(());
        };
        if kept.seq != stated.seq {
            return Err(failed(format!(
                "record seq {}: the log keeps filter fields for seq {} in its place",
                stated.seq, kept.seq
            )));
        }
        if kept != stated {
            return Err(failed(format!(
                "record seq {}: the filter fields the log keeps differ from its hashed text: {}",
                stated.seq,
                differences(&stated, &kept)
            )));
        }
        Ok(())
    }

    /// Every record has its filter fields. Records appended while the audit ran may have come
    /// after the filter fields' last page: that page is read once more.
    async fn finish(&mut self, client: &LogClient) -> Result<(), AuditError> {
        self.compare(client).await?;
        if !self.expected.is_empty() {
            self.done = false;
            self.compare(client).await?;
        }
        match self.expected.front() {
            Some(missing) => Err(failed(format!(
                "record seq {}: the log keeps no filter fields for it",
                missing.seq
            ))),
            None => Ok(()),
        }
    }
}

fn differences(stated: &FilterFields, kept: &FilterFields) -> String {
    let mut out = Vec::new();
    let mut field = |name: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug, same: bool| {
        if !same {
            out.push(format!("{name} {a:?} in the record, {b:?} kept"));
        }
    };
    field(
        "order_id",
        &stated.order_id,
        &kept.order_id,
        stated.order_id == kept.order_id,
    );
    field(
        "actor",
        &stated.actor,
        &kept.actor,
        stated.actor == kept.actor,
    );
    field(
        "operation",
        &stated.operation,
        &kept.operation,
        stated.operation == kept.operation,
    );
    field(
        "outcome",
        &stated.outcome,
        &kept.outcome,
        stated.outcome == kept.outcome,
    );
    field(
        "recorded_at",
        &stated.recorded_at,
        &kept.recorded_at,
        stated.recorded_at == kept.recorded_at,
    );
    out.join("; ")
}
