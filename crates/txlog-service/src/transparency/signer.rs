//! The checkpoint loop: every interval, extend the tree over new records and sign it, but only
//! when it extends the last stored checkpoint. A shrunken or forked tree is never signed: the
//! loop says why at ERROR and `/readyz` answers 503 until the tree is consistent again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tlog_tiles::Hash;
use tokio_util::sync::CancellationToken;

use super::checkpoint::{self, TreeHead};
use super::key::LogKey;
use super::tree::{self, KnownTree};
use crate::store::Store;

/// Whether the log can sign: `None` when it can, else why not. A halt (evidence of a rollback
/// or fork) is for good: rounds never clear it.
#[derive(Debug, Default)]
pub struct SigningStatus(Mutex<Option<String>>, std::sync::OnceLock<String>);

impl SigningStatus {
    pub fn refusal(&self) -> Option<String> {
        if let Some(halt) = self.1.get() {
            return Some(halt.clone());
        }
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops signing for good (until the process restarts and finds no such evidence again),
    /// counted in `txlog_signing_refused_total{reason}`.
    pub fn halt(&self, reason: &str, why: String) {
        if self.1.set(why.clone()).is_ok() {
            tracing::error!(reason, refusal = %why, "the log stops signing checkpoints for good");
            metrics::counter!("txlog_signing_refused_total", "reason" => reason.to_owned())
                .increment(1);
        }
    }

    /// Why signing stopped for good, if it did.
    pub fn halted(&self) -> Option<String> {
        self.1.get().cloned()
    }

    fn set(&self, refusal: Option<String>) {
        let mut current = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if *current != refusal {
            match &refusal {
                Some(why) => {
                    tracing::error!(refusal = %why, "the log refuses to sign a checkpoint")
                }
                None if current.is_some() => tracing::info!("the log signs checkpoints again"),
                None => {}
            }
            *current = refusal;
        }
    }
}

pub struct Signer {
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
        store: Arc<dyn Store>,
        key: Arc<LogKey>,
        origin: String,
        status: Arc<SigningStatus>,
    ) -> Signer {
        Signer {
            store,
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
    /// extended over the records and proved consistent with the last checkpoint.
    pub async fn round(&self) -> anyhow::Result<Round> {
        if let Some(why) = self.status.halted() {
            return Ok(Round::Refused(why));
        }
        let last = match self.store.latest_checkpoint().await? {
            Some(stored) => Some(checkpoint::read(&stored.note)?),
            None => None,
        };
        if let Some(known) = self.extends_anchor(last.as_ref()).await {
            self.status.set(None);
            return self
                .sign(
                    known.size,
                    known.root,
                    last.as_ref(),
                    TreeSource::Remembered,
                )
                .await;
        }
        let size = tree::extend(&*self.store).await?;
        let root = tree::root(&*self.store, size).await?;
        if let Some(refusal) = self.refusal(last.as_ref(), size, root).await? {
            self.status.set(Some(refusal.clone()));
            return Ok(Round::Refused(refusal));
        }
        self.status.set(None);
        let round = self
            .sign(size, root, last.as_ref(), TreeSource::Stored)
            .await?;
        if let Some(known) = self.store.known_tree().await {
            if (known.size, known.root) == (size, root) {
                *self.anchor.lock().unwrap_or_else(|e| e.into_inner()) = Some(known);
            }
        }
        Ok(round)
    }

    /// The remembered tree, when it extends the last checkpoint by construction: the last
    /// checkpoint is the anchor and the tree grew from it in one lineage. A replica that has
    /// not appended since reads the store instead, which may have grown by another's appends.
    async fn extends_anchor(&self, last: Option<&TreeHead>) -> Option<KnownTree> {
        let anchor = (*self.anchor.lock().unwrap_or_else(|e| e.into_inner()))?;
        let last = last?;
        let known = self.store.known_tree().await?;
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

    /// Why the tree of `size` with `root` must not be signed after `last`, if it must not.
    async fn refusal(
        &self,
        last: Option<&TreeHead>,
        size: u64,
        root: Hash,
    ) -> anyhow::Result<Option<String>> {
        let Some(last) = last else { return Ok(None) };
        let describe = |n: u64, h: &Hash| format!("size {n}, root {h}");
        if size < last.size {
            return Ok(Some(format!(
                "the tree ({}) is smaller than the last checkpoint ({})",
                describe(size, &root),
                describe(last.size, &last.root)
            )));
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
        Ok((!consistent).then(|| {
            format!(
                "the tree ({}) is not an extension of the last checkpoint ({})",
                describe(size, &root),
                describe(last.size, &last.root)
            )
        }))
    }
}
