//! Builds the service (store, schema, verifier, listener) and runs it until cancelled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use platform::auth::Verifier;
use platform::serving::Serving;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::config::{redact_url, Config, WitnessConfig};
use crate::console::Console;
use crate::store;
use crate::transparency::witness::WitnessTask;
use crate::transparency::{GroupCommit, Sequencer};
use crate::transparency::{Signer, SigningStatus};

pub struct Application {
    serving: Serving,
    router: axum::Router,
    signer: Signer,
    /// One per witness, started with the signer.
    witness_tasks: Vec<WitnessTask>,
    checkpoint_interval: Duration,
}

impl Application {
    /// Connects the store (creating its schema), prepares token verification and binds the
    /// listener (port 0 picks a free port); no witnesses.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Self::build_witnessed(config, WitnessConfig::default()).await
    }

    /// [`Application::build`], with checkpoints sent to `witnesses` (SPEC section 12).
    pub async fn build_witnessed(
        config: Config,
        witnesses: WitnessConfig,
    ) -> anyhow::Result<Application> {
        platform::metrics::handle();
        crate::metrics::describe();
        // Appends seal each record with the key derived from the signing key (SPEC 12).
        let seal_key = config.signing_key.seal_key().clone();
        let store = store::connect(&config.database_url)
            .await
            .with_context(|| {
                format!(
                    "cannot open the store at {}",
                    redact_url(&config.database_url)
                )
            })?;
        if let Some(head) = store.head().await.context("cannot read the chain head")? {
            crate::metrics::observe_head(head.seq);
        }
        let sequencer = Arc::new(Sequencer::new(store.clone(), Some(seal_key)));
        let verifier = Arc::new(Verifier::new(&config.auth)?);
        verifier.warm_up().await;
        let serving = Serving::bind(config.listen, config.server).await?;
        let signing = Arc::new(SigningStatus::default());
        let mut signer = Signer::new(
            sequencer.clone(),
            config.signing_key.clone(),
            config.log_origin.clone(),
            signing.clone(),
        );
        let (signed, _) = tokio::sync::watch::channel(0);
        let witness_tasks = witnesses
            .witnesses
            .iter()
            .map(|w| {
                WitnessTask::new(
                    store.clone(),
                    w.clone(),
                    signing.clone(),
                    signed.subscribe(),
                )
            })
            .collect();
        signer.notify(signed);
        if !witnesses.witnesses.is_empty() {
            tracing::info!(
                witnesses = witnesses
                    .witnesses
                    .iter()
                    .map(|w| format!("{} at {}", w.key.name(), w.url))
                    .collect::<Vec<_>>()
                    .join(", "),
                quorum = witnesses.quorum,
                "checkpoints are sent to witnesses"
            );
        }
        tracing::info!(
            verifier_key = config.signing_key.verifier_key(),
            origin = %config.log_origin,
            "checkpoints are signed with this key"
        );
        let key_name = config.signing_key.verifier_key().split('+').next();
        if key_name != Some(config.log_origin.as_str()) {
            tracing::warn!(
                key_name,
                origin = %config.log_origin,
                "the signing key's name is not the log origin: witnesses and C2SP clients expect \
                 them equal (make a key with `txlog-service keygen`, which names it after \
                 TXLOG_LOG_ORIGIN)"
            );
        }
        let router = api::router(
            AppState {
                store,
                appends: GroupCommit::start(sequencer),
                verifier,
                signing,
                draining: serving.draining(),
                full_walks: Arc::default(),
                shared_walk: Arc::default(),
                witnesses: Arc::new(witnesses),
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
            witness_tasks,
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
        let witnesses: Vec<_> = self
            .witness_tasks
            .into_iter()
            .map(|task| tokio::spawn(task.run(signer_stop.clone())))
            .collect();
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
        // A witness request in flight is not worth waiting for: the next start sends again.
        for witness in witnesses {
            witness.abort();
        }
        tracing::info!("txlog-service stopped");
        Ok(())
    }
}
