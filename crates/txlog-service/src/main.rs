//! `txlog-service`: serves (no arguments), probes readiness, or prepares the database.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use platform::config::exit_on_error;
use txlog_service::transparency::LogKey;
use txlog_service::{config, setup, Application, Config};

/// jemalloc rather than glibc's malloc (see the order service's `main.rs`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const ENVIRONMENT: &str = "\
Environment:
  TXLOG_LISTEN                address to serve on (default 127.0.0.1:8081)
  TXLOG_DATABASE_URL          sqlite://path, mongodb://… or mongodb+srv://… (default sqlite://data/txlog.db)
  TXLOG_AUTH_ISSUER           OIDC issuer URL (discovery, then jwks_uri); https:// unless loopback
  TXLOG_AUTH_JWKS_URL         JWKS URL, when there is no discovery
  TXLOG_AUTH_AUDIENCE         the aud every token must name (required)
  TXLOG_AUTH_HS256_SECRET     HS256 secret for local verification (dev only)
  TXLOG_AUTH_PUBLIC_KEY_FILE  RS256/ES256/EdDSA public key PEM file
  TXLOG_SIGNING_KEY           the log's checkpoint signing key (PRIVATE+KEY+…; see `keygen`)
  TXLOG_SIGNING_KEY_FILE      a file holding it (one of the two is required)
  TXLOG_LOG_ORIGIN            first line of every checkpoint (default ordersys/txlog)
  TXLOG_CHECKPOINT_INTERVAL_MS how often new records are signed (default 1000)
  TXLOG_WITNESSES             C2SP tlog-witness witnesses that cosign checkpoints: `<base URL> <witness key>`, comma-separated (default none)
  TXLOG_WITNESS_QUORUM        how many of them must cosign a checkpoint before it is served (default all)
  TXLOG_SHUTDOWN_DELAY        after SIGTERM, keep serving this long with /readyz at 503 (default 5s; e.g. 500ms, 0)
  TXLOG_TLS_CERT_FILE         PEM certificate chain: serve HTTPS (with TXLOG_TLS_KEY_FILE; reloaded on change)
  TXLOG_TLS_KEY_FILE          PEM private key of that certificate
  TXLOG_METRICS_LISTEN        serve /metrics only on this address, plain HTTP (default: on TXLOG_LISTEN)
  TXLOG_TRUSTED_PROXIES       CIDR ranges of proxies whose X-Forwarded-For names the client (default none)
  TXLOG_MAX_CONNECTIONS_PER_ADDRESS open connections from one address (default 512, or off)
  TXLOG_CONSOLE_OIDC_CLIENT_ID the auditor console's public OIDC client at TXLOG_AUTH_ISSUER (PKCE; default: paste a token)
  TXLOG_CONSOLE_VERIFIER_KEY  the log's verifier key the console checks proofs with (default: pasted)
  LOG_FORMAT                  json or pretty (default: pretty on a terminal, else json)
  RUST_LOG                    log filter (default info)
  OTEL_EXPORTER_OTLP_ENDPOINT OTLP export of logs and traces";

#[derive(Parser)]
#[command(name = "txlog-service", version, about = "The ordersys transaction log service", after_help = ENVIRONMENT)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Exit 0 when the local service answers GET /readyz with 200, else 1.
    Healthcheck,
    /// Print a new checkpoint signing key: the private key on stdout (for TXLOG_SIGNING_KEY),
    /// the verifier key auditors use on stderr.
    Keygen {
        /// The key's name, which must be the log's origin (C2SP tlog-checkpoint; no '+' or
        /// spaces). Default: TXLOG_LOG_ORIGIN, else the default origin.
        #[arg(long, env = config::LOG_ORIGIN_VAR, default_value = config::DEFAULT_LOG_ORIGIN)]
        name: String,
    },
    /// Create the collections, indexes, the ordersysTxlogAppender role (insert, find and listIndexes
    /// only) and optionally an application user; safe to re-run. Uses TXLOG_DATABASE_URL with
    /// admin credentials. For SQLite it creates the schema.
    Setup {
        /// Create or update this user with only the appender role, in the URL's database.
        #[arg(long, requires = "app_password_file")]
        app_user: Option<String>,
        /// File holding the user's password (a trailing newline is ignored).
        #[arg(long, requires = "app_user")]
        app_password_file: Option<PathBuf>,
        /// Do not create the role (MongoDB Atlas: create it in the Atlas UI or CLI).
        #[arg(long)]
        skip_role: bool,
        /// Then seal the records stored before seals existed, with the key in
        /// TXLOG_SIGNING_KEY(_FILE), after checking the whole chain, tree and last checkpoint
        /// (refused, naming the seq, when they fail).
        #[arg(long)]
        seal_existing: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        None => serve().await,
        Some(Command::Healthcheck) => {
            let listen = exit_on_error(platform::config::listen_addr(
                config::LISTEN_VAR,
                config::DEFAULT_LISTEN,
            ));
            std::process::exit(platform::http::healthcheck(listen).await)
        }
        Some(Command::Keygen { name }) => {
            let (private, verifier) = LogKey::generate(&name)?;
            println!("{private}");
            eprintln!("{verifier}");
            Ok(())
        }
        Some(Command::Setup {
            app_user,
            app_password_file,
            skip_role,
            seal_existing,
        }) => {
            exit_on_error(platform::telemetry::init("txlog-service"));
            let url = exit_on_error(config::database_url_from_env());
            let options = setup::SetupOptions {
                app_user,
                app_password_file,
                skip_role,
                seal_existing: seal_existing.then(setup::seal_key_from_env).transpose()?,
            };
            for line in setup::run(&url, &options).await? {
                println!("{line}");
            }
            Ok(())
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    exit_on_error(platform::telemetry::init("txlog-service"));
    let config = exit_on_error(Config::from_env());
    let witnesses = exit_on_error(config::WitnessConfig::from_env());
    let shutdown = platform::shutdown::on_signal();
    let app = Application::build_witnessed(config, witnesses).await?;
    let result = app.run(shutdown).await;
    platform::telemetry::flush();
    result
}
