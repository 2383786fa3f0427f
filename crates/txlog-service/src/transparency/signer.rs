//! The checkpoint loop: every interval, extend the tree over new records and sign it, but only
//! when it extends the last stored checkpoint. A shrunken or forked tree is never signed: the
//! loop says why at ERROR and `/readyz` answers 503 until the tree is consistent again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tlog_tiles::Hash;
use tokio_util::sync::CancellationToken;

use super::checkpoint::{self, TreeHead};
use super::key::LogKey;
use super::tree;
use crate::store::Store;

/// Whether the log can sign: `None` when it can, else why not.
#[derive(Debug, Default)]
pub struct SigningStatus(Mutex<Option<String>>);

impl SigningStatus {
    pub fn refusal(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
    pub store: Arc<dyn Store>,
    pub key: Arc<LogKey>,
    pub origin: String,
    pub status: Arc<SigningStatus>,
}

/// The outcome of one round.
#[derive(Debug, PartialEq)]
pub enum Round {
    /// A checkpoint of this size was signed (or found signed by another replica).
    Signed(u64),
    /// The last checkpoint already covers the tree.
    Unchanged(u64),
    /// The tree does not extend the last checkpoint; nothing was signed.
    Refused(String),
}

impl Signer {
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

    /// Extends the tree and signs it when it grew.
    pub async fn round(&self) -> anyhow::Result<Round> {
        let store = &*self.store;
        let size = tree::extend(store).await?;
        let last = match store.latest_checkpoint().await? {
            Some(stored) => Some(checkpoint::read(&stored.note)?),
            None => None,
        };
        let root = tree::root(store, size).await?;
        if let Some(refusal) = self.refusal(last.as_ref(), size, root).await? {
            self.status.set(Some(refusal.clone()));
            return Ok(Round::Refused(refusal));
        }
        self.status.set(None);
        if last.as_ref().is_some_and(|l| l.size == size) {
            return Ok(Round::Unchanged(size));
        }
        let head = TreeHead {
            origin: self.origin.clone(),
            size,
            root,
        };
        let note = checkpoint::sign(&self.key, &head)?;
        store.add_checkpoint(size, &note).await?;
        crate::metrics::observe_checkpoint(size);
        tracing::debug!(size, "checkpoint signed");
        Ok(Round::Signed(size))
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
