//! The sequencer: the one place that orders records, seals them, grows the Merkle tree over
//! them and remembers the end of the log it wrote (SPEC sections 8, 10 and 12), cut as
//! Tessera's `Integrate` and Sunlight's sequencer are. The stores only store, through narrow
//! calls: insert records at their `seq`s (with their tree hashes) or say one is taken, read
//! the head, look events up, read and add tree hashes.
//!
//! An append is optimistic. The sequencer chains the batch onto the head, seals each record
//! with the key, computes the tree hashes the records add, and inserts all of it at head + 1.
//! A `seq` is unique in every store, so when another writer (a replica, another process on the
//! SQLite file) appended first, the insert meets a taken `seq`; when the batch holds an event
//! stored before, it meets the unique `event_id`. Either way the sequencer reads what was
//! stored, forgets its tail and tries again on the new head. One append runs at a time per
//! process.
//!
//! While nobody else appends, the sequencer remembers the end of the log it wrote (its
//! [`Tail`]): the last record and the frontier of the tree it wrote, so the next batch is one
//! insert and no read. Each append chained onto the remembered tail continues its *lineage*
//! ([`KnownTree`]), so the checkpoint loop may sign the remembered tree without reading the
//! store: it then holds only records this process inserted since a tree the loop checked.
//!
//! A store that cannot write the tree hashes with the records (MongoDB: a second round trip
//! per append) gets them from the tail instead, once per checkpoint round: [`Sequencer::
//! known_tree`] stores the hashes the appends since the last round added before it answers, so
//! every tree the loop signs is stored. Hashes lost with the tail (a crash, a lost race) are
//! the records' own function, and the loop's [`Sequencer::catch_up`] computes them again.

mod group;
mod progress;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tlog_tiles::Hash;
use txlog_api::{AppendResult, Event};

use crate::chain::{self, Head, Stamps, StoredRecord, SystemStamps};
use crate::store::{backoff, NewRecords, Store, StoreError};
use crate::transparency::tree::{size_for_count, Growth, KnownTree};
use crate::transparency::SealKey;
pub use group::GroupCommit;
use progress::{count_appended, Progress};

/// How long one append keeps retrying when other writers win the race for the head.
const APPEND_DEADLINE: Duration = Duration::from_secs(30);
/// Records hashed per round trip while the tree catches up with the records.
const CATCH_UP_PAGE: u32 = 1000;
/// Tree hashes the tail keeps unstored at most (32 bytes each) before an append stores them.
const UNSTORED_MAX: usize = 1 << 14;

pub struct Sequencer {
    store: Arc<dyn Store>,
    /// Seals each record when set; a sequencer without it (tools, tests playing a database
    /// writer without the key) stores records the signer never signs.
    seal_key: Option<SealKey>,
    stamps: Arc<dyn Stamps>,
    /// Held for the whole of an append.
    tail: tokio::sync::Mutex<Option<Tail>>,
    /// Counts the tail's lineages.
    lineages: AtomicU64,
}

/// The end of the log as this process last wrote it.
struct Tail {
    head: Head,
    /// The tree of `head.seq + 1` leaves, when this process wrote its hashes.
    tree: Option<TailTree>,
}

/// The tree at a [`Tail`]: its frontier (`tree::frontier`), all the next append needs, its
/// lineage, and the hashes of it not stored yet.
struct TailTree {
    frontier: HashMap<u64, Hash>,
    lineage: u64,
    unstored: Unstored,
}

/// Tree hashes computed by appends and not stored yet, at indexes `first…`; the stored
/// hashes end at `first` (or hold the same hashes past it, stored by a catch-up).
struct Unstored {
    first: u64,
    hashes: Vec<Hash>,
}

impl Unstored {
    /// Stores them; none are left unstored when that succeeds.
    async fn store(&mut self, store: &dyn Store) -> Result<(), StoreError> {
        if !self.hashes.is_empty() {
            store.add_tree_hashes(self.first, &self.hashes).await?;
            self.first += self.hashes.len() as u64;
            self.hashes.clear();
        }
        Ok(())
    }
}

/// The tree hashes one batch adds, and the frontier they leave.
struct Grown {
    first_index: u64,
    added: Vec<Hash>,
    frontier: HashMap<u64, Hash>,
    /// Grown from the remembered frontier alone (the same lineage).
    from_tail: bool,
}

impl Sequencer {
    pub fn new(store: Arc<dyn Store>, seal_key: Option<SealKey>) -> Sequencer {
        Sequencer {
            store,
            seal_key,
            stamps: Arc::new(SystemStamps),
            tail: tokio::sync::Mutex::new(None),
            lineages: AtomicU64::new(0),
        }
    }

