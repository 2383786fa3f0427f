//! Witnesses (SPEC section 12): after each checkpoint the log asks C2SP tlog-witness witnesses
//! to cosign it, keeps their verified cosignatures beside it, and serves the newest checkpoint
//! a quorum cosigned. A witness that already cosigned a larger tree than our newest, or that
//! refuses our consistency proof, proves that the store was rolled back or forked since: the
//! log then stops signing for good.

mod client;
mod task;

use std::sync::Arc;

pub use task::WitnessTask;
pub use txlog_verify::cosignature::{self, WitnessKey};

use crate::config::WitnessConfig;
use crate::store::{Cosignature, Store};

/// Cosignatures read per page while looking for the newest witnessed checkpoint.
const PAGE: u32 = 256;

/// A checkpoint a quorum of witnesses cosigned: its size and the note with our signature line
/// and every stored cosignature line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    pub size: u64,
    pub note: String,
}

/// The newest checkpoint cosigned by at least `config.quorum` of the configured witnesses,
/// with their lines (each checked again with the witness's key as configured now, so that
/// lines of a replaced key are neither counted nor served).
pub async fn newest_witnessed(
    store: &Arc<dyn Store>,
    config: &WitnessConfig,
) -> anyhow::Result<Option<Witnessed>> {
    let mut below = u64::MAX;
    loop {
        let page = store.cosignatures_below(below, PAGE).await?;
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            return Ok(None);
        };
        let (first, last) = (first.size, last.size);
        // A full page may end inside its last size: that size is read whole with the next page.
        let full = page.len() == PAGE as usize;
        let cut = full && first != last;
        for group in page.chunk_by(|a, b| a.size == b.size) {
            if cut && group[0].size == last {
                break;
            }
            if let Some(found) = quorum_of(store, config, group).await? {
                return Ok(Some(found));
            }
        }
        if !full {
            return Ok(None);
        }
        below = if cut { last + 1 } else { last };
    }
}

/// The checkpoint `group` (cosignatures of one size) cosigns, when enough of them verify.
async fn quorum_of(
    store: &Arc<dyn Store>,
    config: &WitnessConfig,
    group: &[Cosignature],
) -> anyhow::Result<Option<Witnessed>> {
    let Some(size) = group.first().map(|g| g.size) else {
        return Ok(None);
    };
    // Cheap first: enough configured names at all.
    let named = group
        .iter()
        .filter(|c| config.witnesses.iter().any(|w| w.key.name() == c.witness))
        .count();
    if named < config.quorum {
        return Ok(None);
    }
    let Some(checkpoint) = store.checkpoint_at(size).await? else {
        return Ok(None);
    };
    let Some(body) = cosignature::note_body(&checkpoint.note) else {
        return Ok(None);
    };
    let mut lines = String::new();
    let mut count = 0;
    for witness in &config.witnesses {
        let Some(stored) = group.iter().find(|c| c.witness == witness.key.name()) else {
            continue;
        };
        let valid: Vec<&str> = stored
            .lines
            .lines()
            .filter(|line| witness.key.verify_line(body, line).is_ok())
            .collect();
        if !valid.is_empty() {
            count += 1;
            for line in valid {
                lines.push_str(line);
                lines.push('\n');
            }
        }
    }
    if count < config.quorum {
        return Ok(None);
    }
    let mut note = checkpoint.note;
    note.push_str(&lines);
    Ok(Some(Witnessed { size, note }))
}
