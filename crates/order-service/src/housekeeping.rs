//! The service's own upkeep, beside serving and delivery: expired idempotency keys are
//! forgotten, and the database pool gauges kept current. One task, started with the relay.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreError, IDEMPOTENCY_TTL};

/// How often keys older than [`IDEMPOTENCY_TTL`] are removed.
const PURGE_EVERY: Duration = Duration::from_secs(60);
/// How often the pool gauges are read (from the pool's counters; no query).
const GAUGES_EVERY: Duration = Duration::from_secs(1);

pub struct Housekeeping {
    store: Store,
}

impl Housekeeping {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Until `shutdown`: the pool gauges every second, the purge every minute (both at once
    /// on start).
    pub async fn run(self, shutdown: CancellationToken) {
        let mut purge = tokio::time::interval(PURGE_EVERY);
        let mut gauges = tokio::time::interval(GAUGES_EVERY);
        purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = gauges.tick() => self.report_pool(),
                _ = purge.tick() => {
                    if let Err(e) = self.purge_expired(Utc::now()).await {
                        tracing::warn!(
                            error = format!("{:#}", anyhow::Error::from(e)),
                            "purging idempotency keys failed"
                        );
                    }
                }
            }
        }
    }

    /// Removes the idempotency keys that expired by `now`; returns how many.
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let purged = self.store.idempotency.purge(now - IDEMPOTENCY_TTL).await?;
        if purged > 0 {
            tracing::info!(purged, "expired idempotency keys removed");
        }
        Ok(purged)
    }

    fn report_pool(&self) {
        let (open, idle) = self.store.health.pool_usage();
        metrics::gauge!("db_pool_connections", "state" => "open").set(f64::from(open));
        metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Claim, IdempotencyKey};

    #[tokio::test]
    async fn keys_are_forgotten_once_their_time_to_live_is_over() {
        let dir =
            std::env::temp_dir().join(format!("ordersys-housekeeping-{}", uuid::Uuid::now_v7()));
        let store = crate::store::connect(&format!("sqlite://{}/orders.db", dir.display()))
            .await
            .unwrap();
        let key = IdempotencyKey {
            caller: "alice".into(),
            key: "k1".into(),
        };
        assert_eq!(
            store.idempotency.claim(&key, "h1").await.unwrap(),
            Claim::Claimed
        );
        let housekeeping = Housekeeping::new(store.clone());

        let almost = Utc::now() + IDEMPOTENCY_TTL - chrono::Duration::minutes(1);
        assert_eq!(housekeeping.purge_expired(almost).await.unwrap(), 0);
        assert_ne!(
            store.idempotency.claim(&key, "h2").await.unwrap(),
            Claim::Claimed
        );

        let past = Utc::now() + IDEMPOTENCY_TTL + chrono::Duration::seconds(1);
        assert_eq!(housekeeping.purge_expired(past).await.unwrap(), 1);
        assert_eq!(
            store.idempotency.claim(&key, "h3").await.unwrap(),
            Claim::Claimed,
            "a purged key is claimed anew"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