    /// This sequencer, stamping records with `stamps` (tests fix the clock and the ids).
    pub fn with_stamps(mut self, stamps: Arc<dyn Stamps>) -> Sequencer {
        self.stamps = stamps;
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Appends validated events to the chain, in order; an `event_id` stored before (or
    /// earlier in the batch) answers with its first storage's ids and `duplicate: true`.
    /// Results are in input order. New records carry `submitted_by`.
    pub async fn append(
        &self,
        events: &[Event],
        submitted_by: &str,
    ) -> Result<Vec<AppendResult>, StoreError> {
        let mut tail = self.tail.lock().await;
        let mut progress = Progress::new(events);
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            // Without a unique event_id the look-up below is the only guard against storing
            // an event twice, so the remembered tail is not trusted then.
            let remembered = match tail.take() {
                Some(mut untrusted) if !self.store.refuses_duplicate_events() => {
                    // Its unstored tree hashes are stored first, so that this append can
                    // grow the stored tree.
                    self.store_unstored(&mut untrusted).await;
                    None
                }
                remembered => remembered,
            };
            let head = match &remembered {
                Some(tail) => Some(tail.head.clone()),
                None => self.head_and_placements(&mut progress).await?,
            };
            let todo = progress.pending();
            if todo.is_empty() {
                return self.answer(&progress);
            }
            let records = chain::seal_all(todo, Some(submitted_by), head, &*self.stamps)?;
            let growth = Growth::of(&records)?
                .ok_or_else(|| StoreError::corrupt("a batch with events sealed no record"))?;
            let seals: Vec<Option<[u8; 32]>> = growth
                .leaves()
                .iter()
                .map(|leaf| self.seal_key.as_ref().map(|k| k.seal(leaf)))
                .collect();
            let tree_tail = remembered.and_then(|t| t.tree);
            let grown = self.grow(&growth, tree_tail.as_ref()).await?;
            let with_records = self.store.stores_tree_with_records();
            let batch = NewRecords {
                records: &records,
                seals: &seals,
                tree: grown
                    .as_ref()
                    .filter(|_| with_records)
                    .map(|g| (g.first_index, &g.added[..])),
            };
            match self.store.insert(&batch).await {
                Ok(tree_stored) => {
                    records.iter().for_each(|r| progress.note_stored(r));
                    let grown = grown.filter(|_| tree_stored || !with_records);
                    let mut after = self.tail_after(&records, grown, tree_tail);
                    if let Some(after) = after.as_mut().filter(|a| {
                        a.tree
                            .as_ref()
                            .is_some_and(|t| t.unstored.hashes.len() >= UNSTORED_MAX)
                    }) {
                        self.store_unstored(after).await;
                    }
                    *tail = after;
                    return self.answer(&progress);
                }
                Err(error) => {
                    if let Some(mut tree) = tree_tail {
                        // The tail is given up, but its unstored hashes are those of records
                        // stored before: stored now, the checkpoint loop need not hash them.
                        if let Err(e) = tree.unstored.store(&*self.store).await {
                            tracing::debug!(error = %e, "left the last appends' tree hashes to the checkpoint loop");
                        }
                    }
                    self.learn(&records, &mut progress, error).await?
                }
            }
            if started.elapsed() > APPEND_DEADLINE {
                return Err(StoreError::Unavailable(
                    "gave up appending after repeated conflicts with other writers".into(),
                ));
            }
            attempt += 1;
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    fn answer(&self, progress: &Progress<'_>) -> Result<Vec<AppendResult>, StoreError> {
        let results = progress.results()?;
        count_appended(&results);
        Ok(results)
    }

    /// The head, read BEFORE the look-up of the batch's events: an event another writer
    /// stores after the head read lands on a `seq` this one also tries, so one of the two
    /// inserts fails and the loser sees the event on its next look-up.
    async fn head_and_placements(
        &self,
        progress: &mut Progress<'_>,
    ) -> Result<Option<Head>, StoreError> {
        let head = self.store.head().await?;
        let found = self.store.placements(&progress.event_ids()).await?;
        progress.note_existing(found);
        Ok(head)
    }

    /// The tree hashes `growth` adds, from the remembered frontier when it holds the hashes
    /// they combine with, else from the store when the stored tree ends exactly where they
    /// begin; `None` when it does not (the checkpoint loop catches up).
    async fn grow(
        &self,
        growth: &Growth,
        remembered: Option<&TailTree>,
    ) -> Result<Option<Grown>, StoreError> {
        let first_index = growth.first_index();
        let (earlier, from_tail) = match remembered.and_then(|t| growth.earlier_in(&t.frontier)) {
            Some(earlier) => (earlier, true),
            None if self.store.tree_hash_count().await? == first_index => {
                (self.store.tree_hashes(&growth.earlier).await?, false)
            }
            None => return Ok(None),
        };
        let (added, frontier) = growth.grow(earlier)?;
        Ok(Some(Grown {
            first_index,
            added,
            frontier,
            from_tail,
        }))
    }

    /// The tail after `records` were stored, with the tree `grown` when it was stored too or
    /// is kept unstored; it continues `before`'s lineage (and its unstored hashes) when it
    /// grew from `before`'s frontier. `None` (the next append reads the head) when the last
    /// record's hash is not a hash, which a record sealed here always is.
    fn tail_after(
        &self,
        records: &[StoredRecord],
        grown: Option<Grown>,
        before: Option<TailTree>,
    ) -> Option<Tail> {
        let head = records[records.len() - 1].head().ok()?;
        let with_records = self.store.stores_tree_with_records();
        let tree = grown.map(|grown| {
            let (lineage, mut unstored) = match before {
                Some(before) if grown.from_tail => (before.lineage, before.unstored),
                _ => (
                    self.lineages.fetch_add(1, Ordering::Relaxed),
                    Unstored {
                        first: grown.first_index,
                        hashes: Vec::new(),
                    },
                ),
            };
            if !with_records {
                unstored.hashes.extend(grown.added);
            }
            TailTree {
                lineage,
                frontier: grown.frontier,
                unstored,
            }
        });
        Some(Tail { head, tree })
    }

    /// Stores the tail's unstored tree hashes; when that fails the tail forgets its tree (the
    /// next append reads the store's, and the checkpoint loop hashes what is missing).
    async fn store_unstored(&self, tail: &mut Tail) {
        let Some(tree) = tail.tree.as_mut() else {
            return;
        };
        if let Err(e) = tree.unstored.store(&*self.store).await {
            tracing::warn!(
                error = %platform::problem::cause_chain(&e),
                "cannot store the Merkle tree hashes of the last appends; the checkpoint loop will"
            );
            tail.tree = None;
        }
    }

    /// After a failed insert, learns what happened from the data, not from the error: which
    /// of `records` were stored (an ordered insert stops at the first taken one), whether
    /// another writer took the first `seq`, or stored one of the events. The error when none
    /// of that happened.
    async fn learn(
        &self,
        records: &[StoredRecord],
        progress: &mut Progress<'_>,
        error: StoreError,
    ) -> Result<(), StoreError> {
        let first = records[0].index.seq;
        let found = self
            .store
            .chain_page(first.checked_sub(1), u32::try_from(records.len())?)
            .await?;
        let mut progressed = false;
        for stored in &found {
            match records
                .iter()
                .find(|r| r.index.transaction_id == stored.index.transaction_id)
            {
                Some(ours) => {
                    progress.note_stored(ours);
                    progressed = true;
                }
                None if stored.index.seq == first => progressed = true,
                None => {}
            }
        }
        if !progressed {
            let found = self.store.placements(&progress.event_ids()).await?;
            progressed = progress.note_existing(found);
        }
        if progressed {
            Ok(())
        } else {
            Err(error)
        }
    }

    /// The tree this process last wrote, if it remembers it, with all its hashes stored (the
    /// appends' unstored ones are stored here first); its root is computed here, once per
    /// checkpoint round, not in every append.
    pub async fn known_tree(&self) -> Option<KnownTree> {
        let mut tail = self.tail.lock().await;
        let tail = tail.as_mut()?;
        self.store_unstored(tail).await;
        let tree = tail.tree.as_ref()?;
        KnownTree::from_frontier(tree.lineage, tail.head.seq + 1, &tree.frontier)
            .inspect_err(|e| tracing::warn!(error = %e, "cannot compute the tree's root"))
            .ok()
    }

    /// Hashes the stored records the stored tree does not hold yet into it (records another
    /// writer stored, or whose hashes a crash lost); returns the tree's size.
    pub async fn catch_up(&self) -> Result<u64, StoreError> {
        let store = &self.store;
        let mut size = size_for_count(store.tree_hash_count().await?);
        loop {
            let records = store.chain_page(size.checked_sub(1), CATCH_UP_PAGE).await?;
            let Some(growth) = Growth::of(&records)? else {
                return Ok(size);
            };
            if growth.first() != size {
                return Err(StoreError::corrupt(format!(
                    "record seq {size} is missing (the next stored is seq {})",
                    growth.first()
                )));
            }
            let earlier = store.tree_hashes(&growth.earlier).await?;
            store
                .add_tree_hashes(growth.first_index(), &growth.hashes(earlier)?)
                .await?;
            size += records.len() as u64;
            if records.len() < CATCH_UP_PAGE as usize {
                return Ok(size);
            }
        }
    }
}
