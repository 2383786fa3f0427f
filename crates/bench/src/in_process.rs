//! Baseline (d): the order service in this process, with call recording on or off (off: the
//! store of `crate::unrecorded`; the service has no switch). Both variants run here, so they
//! share this process's runtime and the load generator the same way.

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use order_service::outbox::TxlogAuth;
use platform::auth::{AuthConfig, KeyConfig};

pub struct InProcess {
    pub base: String,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    pub async fn start(
        database_url: &str,
        txlog_url: &str,
        txlog_token: &str,
        secret: &str,
        record_calls: bool,
    ) -> anyhow::Result<Self> {
        let config = order_service::Config {
            listen: "127.0.0.1:0".parse()?,
            database_url: database_url.to_owned(),
            database: Default::default(),
            txlog_url: txlog_url.to_owned(),
            txlog_auth: TxlogAuth::Static(txlog_token.to_owned()),
            auth: AuthConfig::new(
                "ORDERS",
                order_service::api::REALM,
                KeyConfig::Hs256Secret(secret.to_owned()),
                crate::system::AUDIENCE,
            ),
            rate_limit: platform::rate_limit::RateLimit::default(),
            server: Default::default(),
        };
        let store = order_service::store::connect_with(database_url, config.database).await?;
        let store = if record_calls {
            store
        } else {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(16)
                .connect(database_url)
                .await?;
            crate::unrecorded::without_recording(store, pool)
        };
        let app = order_service::Application::build_on(config, store).await?;
        let base = format!("http://{}", app.local_addr());
        let stop = CancellationToken::new();
        let task = tokio::spawn(app.run(stop.clone()));
        Ok(Self { base, stop, task })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await?
    }
}
