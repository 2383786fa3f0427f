//! The relay's steps: while one batch is posted to the log, the batch before it is
//! acknowledged and, when this one is full (a backlog), the next is claimed. The log then
//! waits for neither a claim nor an acknowledgement, and still gets one batch at a time,
//! oldest first.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Deliver;
use crate::store::{Lease, OutboxStore, Refusal};

/// Events per delivery batch.
pub const BATCH: u32 = 500;
/// How long a claim keeps its events from other claims. A delivery renews it every third of
/// it; the events of a relay that died are claimed again this long after its last renewal.
pub const LEASE: Duration = Duration::from_secs(10);

/// What an acknowledgement took out of the outbox: one [`deliver_once`](super::deliver_once),
/// or one batch of the [`Pipeline`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Events the log acknowledged (stored, or already stored before).
    pub delivered: usize,
    /// Events the log refused for good, now in the dead-letter table.
    pub dead_lettered: Vec<Refusal>,
}

impl Delivered {
    /// Events that left the outbox.
    pub fn count(&self) -> usize {
        self.delivered + self.dead_lettered.len()
    }
}

/// A batch the log answered for, not yet acknowledged in the outbox.
pub(super) struct Posted {
    lease: Lease,
    refused: Vec<Refusal>,
    claimed: usize,
}

impl Posted {
    /// Takes the batch out of the outbox: delivered events go, refused ones move to the
    /// dead-letter table (only while the lease is still this one's).
    pub(super) async fn ack(self, outbox: &dyn OutboxStore) -> anyhow::Result<Delivered> {
        outbox.ack(self.lease, &self.refused).await?;
        Ok(Delivered {
            delivered: self.claimed.saturating_sub(self.refused.len()),
            dead_lettered: self.refused,
        })
    }
}

/// Hands a claim's events to `deliver` with no database transaction open, renewing the
/// lease (for `lease_for` each time) meanwhile. When the delivery fails the lease is
/// released, and the events wait for the next claim.
pub(super) async fn post(
    outbox: &dyn OutboxStore,
    deliver: &dyn Deliver,
    mut lease: Lease,
    lease_for: Duration,
) -> anyhow::Result<Posted> {
    let events = std::mem::take(&mut lease.events);
    let claimed = events.len();
    match renewing(outbox, &lease, lease_for, deliver.deliver(events)).await {
        Ok(refused) => Ok(Posted {
            lease,
            refused,
            claimed,
        }),
        Err(e) => {
            release(outbox, lease).await;
            Err(e)
        }
    }
}

/// Lets the next claim take a lease's events at once.
pub(super) async fn release(outbox: &dyn OutboxStore, lease: Lease) {
    if let Err(e) = outbox.release(lease).await {
        tracing::warn!(
            error = format!("{:#}", anyhow::Error::from(e)),
            "releasing an outbox lease failed; its events wait for it to run out"
        );
    }
}

/// Runs `work`, extending `lease` by `lease_for` every third of it until it is done.
async fn renewing<T>(
    outbox: &dyn OutboxStore,
    lease: &Lease,
    lease_for: Duration,
    work: impl Future<Output = T>,
) -> T {
    tokio::pin!(work);
    let every = lease_for / 3;
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = renew.tick() => {
                if let Err(e) = outbox.extend(lease, lease_for).await {
                    tracing::warn!(
                        error = format!("{:#}", anyhow::Error::from(e)),
                        "renewing an outbox lease failed"
                    );
                }
            }
        }
    }
}

/// What one [`Pipeline::step`] did.
pub(super) struct Step {
    /// Events posted to the log in this step (acknowledged in the next).
    pub posted: usize,
    /// The acknowledgement of the batch posted before.
    pub acked: anyhow::Result<Delivered>,
    /// Why this step's batch was not posted, if it was not.
    pub failed: Option<anyhow::Error>,
}

/// The batches between claim and acknowledgement.
pub(super) struct Pipeline {
    /// How long a claim keeps its events from other claims between renewals.
    pub(super) lease_for: Duration,
    /// Claimed while the batch before it was posted; its lease is renewed until that post
    /// ends, and from then on by its own.
    next: Option<Lease>,
    /// Posted, acknowledged in the next step.
    unacked: Option<Posted>,
}

impl Default for Pipeline {
    fn default() -> Self {
        Self {
            lease_for: LEASE,
            next: None,
            unacked: None,
        }
    }
}

impl Pipeline {
    pub(super) async fn step(&mut self, outbox: &dyn OutboxStore, deliver: &dyn Deliver) -> Step {
        let lease_for = self.lease_for;
        let ack = acknowledge(outbox, self.unacked.take());
        let lease = match self.next.take() {
            Some(lease) => Ok(Some(lease)),
            None => outbox
                .claim(BATCH, lease_for)
                .await
                .map_err(anyhow::Error::from),
        };
        let lease = match lease {
            Ok(Some(lease)) => lease,
            nothing => {
                return Step {
                    posted: 0,
                    acked: ack.await,
                    failed: nothing.err(),
                }
            }
        };
        let claimed = lease.events.len();
        let posting_ended = CancellationToken::new();
        let posting = async {
            let posted = post(outbox, deliver, lease, lease_for).await;
            posting_ended.cancel();
            posted
        };
        let claim_next = async {
            if claimed < BATCH as usize {
                return None;
            }
            match outbox.claim(BATCH, lease_for).await {
                Ok(Some(next)) => {
                    renewing(outbox, &next, lease_for, posting_ended.cancelled()).await;
                    Some(next)
                }
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(
                        error = format!("{:#}", anyhow::Error::from(e)),
                        "claiming the next outbox batch failed"
                    );
                    None
                }
            }
        };
        let (posted, next, acked) = tokio::join!(posting, claim_next, ack);
        match posted {
            Ok(posted) => {
                self.unacked = Some(posted);
                self.next = next;
                Step {
                    posted: claimed,
                    acked,
                    failed: None,
                }
            }
            Err(e) => {
                if let Some(next) = next {
                    release(outbox, next).await;
                }
                Step {
                    posted: 0,
                    acked,
                    failed: Some(e),
                }
            }
        }
    }

    /// Acknowledges what was posted and releases what was claimed ahead, when the relay stops.
    pub(super) async fn finish(&mut self, outbox: &dyn OutboxStore) -> anyhow::Result<Delivered> {
        if let Some(next) = self.next.take() {
            release(outbox, next).await;
        }
        acknowledge(outbox, self.unacked.take()).await
    }
}

/// Acknowledges `posted`, if a batch was.
async fn acknowledge(
    outbox: &dyn OutboxStore,
    posted: Option<Posted>,
) -> anyhow::Result<Delivered> {
    match posted {
        Some(posted) => posted.ack(outbox).await,
        None => Ok(Delivered::default()),
    }
}
