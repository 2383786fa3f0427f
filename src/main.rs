//! `ordersys`: the developer launcher. `up` runs both services on SQLite with a local signing
//! key; `token` prints a development token.

mod up;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "ordersys developer launcher: run both services locally, mint dev tokens"
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
        /// Where the local key lives.
        #[arg(long, default_value = "data")]
        data_dir: std::path::PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Up(args) => up::run(args).await,
        Command::Token {
            sub,
            scopes,
            ttl,
            data_dir,
        } => {
            let secret = up::dev_secret(&data_dir)?;
            println!(
                "{}",
                platform::auth::dev::sign_hs256(&secret, &sub, &scopes, ttl)
            );
            Ok(())
        }
    }
}
