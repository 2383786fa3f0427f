use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::store::{Deliver, OrderStore, IDEMPOTENCY_TTL};

/// Events per delivery batch.
pub const BATCH: u32 = 500;
const IDLE_POLL: Duration = Duration::from_millis(100);
const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// Delivers the outbox to the transaction log, oldest first, until stopped.
pub struct Relay {
    store: Arc<dyn OrderStore>,
    deliver: Arc<dyn Deliver>,
}

impl Relay {
    pub fn new(store: Arc<dyn OrderStore>, deliver: Arc<dyn Deliver>) -> Self {
        Self { store, deliver }
    }

    /// Delivers one batch; returns how many events left the outbox (delivered, or set aside
    /// in the dead-letter table because the log refused them for good).
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let done = self
            .store
            .deliver_outbox(BATCH, self.deliver.as_ref())
            .await?;
        metrics::counter!("outbox_delivered_total").increment(done.delivered as u64);
        if !done.dead_lettered.is_empty() {
            metrics::counter!("outbox_dead_letters_total")
                .increment(done.dead_lettered.len() as u64);
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
        Ok(done.count())
    }

    /// Runs until `shutdown`, then keeps draining until `deadline` (the outbox holds every
    /// answered call by then; what is left is delivered after the next start).
    pub async fn run(
        self,
        shutdown: CancellationToken,
        deadline: Arc<std::sync::OnceLock<tokio::time::Instant>>,
    ) {
        // Exported from the start, so that an alert on its increase sees the first one.
        metrics::counter!("outbox_dead_letters_total").increment(0);
        let mut backoff = BACKOFF_START;
        let mut housekeeping = tokio::time::interval(Duration::from_secs(60));
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
            self.report_backlog().await;
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = housekeeping.tick() => self.purge_idempotency_keys().await,
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
        self.report_backlog().await;
    }

    async fn report_backlog(&self) {
        if let Ok((count, oldest)) = self.store.outbox_backlog().await {
            metrics::gauge!("outbox_backlog").set(count as f64);
            let age = oldest.map_or(0.0, |t| {
                (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0
            });
            metrics::gauge!("outbox_oldest_age_seconds").set(age);
        }
        let (open, idle) = self.store.pool_usage();
        metrics::gauge!("db_pool_connections", "state" => "open").set(f64::from(open));
        metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
    }

    async fn purge_idempotency_keys(&self) {
        match self
            .store
            .purge_idempotency_keys(chrono::Utc::now() - IDEMPOTENCY_TTL)
            .await
        {
            Ok(n) if n > 0 => tracing::info!(purged = n, "expired idempotency keys removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(
                error = format!("{:#}", anyhow::Error::from(e)),
                "purging idempotency keys failed"
            ),
        }
    }
}
