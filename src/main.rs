//! `ordersys`: the developer launcher. `up` runs both services on SQLite with local keys;
//! `token` prints a development token; `audit` checks a running transaction log.

mod up;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "ordersys: run both services locally, mint dev tokens, audit a transaction log"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the order service and the transaction log with SQLite stores under ./data.
    Up(up::UpArgs),
    /// Print a development token signed with the local key in ./data.
    Token {
        /// The caller (`sub`).
        #[arg(long, default_value = "alice")]
        sub: String,
        /// Space-separated scopes.
        #[arg(long, default_value = "orders:read orders:write")]
        scopes: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl: u64,
        /// The `aud` claim: `order-service` or `txlog-service` under `up` (default: txlog-service
        /// when every scope is a txlog: scope, else order-service).
        #[arg(long)]
        audience: Option<String>,
        /// Where the local key lives.
        #[arg(long, default_value = "data")]
        data_dir: std::path::PathBuf,
    },
    /// Check a transaction log against its verifier key (exit 0: all holds, 1: an
    /// inconsistency, printed; 2: a usage or connection error).
    Audit(txlog_audit::AuditArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Up(args) => up::run(args).await,
        Command::Audit(args) => std::process::exit(txlog_audit::main(&args).await),
        Command::Token {
            sub,
            scopes,
            ttl,
            audience,
            data_dir,
        } => {
            let secret = up::dev_secret(&data_dir)?;
            let audience = audience.unwrap_or_else(|| up::audience_for(&scopes).to_owned());
            println!(
                "{}",
                platform::auth::dev::sign_hs256(&secret, &audience, &sub, &scopes, ttl)
            );
            Ok(())
        }
    }
}
