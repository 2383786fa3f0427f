//! Builds the service (store, schema, verifier, listener) and runs it until cancelled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use platform::auth::Verifier;
use platform::serving::Serving;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::config::{redact_url, Config};
use crate::console::Console;
use crate::store;
use crate::transparency::{Signer, SigningStatus};

pub struct Application {
    serving: Serving,
    router: axum::Router,
    signer: Signer,
    checkpoint_interval: Duration,
}

impl Application {
    /// Connects the store (creating its schema), prepares token verification and binds the
    /// listener (port 0 picks a free port).
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        platform::metrics::handle();
        crate::metrics::describe();
        // Appends seal each record with the key derived from the signing key (SPEC 12).
        let seal_key = config.signing_key.seal_key().clone();
        let store = store::connect_sealing(&config.database_url, seal_key)
            .await
            .with_context(|| {
                format!(
                    "cannot open the store at {}",
                    redact_url(&config.database_url)
                )
            })?;
        if let Some(head) = store
            .head_seq()
            .await
            .context("cannot read the chain head")?
        {
            crate::metrics::observe_head(head);
        }
        let verifier = Arc::new(Verifier::new(&config.auth)?);
        verifier.warm_up().await;
        let serving = Serving::bind(config.listen, config.server).await?;
        let signing = Arc::new(SigningStatus::default());
        let signer = Signer::new(
            store.clone(),
            config.signing_key.clone(),
            config.log_origin.clone(),
            signing.clone(),
        );
        tracing::info!(
            verifier_key = config.signing_key.verifier_key(),
            origin = %config.log_origin,
            "checkpoints are signed with this key"
        );
        let router = api::router(
            AppState {
                store,
                verifier,
                signing,
                draining: serving.draining(),
                full_walks: Arc::default(),
            },
            api::Serve {
                request_timeout: serving.limits().request_timeout,
                metrics: serving.metrics_on_main(),
            },
            &Console::new(&config.console, &config.auth),
        );
        Ok(Application {
            serving,
            router,
            signer,
            checkpoint_interval: config.checkpoint_interval,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.serving.local_addr()
    }

    /// Where `/metrics` is served when it has a listener of its own (`TXLOG_METRICS_LISTEN`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.serving.metrics_addr()
    }

    /// Serves until `shutdown` is cancelled; then `/readyz` answers 503 while the listener
    /// keeps serving for the shutdown delay, then in-flight requests finish within the grace
    /// period.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        self.serving.announce("txlog-service");
        let delay = self.serving.shutdown_delay();
        // Checkpoints keep being signed while requests are still served.
        let signer_stop = CancellationToken::new();
        let signing = tokio::spawn(
            self.signer
                .run(self.checkpoint_interval, signer_stop.clone()),
        );
        let server = self.serving.run(self.router, shutdown.clone());
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => result.context("the HTTP server failed")?,
            () = async {
                shutdown.cancelled().await;
                tokio::time::sleep(delay + platform::shutdown::GRACE_PERIOD).await;
            } => tracing::warn!("requests still in flight after the grace period were dropped"),
        }
        signer_stop.cancel();
        // Let a checkpoint being signed finish rather than cut it off.
        let mut signing = signing;
        if tokio::time::timeout(Duration::from_secs(5), &mut signing)
            .await
            .is_err()
        {
            signing.abort();
        }
        tracing::info!("txlog-service stopped");
        Ok(())
    }
}
