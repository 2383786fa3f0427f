//! `txlog-audit`: the auditor's tool on its own (`ordersys audit` is the same check).
//! Exit 0: all holds; 1: an inconsistency, printed; 2: a usage or connection error.

use clap::Parser;

#[derive(Parser)]
#[command(
    version,
    about = "Check an ordersys transaction log against its verifier key and witnesses"
)]
struct Cli {
    #[command(flatten)]
    audit: txlog_audit::AuditArgs,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Cli::parse().audit;
    std::process::exit(txlog_audit::main(&args).await);
}
