//! What one append has learned so far: which of the batch's events it stored, which were
//! stored before, and the answer for each input event.

use std::collections::{HashMap, HashSet};

use txlog_api::{AppendResult, Event};

use crate::chain::StoredRecord;
use crate::ids::EventId;
use crate::store::{Placement, StoreError};

pub(super) struct Progress<'a> {
    events: &'a [Event],
    /// What this call stored.
    stored: HashMap<EventId, Placement>,
    /// What was stored before (by an earlier call, or another writer).
    existing: HashMap<EventId, Placement>,
}

impl<'a> Progress<'a> {
    pub fn new(events: &'a [Event]) -> Progress<'a> {
        Progress {
            events,
            stored: HashMap::new(),
            existing: HashMap::new(),
        }
    }

    pub fn event_ids(&self) -> Vec<EventId> {
        self.events.iter().map(event_id).collect()
    }

    /// The distinct events of the batch in input order (the first of each `event_id`) that
    /// are stored neither by this call nor before.
    pub fn pending(&self) -> Vec<&'a Event> {
        let mut seen = HashSet::new();
        self.events
            .iter()
            .filter(|e| {
                let id = event_id(e);
                !self.stored.contains_key(&id)
                    && !self.existing.contains_key(&id)
                    && seen.insert(id)
            })
            .collect()
    }

    pub fn note_stored(&mut self, record: &StoredRecord) {
        self.stored
            .insert(record.index.event_id, Placement::from(&record.index));
    }

    /// Notes `found` (where some of the batch's events are stored) as stored before, but
    /// those this call stored; answers whether any was new to it.
    pub fn note_existing(&mut self, found: HashMap<EventId, Placement>) -> bool {
        let mut learned = false;
        for (id, placement) in found {
            if !self.stored.contains_key(&id) {
                learned |= self.existing.insert(id, placement).is_none();
            }
        }
        learned
    }

    /// The answer for each input event, in input order: its placement, and `duplicate`
    /// unless this call stored it and it is the event's first occurrence in the batch.
    pub fn results(&self) -> Result<Vec<AppendResult>, StoreError> {
        let mut reported = HashSet::new();
        self.events
            .iter()
            .map(|e| {
                let id = event_id(e);
                let (placement, new) = match (self.stored.get(&id), self.existing.get(&id)) {
                    (Some(p), _) => (p, reported.insert(id)),
                    (None, Some(p)) => (p, false),
                    (None, None) => {
                        return Err(StoreError::corrupt(format!(
                            "event {} was neither stored nor found",
                            e.event_id
                        )))
                    }
                };
                Ok(AppendResult {
                    event_id: e.event_id,
                    transaction_id: placement.transaction_id.into(),
                    seq: placement.seq,
                    duplicate: !new,
                })
            })
            .collect()
    }
}

/// An event's id, as the log's type (the wire type, shared with the services that record
/// events, keeps a plain UUID).
fn event_id(event: &Event) -> EventId {
    EventId(event.event_id)
}

/// Records what an append did in the process metrics.
pub(super) fn count_appended(results: &[AppendResult]) {
    let duplicates = results.iter().filter(|r| r.duplicate).count() as u64;
    metrics::counter!(crate::metrics::RECORDS_APPENDED)
        .increment(results.len() as u64 - duplicates);
    metrics::counter!(crate::metrics::DUPLICATES).increment(duplicates);
    if let Some(head) = results.iter().filter(|r| !r.duplicate).map(|r| r.seq).max() {
        crate::metrics::observe_head(head);
    }
}
