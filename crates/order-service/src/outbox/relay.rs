use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::pipeline::{post, Delivered, Pipeline, LEASE};
use super::Deliver;
use crate::store::{OutboxStore, Store};

const IDLE_POLL: Duration = Duration::from_millis(100);
/// How often the backlog gauges are refreshed while a backlog is being delivered.
const BACKLOG_REPORT: Duration = Duration::from_secs(1);
const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// One step of the relay without a pipeline: claims up to `limit` of the oldest events,
/// hands them to `deliver` with no database transaction open (renewing the lease meanwhile),
/// and acknowledges the lease: the events leave the outbox, the refused ones for the
/// dead-letter table. When the delivery fails the lease is released, and the events wait for
/// the next step.
pub async fn deliver_once(
    outbox: &dyn OutboxStore,
    deliver: &dyn Deliver,
    limit: u32,
) -> anyhow::Result<Delivered> {
    match outbox.claim(limit, LEASE).await? {
        Some(lease) => post(outbox, deliver, lease, LEASE).await?.ack(outbox).await,
        None => Ok(Delivered::default()),
    }
}

/// Delivers the outbox to the transaction log, oldest first, until stopped, and reports the
/// outbox's backlog. Nothing else: the service's upkeep (expired idempotency keys, the pool
/// gauges) is a task of its own, `housekeeping.rs`.
pub struct Relay {
    outbox: Arc<dyn OutboxStore>,
    deliver: Arc<dyn Deliver>,
    pipeline: Pipeline,
}

impl Relay {
    /// A relay of `store`'s outbox (the only part of it the relay uses) to `deliver`.
    pub fn new(store: Store, deliver: Arc<dyn Deliver>) -> Self {
        Self {
            outbox: store.outbox,
            deliver,
            pipeline: Pipeline::default(),
        }
    }

    /// How long a claim keeps its events from other relays between renewals ([`LEASE`]
    /// unless set here).
    pub fn lease_for(mut self, lease: Duration) -> Self {
        self.pipeline.lease_for = lease;
        self
    }

    /// One step of the [`Pipeline`]: posts a batch to the log while acknowledging the one
    /// posted before (and, with a backlog, claiming the next). Returns how many events it
    /// moved (posted, or taken out of the outbox); 0 once the outbox is empty and everything
    /// posted is acknowledged.
    pub async fn run_once(&mut self) -> anyhow::Result<usize> {
        let step = self
            .pipeline
            .step(self.outbox.as_ref(), self.deliver.as_ref())
            .await;
        let acked = step.acked.map(|done| record(&done));
        match (step.failed, acked) {
            (Some(failed), acked) => {
                if let Err(e) = acked {
                    tracing::warn!(error = format!("{e:#}"), "acknowledging a delivered outbox batch failed; its events are delivered again once its lease runs out");
                }
                Err(failed)
            }
            (None, Err(e)) => Err(e),
            (None, Ok(n)) => Ok(n + step.posted),
        }
    }

    /// Runs until `shutdown`, then keeps draining until `deadline` (the outbox holds every
    /// answered call by then; what is left is delivered after the next start).
    pub async fn run(
        mut self,
        shutdown: CancellationToken,
        deadline: Arc<std::sync::OnceLock<tokio::time::Instant>>,
    ) {
        // Exported from the start, so that an alert on its increase sees the first one.
        metrics::counter!("outbox_dead_letters_total").increment(0);
        let mut backoff = BACKOFF_START;
        let mut reported = tokio::time::Instant::now();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let pause = match self.run_once().await {
                Ok(n) if n > 0 => {
                    backoff = BACKOFF_START;
                    Duration::ZERO
                }
                Ok(_) => {
                    backoff = BACKOFF_START;
                    IDLE_POLL
                }
                Err(e) => {
                    metrics::counter!("outbox_delivery_failures_total").increment(1);
                    tracing::error!(
                        error = format!("{e:#}"),
                        retry_in_ms = backoff.as_millis() as u64,
                        "delivering business transactions failed"
                    );
                    let jittered = backoff.mul_f64(rand::thread_rng().gen_range(0.5..1.0));
                    backoff = (backoff * 2).min(BACKOFF_CAP);
                    jittered
                }
            };
            // Counting the outbox is a scan: once a second while a backlog is delivered, and
            // every poll once it is empty.
            if !pause.is_zero() || reported.elapsed() >= BACKLOG_REPORT {
                self.report_backlog().await;
                reported = tokio::time::Instant::now();
            }
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
        let drain = async {
            while let Ok(n) = self.run_once().await {
                if n == 0 {
                    break;
                }
            }
        };
        let deadline = deadline
            .get()
            .copied()
            .unwrap_or_else(tokio::time::Instant::now);
        if tokio::time::timeout_at(deadline, drain).await.is_err() {
            tracing::warn!("stopping with business transactions still in the outbox; they are delivered after restart");
        }
        match self.pipeline.finish(self.outbox.as_ref()).await {
            Ok(done) => {
                record(&done);
            }
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "acknowledging the last outbox batch failed; its events are delivered again after restart"
            ),
        }
        self.report_backlog().await;
    }

    async fn report_backlog(&self) {
        match self.outbox.backlog().await {
            Ok(backlog) => {
                metrics::gauge!("outbox_backlog").set(backlog.events as f64);
                let age = backlog.oldest.map_or(0.0, |t| {
                    (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0
                });
                metrics::gauge!("outbox_oldest_age_seconds").set(age);
            }
            // The gauges keep their last value; the next report tries again.
            Err(e) => {
                tracing::warn!(error = %platform::problem::cause_chain(&e), "cannot read the outbox backlog")
            }
        }
    }
}

/// Counts what an acknowledgement took out of the outbox, and logs each refused event;
/// returns how many events left.
fn record(done: &Delivered) -> usize {
    metrics::counter!("outbox_delivered_total").increment(done.delivered as u64);
    if !done.dead_lettered.is_empty() {
        metrics::counter!("outbox_dead_letters_total").increment(done.dead_lettered.len() as u64);
    }
    for refusal in &done.dead_lettered {
        tracing::error!(
            event_id = %refusal.event_id,
            status = refusal.status,
            reason = %refusal.reason,
            "the transaction log refused a business transaction; it is set aside in \
             outbox_dead_letters and delivery goes on"
        );
    }
    done.count()
}
