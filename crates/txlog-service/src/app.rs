//! Builds the service (store, schema, verifier, listener) and runs it until cancelled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use platform::auth::Verifier;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::config::{redact_url, Config};
use crate::store;
use crate::transparency::{Signer, SigningStatus};

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    local_addr: SocketAddr,
    signer: Signer,
    checkpoint_interval: Duration,
}

impl Application {
    /// Connects the store (creating its schema), prepares token verification and binds the
    /// listener (port 0 picks a free port).
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        platform::metrics::handle();
        crate::metrics::describe();
        let store = store::connect(&config.database_url)
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
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let local_addr = listener.local_addr()?;
        let signing = Arc::new(SigningStatus::default());
        let signer = Signer {
            store: store.clone(),
            key: config.signing_key.clone(),
            origin: config.log_origin.clone(),
            status: signing.clone(),
        };
        tracing::info!(
            verifier_key = config.signing_key.verifier_key(),
            origin = %config.log_origin,
            "checkpoints are signed with this key"
        );
        let router = api::router(AppState {
            store,
            verifier,
            signing,
            full_walks: Arc::default(),
        });
        Ok(Application {
            listener,
            router,
            local_addr,
            signer,
            checkpoint_interval: config.checkpoint_interval,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` is cancelled, then lets in-flight requests finish within the
    /// grace period.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(address = %self.local_addr, "txlog-service listening on http://{}", self.local_addr);
        let signing = tokio::spawn(self.signer.run(self.checkpoint_interval, shutdown.clone()));
        let server = platform::http::serve(self.listener, self.router, shutdown.clone());
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => result.context("the HTTP server failed")?,
            () = async {
                shutdown.cancelled().await;
                tokio::time::sleep(platform::shutdown::GRACE_PERIOD).await;
            } => tracing::warn!("requests still in flight after the grace period were dropped"),
        }
        signing.abort();
        tracing::info!("txlog-service stopped");
        Ok(())
    }
}
