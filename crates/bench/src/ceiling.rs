//! The log's ceiling (issue 15): order-service replicas on one PostgreSQL database, all
//! delivering to one transaction log at once. The log is one sequence, so its append rate
//! bounds the system; this measures, for each replica count, the calls the replicas answer
//! under the create profile and the events the log takes in per second, and whether the
//! outboxes' backlog drains after the run.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

use crate::cli::Args;
use crate::database::{drain, drop_database, fresh_database, load_with_outbox};
use crate::load::{self, Op, Stats};
use crate::parts;
use crate::profiles::{http_client, Profile};
use crate::system::{Orders, Txlog};

/// What one replica count measured.
pub struct CeilingRow {
    pub replicas: usize,
    pub concurrency: usize,
    pub stats: Stats,
    /// Events that reached the log per second of the loaded window.
    pub delivered_per_s: f64,
    /// Events still in the outbox when the load stopped, and how long they took to drain.
    pub backlog: i64,
    pub drained_in: Duration,
}

/// Runs the create profile at the highest `--concurrency`, spread over `replicas` order
/// services, for each `--replicas` count.
pub async fn run(
    args: &Args,
    dir: &std::path::Path,
    txlog: &Txlog,
) -> anyhow::Result<Vec<CeilingRow>> {
    let concurrency = args.concurrency.iter().copied().max().unwrap_or(1);
    let mut rows = Vec::new();
    for &replicas in &args.replicas {
        eprintln!("ceiling: {replicas} order-service replicas, one transaction log");
        let url = fresh_database(&args.postgres_url, &format!("ceiling{replicas}")).await?;
        let mut services = Vec::with_capacity(replicas);
        for i in 0..replicas {
            let name = format!("order-service-{replicas}-{i}");
            services.push(Orders::start_named(args, dir, &name, &url, &txlog.base).await?);
        }
        let outbox = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await?;
        let op = spread(&services, concurrency)?;
        let loaded = load_with_outbox(&outbox, args.window(concurrency), op).await?;
        let drained_in = drain(&outbox, Duration::from_secs(180)).await?;
        eprintln!(
            "  {replicas} replicas conc {concurrency}: {:>8.0} calls/s, {:>8.0} delivered/s, backlog {}, drained in {:.1} s, errors {}",
            loaded.stats.rate(),
            loaded.delivered_per_s,
            loaded.backlog,
            drained_in.as_secs_f64(),
            loaded.stats.errors
        );
        rows.push(CeilingRow {
            replicas,
            concurrency,
            stats: loaded.stats,
            delivered_per_s: loaded.delivered_per_s,
            backlog: loaded.backlog,
            drained_in,
        });
        for mut service in services {
            service.process.check_alive()?;
            service.process.stop(Duration::from_secs(60)).await;
        }
        outbox.close().await;
        if !args.keep {
            drop_database(&args.postgres_url, &url).await;
        }
    }
    Ok(rows)
}

/// The create profile with worker `w` calling replica `w % n`.
fn spread(services: &[Orders], concurrency: usize) -> anyhow::Result<Op> {
    let http = http_client()?;
    let ops: Vec<Op> = services
        .iter()
        .map(|s| parts::api(&http, &s.base).op(Profile::Create, concurrency))
        .collect();
    Ok(Arc::new(move |turn: load::Turn| {
        ops[turn.worker % ops.len()](turn)
    }))
}

/// The Markdown table of `rows`.
pub fn table(rows: &[CeilingRow]) -> String {
    let mut out = String::from(
        "| order-service replicas | conc | calls/s | p99 ms | events into the log /s | backlog at end | drained in s | errors |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.0} | {} | {:.1} | {} |\n",
            r.replicas,
            r.concurrency,
            r.stats.rate(),
            r.stats.ms(0.99),
            r.delivered_per_s,
            r.backlog,
            r.drained_in.as_secs_f64(),
            r.stats.errors
        ));
    }
    out
}
