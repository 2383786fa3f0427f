//! `ordersys up`: both services in one process, embedded stores, a local dev signing key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use platform::auth::{dev, AuthConfig, KeyConfig};
use platform::config::exit_on_error;
use txlog_service::transparency::LogKey;

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

/// Shortest dev signing secret accepted, as for `<P>_AUTH_HS256_SECRET` (what
/// `dev::random_secret` writes is 64 hex digits).
const DEV_SECRET_LEN: usize = 32;

/// The dev token signing secret in `<data_dir>/dev-signing-key`, created on first use. A
/// shorter one (a truncated or hand-edited file) is refused: anyone could guess it and mint
/// tokens.
pub fn dev_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("dev-signing-key");
    let secret = read_or_create(&path, || Ok(dev::random_secret()))?;
    anyhow::ensure!(
        secret.len() >= DEV_SECRET_LEN,
        "{} holds {} characters, fewer than the {DEV_SECRET_LEN} it needs (truncated?): \
         delete it and run `ordersys up` again to make a new one (tokens minted before stop working)",
        path.display(),
        secret.len()
    );
    Ok(secret)
}

/// The log's origin in `<data_dir>/txlog-origin` and its checkpoint key in
/// `<data_dir>/txlog-signing-key`, created on first use: a new data directory gets an origin of
/// its own (`localhost/ordersys/<8 hex>`) and a key named after it (C2SP tlog-checkpoint), so
/// that two local logs are never confused. A data directory from before this rule keeps the
/// origin its checkpoints were signed under.
pub fn log_identity(data_dir: &Path) -> anyhow::Result<(String, LogKey)> {
    let key_path = data_dir.join("txlog-signing-key");
    let origin = read_or_create(&data_dir.join("txlog-origin"), || {
        Ok(match key_path.exists() {
            true => txlog_service::config::DEFAULT_LOG_ORIGIN.to_owned(),
            false => format!("localhost/ordersys/{:08x}", rand::random::<u32>()),
        })
    })?;
    let text = read_or_create(&key_path, || Ok(LogKey::generate(&origin)?.0))?;
    let key = LogKey::parse(&text).with_context(|| format!("in {}", key_path.display()))?;
    Ok((origin, key))
}

/// The file's trimmed text, or `create`'s, written owner-only and atomically (a crash never
/// leaves a partial key behind).
fn read_or_create(
    path: &Path,
    create: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return Ok(text.trim().to_owned());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let text = create()?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    file.as_file().sync_all()?;
    file.persist(path)?;
    Ok(text)
}

/// The `aud` the order service expects under `up` (and names in its tokens).
pub const ORDERS_AUDIENCE: &str = "order-service";
/// The `aud` the transaction log expects under `up`.
pub const TXLOG_AUDIENCE: &str = "txlog-service";

/// The audience a dev token with these scopes is for: the transaction log when every scope is
/// a `txlog:` scope, else the order service.
pub fn audience_for(scopes: &str) -> &'static str {
    let mut words = scopes.split_whitespace().peekable();
    if words.peek().is_some() && words.all(|s| s.starts_with("txlog:")) {
        TXLOG_AUDIENCE
    } else {
        ORDERS_AUDIENCE
    }
}

fn dev_auth(secret: &str, prefix: &str, realm: &str, audience: &str) -> AuthConfig {
    AuthConfig::new(
        prefix,
        realm,
        KeyConfig::Hs256Secret(secret.to_owned()),
        audience,
    )
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    exit_on_error(platform::telemetry::init("ordersys"));
    let secret = dev_secret(&args.data_dir)?;
    let (log_origin, log_key) = log_identity(&args.data_dir)?;
    let verifier_key = log_key.verifier_key().to_owned();
    let sqlite = |name: &str| format!("sqlite://{}", args.data_dir.join(name).display());
    let txlog = txlog_service::Application::build(txlog_service::Config {
        listen: args.txlog_listen,
        database_url: sqlite("txlog.db"),
        auth: dev_auth(&secret, "TXLOG", txlog_service::api::REALM, TXLOG_AUDIENCE),
        signing_key: std::sync::Arc::new(log_key),
        log_origin,
        checkpoint_interval: std::time::Duration::from_secs(1),
        // No load balancer to wait for: Ctrl-C stops at once.
        server: Default::default(),
        // The console checks proofs with the key created here; tokens are pasted.
        console: txlog_service::config::ConsoleConfig {
            oidc_client_id: None,
            verifier_key: Some(verifier_key.clone()),
        },
    })
    .await?;
    let txlog_url = format!("http://{}", txlog.local_addr());
    let delivery_token = dev::sign_hs256(
        &secret,
        TXLOG_AUDIENCE,
        "order-service",
        "txlog:write",
        10 * 365 * 86_400,
    );
    let orders = order_service::Application::build(order_service::Config {
        listen: args.orders_listen,
        database_url: sqlite("orders.db"),
        database: Default::default(),
        txlog_url: txlog_url.clone(),
        txlog_auth: order_service::outbox::TxlogAuth::Static(delivery_token),
        auth: dev_auth(
            &secret,
            "ORDERS",
            order_service::api::REALM,
            ORDERS_AUDIENCE,
        ),
        rate_limit: platform::rate_limit::RateLimit::default(),
        server: Default::default(),
    })
    .await?;
    let orders_url = format!("http://{}", orders.local_addr());
    let token = dev::sign_hs256(
        &secret,
        ORDERS_AUDIENCE,
        "alice",
        "orders:read orders:write",
        86_400,
    );
    let auditor = dev::sign_hs256(&secret, TXLOG_AUDIENCE, "auditor", "txlog:read", 86_400);
    let state = args.data_dir.join("audit-state").display().to_string();
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

The log signs a checkpoint of its Merkle tree every second. Its verifier key:

  {verifier_key}

Audit it as an auditor would (exit 0: consistent; --full also downloads every record):

  cargo run --release -- audit --log {txlog_url} --key '{verifier_key}' --token "$AUDITOR" --state {state} --full

Or browse the records and check their proofs in the auditor console (paste the AUDITOR token):

  {txlog_url}/console/

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

#[cfg(test)]
mod tests {
    use super::*;

    fn key_name(key: &LogKey) -> String {
        key.verifier_key().split('+').next().unwrap().to_owned()
    }

    #[test]
    fn each_data_directory_gets_its_own_origin_and_a_key_of_that_name() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (origin, key) = log_identity(a.path()).unwrap();
        assert!(origin.starts_with("localhost/ordersys/"), "{origin}");
        assert_eq!(origin.len(), "localhost/ordersys/".len() + 8);
        assert_eq!(key_name(&key), origin);
        let (again, same_key) = log_identity(a.path()).unwrap();
        assert_eq!(
            (&again, same_key.verifier_key()),
            (&origin, key.verifier_key())
        );
        let (other, _) = log_identity(b.path()).unwrap();
        assert_ne!(other, origin);
    }

    #[test]
    fn a_data_directory_from_before_keeps_the_origin_it_signed_under() {
        let dir = tempfile::tempdir().unwrap();
        let (private, _) = LogKey::generate("ordersys-dev").unwrap();
        std::fs::write(dir.path().join("txlog-signing-key"), private).unwrap();
        let (origin, key) = log_identity(dir.path()).unwrap();
        assert_eq!(origin, txlog_service::config::DEFAULT_LOG_ORIGIN);
        assert_eq!(key_name(&key), "ordersys-dev");
    }
}
