//! Appending to the MongoDB store. A record's `_id` is its `seq`, so `_id` uniqueness keeps the
//! chain gap-free and linear with several replicas appending at once: a batch goes in with one
//! ordered `insert_many` at head + 1, and after any insert error the replica reads back what
//! was stored and by whom, then tries again on the new head.
//!
//! A replica appends one batch at a time and remembers the end of the log it wrote (its
//! [`Tail`]). While no other replica appends, the next batch is then two writes and no read:
//! the records at the remembered head + 1, and their Merkle tree hashes from the remembered
//! frontier. When another replica appended first, the insert meets a taken `_id`; when a
//! batch holds an event stored before, it meets the unique `event_id` index. Either way the
//! replica forgets its tail and reads the head and the batch's stored events before it tries
//! again, as it does for every batch when that index is missing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tlog_tiles::Hash;
use txlog_api::{AppendResult, Event};
use uuid::Uuid;

use super::mongo::{backoff, to_doc, MongoStore};
use super::{pending, results, seals_of, Placement};
use crate::chain::{self, Head, StoredRecord};
use crate::transparency::tree::KnownTree;

/// How long one append keeps retrying when other replicas win the race for the head.
const APPEND_DEADLINE: Duration = Duration::from_secs(30);

/// The end of the log as this replica last wrote it.
pub(super) struct Tail {
    head: Head,
    /// The tree of `head.seq + 1` leaves, when this replica wrote its hashes.
    tree: Option<TailTree>,
}

/// The tree at a [`Tail`]: its frontier (`tree::frontier`), all the next append needs, and
/// its lineage (`tree::KnownTree`); the checkpoint loop may sign it without reading the store.
pub(super) struct TailTree {
    frontier: HashMap<u64, Hash>,
    lineage: u64,
}

/// What one append has learned so far: the events this call stored and those stored before.
struct Progress<'a> {
    events: &'a [Event],
    stored: HashMap<Uuid, Placement>,
    existing: HashMap<Uuid, Placement>,
}

impl Progress<'_> {
    fn known(&self) -> HashMap<Uuid, Placement> {
        self.existing
            .iter()
            .chain(self.stored.iter())
            .map(|(k, v)| (*k, *v))
            .collect()
    }

    fn note_stored(&mut self, record: &StoredRecord) {
        self.stored
            .insert(record.index.event_id, Placement::from(&record.index));
    }

    fn results(&self) -> anyhow::Result<Vec<AppendResult>> {
        results(self.events, &self.stored, &self.existing)
    }
}

