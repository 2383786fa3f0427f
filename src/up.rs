//! `ordersys up`: both services in one process, embedded stores, a local dev signing key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use platform::auth::{dev, AuthConfig, KeyConfig};
use platform::config::exit_on_error;

#[derive(clap::Args)]
pub struct UpArgs {
    /// Directory for the SQLite files and the dev key.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Order service address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    orders_listen: SocketAddr,
    /// Transaction log address.
    #[arg(long, default_value = "127.0.0.1:8081")]
    txlog_listen: SocketAddr,
}

/// The dev signing secret in `<data_dir>/dev-signing-key`, created on first use.
pub fn dev_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("dev-signing-key");
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().to_owned());
    }
    std::fs::create_dir_all(data_dir)?;
    let secret = dev::random_secret();
    std::fs::write(&path, &secret)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(secret)
}

fn dev_auth(secret: &str, prefix: &str, realm: &str) -> AuthConfig {
    AuthConfig {
        keys: KeyConfig::Hs256Secret(secret.to_owned()),
        audience: None,
        realm: realm.to_owned(),
        prefix: prefix.to_owned(),
    }
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    exit_on_error(platform::telemetry::init("ordersys"));
    let secret = dev_secret(&args.data_dir)?;
    let sqlite = |name: &str| format!("sqlite://{}", args.data_dir.join(name).display());
    let txlog = txlog_service::Application::build(txlog_service::Config {
        listen: args.txlog_listen,
        database_url: sqlite("txlog.db"),
        auth: dev_auth(&secret, "TXLOG", "txlog-service"),
    })
    .await?;
    let txlog_url = format!("http://{}", txlog.local_addr());
    let delivery_token =
        dev::sign_hs256(&secret, "order-service", "txlog:write", 10 * 365 * 86_400);
    let orders = order_service::Application::build(order_service::Config {
        listen: args.orders_listen,
        database_url: sqlite("orders.db"),
        txlog_url: txlog_url.clone(),
        txlog_auth: order_service::recording::TxlogAuth::Static(delivery_token),
        auth: dev_auth(&secret, "ORDERS", "order-service"),
        record_calls: true,
    })
    .await?;
    let orders_url = format!("http://{}", orders.local_addr());
    let token = dev::sign_hs256(&secret, "alice", "orders:read orders:write", 86_400);
    let auditor = dev::sign_hs256(&secret, "auditor", "txlog:read", 86_400);
    println!(
        r#"
ordersys is up (Ctrl-C stops both services)

  order service    {orders_url}   (API page: {orders_url}/docs)
  transaction log  {txlog_url}   (API page: {txlog_url}/docs)

A token for alice (orders:read orders:write), valid 24 h:

  export TOKEN={token}

Create an order, then list yours:

  curl -s -X POST {orders_url}/v1/orders -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{{"currency":"EUR","items":[{{"sku":"SKU-1","name":"Widget","quantity":2,"unit_price":1250}}]}}'
  curl -s {orders_url}/v1/orders -H "Authorization: Bearer $TOKEN"

Every call is recorded. As an auditor, read the transactions and verify the hash chain:

  export AUDITOR={auditor}
  curl -s '{txlog_url}/v1/transactions?limit=5' -H "Authorization: Bearer $AUDITOR"
  curl -s {txlog_url}/v1/transactions/verify -H "Authorization: Bearer $AUDITOR"

More tokens: cargo run --release -- token --sub bob --scopes "orders:read orders:write"
"#
    );
    // The order service stops first, so that its relay can still drain into the log.
    let shutdown = platform::shutdown::on_signal();
    let txlog_stop = tokio_util::sync::CancellationToken::new();
    let txlog = tokio::spawn(txlog.run(txlog_stop.clone()));
    let orders_result = orders.run(shutdown).await;
    txlog_stop.cancel();
    orders_result.and(txlog.await?)
}
