//! The checkpoint loop: every interval, extend the tree over new records and sign it, but only
//! when it extends the last stored checkpoint and every record it adds carries a valid seal
//! (SPEC section 12). A shrunken or forked tree, or a record the service did not seal (inserted
//! or edited in the database), is never signed: the loop says why at ERROR, counts it in
//! `txlog_signing_refused_total{reason}` and `/readyz` answers 503 until the store is repaired.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tlog_tiles::Hash;
use tokio_util::sync::CancellationToken;

use super::checkpoint::{self, TreeHead};
use super::key::LogKey;
use super::seal::{self, Refusal};
use super::tree::{self, KnownTree};
use crate::store::Store;
use crate::transparency::Sequencer;

/// Whether the log can sign.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
enum State {
    #[default]
    Signing,
    /// The last round found the store failing a check; each round checks again, and a
    /// repaired store signs again.
    Refused { reason: &'static str, why: String },
    /// Stopped for good ([`SigningStatus::halt`]): only a restart after repair clears it.
    Halted { reason: &'static str, why: String },
}

/// Whether the log can sign, shared by the checkpoint loop, `/readyz` and whatever may halt
/// signing (the witness client on evidence of a rollback or fork).
#[derive(Debug, Default)]
pub struct SigningStatus(Mutex<State>);

impl SigningStatus {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why the log does not sign now (`/readyz`'s message), `None` when it does.
    pub fn refusal(&self) -> Option<String> {
        match &*self.state() {
            State::Signing => None,
            State::Refused { why, .. } | State::Halted { why, .. } => Some(why.clone()),
        }
    }

    /// Stops signing for good: no round clears it, only a restart (after the operator repaired
    /// the store). Counted in `txlog_signing_refused_total{reason}` and logged at ERROR; the
    /// first halt's message is kept.
    pub fn halt(&self, reason: &'static str, why: String) {
        crate::metrics::count_signing_refused(reason);
        tracing::error!(
            reason,
            refusal = %why,
            "the log stops signing checkpoints until an operator repairs the store and restarts it"
        );
        let mut state = self.state();
        if !matches!(*state, State::Halted { .. }) {
            *state = State::Halted { reason, why };
        }
    }

    /// The halt's message, when signing is halted.
    pub fn halted(&self) -> Option<String> {
        match &*self.state() {
            State::Halted { why, .. } => Some(why.clone()),
            _ => None,
        }
    }

    /// A round found the store failing a check: counted every round, logged at ERROR when the
    /// reason is new. A halt stays.
    fn refuse(&self, refusal: &Refusal) {
        crate::metrics::count_signing_refused(refusal.reason);
        let mut state = self.state();
        if matches!(*state, State::Halted { .. }) {
            return;
        }
        let next = State::Refused {
            reason: refusal.reason,
            why: refusal.why.clone(),
        };
        if *state != next {
            tracing::error!(
                reason = refusal.reason,
                refusal = %refusal.why,
                "the log refuses to sign a checkpoint"
            );
            *state = next;
        }
    }

    /// A round found the store passing every check. A halt stays.
    fn clear(&self) {
        let mut state = self.state();
        if matches!(*state, State::Refused { .. }) {
            tracing::info!("the log signs checkpoints again");
            *state = State::Signing;
        }
    }
}

pub struct Signer {
    sequencer: Arc<Sequencer>,
    store: Arc<dyn Store>,
    key: Arc<LogKey>,
    origin: String,
    status: Arc<SigningStatus>,
    /// The last tree this replica signed (or found signed) that it also remembers writing:
    /// while the last checkpoint is still this one, a later tree of the same lineage extends
    /// it by construction and is signed without reading the store.
    anchor: Mutex<Option<KnownTree>>,
    /// Told the size of every checkpoint this replica signs (the witness tasks listen).
    signed: Option<tokio::sync::watch::Sender<u64>>,
}

/// The outcome of one round.
#[derive(Debug, PartialEq)]
pub enum Round {
    /// A checkpoint of this size was signed (or found signed by another replica).
    Signed { size: u64, tree: TreeSource },
    /// The last checkpoint already covers the tree.
    Unchanged(u64),
    /// The tree does not extend the last checkpoint; nothing was signed.
    Refused(String),
}

/// Where a round found the tree it signed.
#[derive(Debug, PartialEq, Clone, Copy)]
pub enum TreeSource {
    /// The tree this replica's appends left, extending the last checkpoint: no reads.
    Remembered,
    /// Extended over the stored records and checked against the last checkpoint by proof.
    Stored,
}

impl Signer {
    pub fn new(
        sequencer: Arc<Sequencer>,
        key: Arc<LogKey>,
        origin: String,
        status: Arc<SigningStatus>,
    ) -> Signer {
        Signer {
            store: sequencer.store().clone(),
            sequencer,
            key,
            origin,
            status,
            anchor: Mutex::default(),
            signed: None,
        }
    }

    /// Tells `signed` the size of each checkpoint signed from now on.
    pub fn notify(&mut self, signed: tokio::sync::watch::Sender<u64>) {
        self.signed = Some(signed);
    }

    /// Runs rounds every `interval` until `shutdown`.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(e) = self.round().await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "a checkpoint round failed; retrying"
                );
            }
        }
    }

    /// Signs the tree when it grew: the tree this replica remembers writing when it extends
    /// the last checkpoint by construction (one read: that checkpoint), else the stored tree,
    /// extended over the records, proved consistent with the last checkpoint, and rebuilt from
    /// it over the new records, each checked against its seal. Nothing while halted.
    pub async fn round(&self) -> anyhow::Result<Round> {
        if let Some(why) = self.status.halted() {
            return Ok(Round::Refused(why));
        }
        let last = match self.store.latest_checkpoint().await? {
            Some(stored) => Some(checkpoint::read(&stored.note)?),
            None => None,
        };
        // Only this replica's own appends make a remembered tree: the sequencer's `known_tree` is
        // the tree of records it inserted itself, each append chained onto the last record
        // of the one before, and the anchor is set only after a round below checked the
        // stored tree, so a record someone else inserted is never signed unchecked.
        if let Some(known) = self.extends_anchor(last.as_ref()).await {
            self.status.clear();
            return self
                .sign(
                    known.size,
                    known.root,
                    last.as_ref(),
                    TreeSource::Remembered,
                )
                .await;
        }
        let before = self.sequencer.known_tree().await;
        let stored = self.sequencer.catch_up().await?;
        let after = self.sequencer.known_tree().await;
        let last_size = last.as_ref().map_or(0, |l| l.size);
        let remembered = tree_to_anchor(before, after, stored, last_size);
        let size = remembered.map_or(stored, |r| r.size);
        let root = tree::root(&*self.store, size).await?;
        let refusal = match self.refusal(last.as_ref(), size, root).await? {
            Some(refusal) => Some(refusal),
            None => self.unsealed(last.as_ref(), size, root).await?,
        };
        if let Some(refusal) = refusal {
            self.status.refuse(&refusal);
            return Ok(Round::Refused(refusal.why));
        }
        self.status.clear();
        let round = self
            .sign(size, root, last.as_ref(), TreeSource::Stored)
            .await?;
        if let Some(known) = remembered.filter(|k| (k.size, k.root) == (size, root)) {
            *self.anchor.lock().unwrap_or_else(|e| e.into_inner()) = Some(known);
        }
        Ok(round)
    }

    /// The remembered tree, when it extends the last checkpoint by construction: the last
    /// checkpoint is the anchor and the tree grew from it in one lineage. A replica that has
    /// not appended since reads the store instead, which may have grown by another's appends.
    async fn extends_anchor(&self, last: Option<&TreeHead>) -> Option<KnownTree> {
        let anchor = (*self.anchor.lock().unwrap_or_else(|e| e.into_inner()))?;
        let last = last?;
        let known = self.sequencer.known_tree().await?;
        let extends = known.lineage == anchor.lineage
            && known.size > anchor.size
            && (last.size, last.root) == (anchor.size, anchor.root);
        extends.then_some(known)
    }

    /// Signs the tree of `size` with `root` unless `last` covers it already.
    async fn sign(
        &self,
        size: u64,
        root: Hash,
        last: Option<&TreeHead>,
        tree: TreeSource,
    ) -> anyhow::Result<Round> {
        if last.is_some_and(|l| l.size == size) {
            return Ok(Round::Unchanged(size));
        }
        if let Some(why) = self.status.halted() {
            return Ok(Round::Refused(why));
        }
        let head = TreeHead {
            origin: self.origin.clone(),
            size,
            root,
        };
        let note = checkpoint::sign(&self.key, &head)?;
        self.store.add_checkpoint(size, &note).await?;
        crate::metrics::observe_checkpoint(size);
        if let Some(signed) = &self.signed {
            signed.send_replace(size);
        }
        tracing::debug!(size, ?tree, "checkpoint signed");
        if tree == TreeSource::Remembered {
            let mut anchor = self.anchor.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(anchor) = anchor.as_mut() {
                (anchor.size, anchor.root) = (size, root);
            }
        }
        Ok(Round::Signed { size, tree })
    }

    /// Why the stored tree of `size` with `root` must not be signed after `last` for what the
    /// records say: a record from `last.size` on without a valid seal, or missing, or stored
    /// tree hashes that are not the tree of the checkpointed tree and those records. O(new
    /// records) reads.
    async fn unsealed(
        &self,
        last: Option<&TreeHead>,
        size: u64,
        root: Hash,
    ) -> anyhow::Result<Option<Refusal>> {
        if last.is_some_and(|l| l.size >= size) {
            return Ok(None);
        }
        let rebuilt = seal::sealed_root(&*self.store, self.key.seal_key(), last, size).await?;
        Ok(match rebuilt {
            Err(refusal) => Some(refusal),
            Ok(rebuilt) if rebuilt != root => Some(Refusal {
                reason: "tree_mismatch",
                why: format!(
                    "the stored tree of size {size} (root {root}) is not the tree of the \
                     sealed records (root {rebuilt})"
                ),
            }),
            Ok(_) => None,
        })
    }

    /// Why the tree of `size` with `root` must not be signed after `last`, if it must not.
    async fn refusal(
        &self,
        last: Option<&TreeHead>,
        size: u64,
        root: Hash,
    ) -> anyhow::Result<Option<Refusal>> {
        let Some(last) = last else { return Ok(None) };
        let describe = |n: u64, h: &Hash| format!("size {n}, root {h}");
        if size < last.size {
            return Ok(Some(Refusal {
                reason: "shrunk",
                why: format!(
                    "the tree ({}) is smaller than the last checkpoint ({})",
                    describe(size, &root),
                    describe(last.size, &last.root)
                ),
            }));
        }
        let consistent = if last.size == 0 {
            true
        } else if size == last.size {
            root == last.root
        } else {
            let proof = tree::with_stored_hashes(&*self.store, |r| {
                tlog_tiles::prove_tree(size, last.size, r)
            })
            .await?;
            tlog_tiles::check_tree(&proof, size, root, last.size, last.root).is_ok()
        };
        Ok((!consistent).then(|| Refusal {
            reason: "not_extension",
            why: format!(
                "the tree ({}) is not an extension of the last checkpoint ({})",
                describe(size, &root),
                describe(last.size, &last.root)
            ),
        }))
    }
}
/// Which remembered tree a round reading the stored tree (of `stored` leaves, the last
/// checkpoint of `last_size`) signs and anchors, from the trees this replica remembered
/// writing before (`before`) and after (`after`) the read: the stored tree itself when it is
/// the remembered one; or, when only this replica's own appends (one lineage, nobody else's in
/// between) grew the store past it since, the tree from before, so that it anchors the rounds
/// after it (under steady appends the stored tree has always grown by the time it is read, and
/// an anchor would never stick). `None`: sign the stored tree, unanchored.
fn tree_to_anchor(
    before: Option<KnownTree>,
    after: Option<KnownTree>,
    stored: u64,
    last_size: u64,
) -> Option<KnownTree> {
    let after = after?;
    if after.size == stored {
        return Some(after);
    }
    before.filter(|b| {
        b.lineage == after.lineage && b.size <= stored && after.size > stored && b.size > last_size
    })
}

#[cfg(test)]
mod anchor_tests {
    use super::*;

    fn tree(lineage: u64, size: u64) -> Option<KnownTree> {
        Some(KnownTree {
            lineage,
            size,
            root: Hash::default(),
        })
    }

    #[test]
    fn the_anchor_is_a_tree_of_this_replica_only() {
        // The stored tree is the remembered one.
        assert_eq!(tree_to_anchor(tree(1, 5), tree(1, 9), 9, 3), tree(1, 9));
        // Own appends grew the store during the read: the tree from before.
        assert_eq!(tree_to_anchor(tree(1, 5), tree(1, 12), 9, 3), tree(1, 5));
        // Another writer's records are in the stored tree: nothing remembered is signed.
        assert_eq!(tree_to_anchor(tree(1, 5), tree(1, 5), 9, 3), None);
        assert_eq!(tree_to_anchor(tree(1, 5), tree(2, 12), 9, 3), None);
        // Never a tree the last checkpoint already covers.
        assert_eq!(tree_to_anchor(tree(1, 3), tree(1, 12), 9, 3), None);
        assert_eq!(tree_to_anchor(tree(1, 5), None, 9, 3), None);
    }
}