impl MongoStore {
    pub(super) async fn append_batch(
        &self,
        events: &[Event],
        submitted_by: &str,
    ) -> anyhow::Result<Vec<AppendResult>> {
        let mut tail = self.tail.lock().await;
        let mut progress = Progress {
            events,
            stored: HashMap::new(),
            existing: HashMap::new(),
        };
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            // Without the unique event_id index, the read below is the only guard against
            // storing an event twice, so the remembered tail is not trusted then.
            let remembered = tail.take().filter(|_| self.unique_events);
            let head = match &remembered {
                Some(tail) => Some(tail.head.clone()),
                None => self.head_and_placements(&mut progress).await?,
            };
            let todo = pending(events, &progress.known());
            if todo.is_empty() {
                return progress.results();
            }
            let sealed = chain::seal_all(todo, Some(submitted_by), head)?;
            let seals = seals_of(self.seal_key.as_ref(), &sealed)?;
            let docs = sealed
                .iter()
                .zip(seals)
                .map(|(record, seal)| to_doc(record, seal))
                .collect::<anyhow::Result<Vec<_>>>()?;
            match self.records.insert_many(docs).ordered(true).await {
                Ok(_) => {
                    sealed.iter().for_each(|s| progress.note_stored(s));
                    let tree = remembered.and_then(|t| t.tree);
                    *tail = Some(self.tail_after(&sealed, tree).await);
                    return progress.results();
                }
                Err(error) => self.learn(&sealed, &mut progress, error).await?,
            }
            if started.elapsed() > APPEND_DEADLINE {
                anyhow::bail!("gave up appending after repeated conflicts");
            }
            attempt += 1;
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// The head, read BEFORE the duplicate pre-check: an event another writer stores after
    /// the head read lands on a seq this one also tries, so one of the two inserts fails and
    /// the loser sees the event on its next pre-check.
    async fn head_and_placements(
        &self,
        progress: &mut Progress<'_>,
    ) -> anyhow::Result<Option<Head>> {
        let head = self.head().await?;
        let ids: Vec<Uuid> = progress.events.iter().map(|e| e.event_id).collect();
        for (id, placement) in self.placements(&ids).await? {
            if !progress.stored.contains_key(&id) {
                progress.existing.insert(id, placement);
            }
        }
        Ok(head)
    }

    /// After a failed insert, learns what happened from the data, not from the error code:
    /// which of `sealed` were stored, whether another writer took the first seq, or stored
    /// one of the events. An error when none of that happened.
    async fn learn(
        &self,
        sealed: &[StoredRecord],
        progress: &mut Progress<'_>,
        error: mongodb::error::Error,
    ) -> anyhow::Result<()> {
        let (first, last) = (sealed[0].index.seq, sealed[sealed.len() - 1].index.seq);
        let found = self
            .range(first, last)
            .await
            .context("cannot read back after a failed insert")?;
        let mut progressed = false;
        for record in &found {
            if let Some(ours) = sealed
                .iter()
                .find(|s| s.index.transaction_id == record.index.transaction_id)
            {
                progress.note_stored(ours);
                progressed = true;
            } else if record.index.seq == first {
                progressed = true; // another replica appended first
            }
        }
        if !progressed {
            let ids: Vec<Uuid> = progress.events.iter().map(|e| e.event_id).collect();
            progressed =
                self.placements(&ids).await?.keys().any(|id| {
                    !progress.stored.contains_key(id) && !progress.existing.contains_key(id)
                });
        }
        if progressed {
            Ok(())
        } else {
            Err(anyhow::Error::new(error).context("cannot insert records"))
        }
    }

    /// The tail after `sealed` were stored, with their tree hashes written. The records are
    /// stored already, so a failure to extend the tree is logged and left to the checkpoint
    /// loop. The tree continues `before`'s lineage when it grew from `before`'s frontier.
    async fn tail_after(&self, sealed: &[StoredRecord], before: Option<TailTree>) -> Tail {
        let last = &sealed[sealed.len() - 1];
        let head = Head {
            seq: last.index.seq,
            hash: last.hash.clone(),
            recorded_at: last.index.recorded_at,
        };
        // `before` is the tree at the head these records were sealed on.
        let lineage = before.as_ref().map(|b| b.lineage);
        let tree = match self.extend_tree(sealed, before.map(|b| b.frontier)).await {
            Ok(Some(frontier)) => Some(TailTree {
                frontier,
                lineage: lineage.unwrap_or_else(|| self.next_lineage()),
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "cannot extend the Merkle tree after an append; the checkpoint loop will"
                );
                None
            }
        };
        Tail { head, tree }
    }

    fn next_lineage(&self) -> u64 {
        self.lineages
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// The tree this replica last wrote, if it remembers it; its root is computed here, once
    /// per checkpoint round, not in every append.
    pub(super) async fn remembered_tree(&self) -> Option<KnownTree> {
        let tail = self.tail.lock().await;
        let tail = tail.as_ref()?;
        let tree = tail.tree.as_ref()?;
        KnownTree::from_frontier(tree.lineage, tail.head.seq + 1, &tree.frontier)
            .inspect_err(|e| {
                tracing::warn!(error = format!("{e:#}"), "cannot compute the tree's root")
            })
            .ok()
    }
}
