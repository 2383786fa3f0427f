//! The order service: a REST API for product orders on PostgreSQL or SQLite, authenticated by
//! JWT, recording every call as a business transaction.

pub mod api;
pub mod config;
pub mod domain;
mod housekeeping;
pub mod outbox;
pub mod recording;
pub mod store;
mod unavailable;

use std::net::SocketAddr;
use std::sync::Arc;

use platform::auth::{AuthState, Verifier};
use platform::serving::Serving;
use platform::shutdown::GRACE_PERIOD;
use tokio_util::sync::CancellationToken;

pub use config::Config;

use crate::housekeeping::Housekeeping;
use crate::outbox::{GroupCommit, Relay, TokenSource, TxlogClient};
use crate::recording::Recording;
use crate::store::Store;

/// A built service: store connected and migrated, listeners bound.
pub struct Application {
    serving: Serving,
    router: axum::Router,
    relay: Relay,
    housekeeping: Housekeeping,
    store: Store,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = store::connect_with(&config.database_url, config.database).await?;
        Self::build_on(config, store).await
    }

    /// [`Application::build`] on a store already open (`config.database_url` is not used):
    /// tests and the benchmark bring their own. Every call is recorded, whatever the store.
    pub async fn build_on(config: Config, store: Store) -> anyhow::Result<Self> {
        let verifier = Arc::new(Verifier::new(&config.auth)?);
        verifier.warm_up().await;
        let http = reqwest::Client::builder().build()?;
        let tokens = Arc::new(TokenSource::new(config.txlog_auth.clone(), http.clone()));
        let relay = Relay::new(
            store.clone(),
            Arc::new(TxlogClient::new(&config.txlog_url, http, tokens)),
        );
        let recording = Recording {
            outbox: GroupCommit::spawn(store.outbox.clone()),
            body_limit: platform::http::BODY_LIMIT,
        };
        let serving = Serving::bind(config.listen, config.server).await?;
        let auth = AuthState::new(verifier).with_rate_limit(config.rate_limit);
        let router = api::router(
            api::AppState {
                store: store.clone(),
                draining: serving.draining(),
            },
            auth,
            recording,
            api::Serve {
                request_timeout: serving.limits().request_timeout,
                metrics: serving.metrics_on_main(),
            },
        );
        Ok(Self {
            serving,
            router,
            relay,
            housekeeping: Housekeeping::new(store.clone()),
            store,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.serving.local_addr()
    }

    /// Where `/metrics` is served when it has a listener of its own (`ORDERS_METRICS_LISTEN`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.serving.metrics_addr()
    }

    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// Serves until `shutdown`; then `/readyz` answers 503 while the listener keeps serving
    /// for the shutdown delay, then it stops accepting, finishes in-flight requests, and
    /// drains the outbox, all within 30 s after the delay. The housekeeping runs until then.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.serving.announce("order service");
        let relay_stop = CancellationToken::new();
        let deadline = Arc::new(std::sync::OnceLock::new());
        let relay = tokio::spawn(self.relay.run(relay_stop.clone(), deadline.clone()));
        let housekeeping = tokio::spawn(self.housekeeping.run(relay_stop.clone()));
        let delay = self.serving.shutdown_delay();
        let grace_over = async {
            shutdown.cancelled().await;
            tokio::time::sleep(delay).await;
            let end = *deadline.get_or_init(|| tokio::time::Instant::now() + GRACE_PERIOD);
            tokio::time::sleep_until(end).await;
        };
        tokio::select! {
            served = self.serving.run(self.router, shutdown.clone()) => served?,
            _ = grace_over => tracing::warn!("in-flight requests did not finish within 30 s; stopping anyway"),
        }
        // Every answered call is in the outbox now: the relay's last drain takes them all.
        relay_stop.cancel();
        relay.await?;
        housekeeping.await?;
        Ok(())
    }
}
