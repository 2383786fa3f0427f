use clap::{Parser, Subcommand};
use platform::config::exit_on_error;

/// jemalloc rather than glibc's malloc: fewer instructions per request with many threads and
/// connections, and peak memory within the targets (docs/ARCHITECTURE.md, docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The ordersys order service: a REST API for product orders.
///
/// Configuration comes from the environment: ORDERS_LISTEN, ORDERS_DATABASE_URL,
/// ORDERS_DATABASE_STATEMENT_TIMEOUT (default 35s, or off),
/// ORDERS_TXLOG_URL, ORDERS_TXLOG_TOKEN or ORDERS_TXLOG_TOKEN_URL/CLIENT_ID/CLIENT_SECRET/SCOPE,
/// ORDERS_AUTH_ISSUER, ORDERS_AUTH_JWKS_URL, ORDERS_AUTH_AUDIENCE, ORDERS_AUTH_HS256_SECRET,
/// ORDERS_AUTH_PUBLIC_KEY_FILE, ORDERS_RATE_LIMIT, ORDERS_RATE_LIMIT_ANONYMOUS,
/// ORDERS_SHUTDOWN_DELAY (default 5s), ORDERS_TLS_CERT_FILE with ORDERS_TLS_KEY_FILE (HTTPS,
/// reloaded on change), ORDERS_METRICS_LISTEN (/metrics on its own address),
/// ORDERS_TRUSTED_PROXIES (CIDR ranges whose X-Forwarded-For names the client),
/// ORDERS_MAX_CONNECTIONS_PER_ADDRESS (default 512, or off), LOG_FORMAT, RUST_LOG and the
/// standard OTEL_* variables. See docs/OPERATIONS.md.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Exit 0 when the running service on ORDERS_LISTEN is ready (for container health checks).
    Healthcheck,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck) = cli.command {
        let listen = exit_on_error(platform::config::listen_addr(
            "ORDERS_LISTEN",
            "127.0.0.1:8080",
        ));
        std::process::exit(platform::http::healthcheck(listen).await);
    }
    exit_on_error(platform::telemetry::init("order-service"));
    let config = exit_on_error(order_service::Config::from_env());
    let shutdown = platform::shutdown::on_signal();
    let app = order_service::Application::build(config)
        .await
        .inspect_err(|e| {
            tracing::error!(
                error = format!("{e:#}"),
                "the order service could not start"
            );
        })?;
    let result = app.run(shutdown).await;
    platform::telemetry::flush();
    result
}
