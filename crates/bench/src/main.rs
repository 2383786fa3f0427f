//! `bench`: throughput, latency and memory of the ordersys services against baselines
//! measured in the same run. See docs/BENCHMARKS.md.

mod ceiling;
mod cli;
mod cpu;
mod database;
mod fixtures;
mod in_process;
mod ingest;
mod load;
mod noop;
mod parts;
mod processes;
mod profiles;
mod raw_postgres;
mod report;
mod rss;
mod system;
mod targets;
mod tessera;
mod tree_cost;
mod unrecorded;

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

use crate::cli::{Args, Part};
use crate::report::Results;

/// jemalloc, as in both services' binaries: the in-process services of (d), the store appends
/// of the tree-cost rows and the raw baselines allocate the way the services do.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse().effective();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = system::work_dir()?;
    eprintln!("work directory (logs, store files): {}", dir.display());
    let mut results = Results::default();
    let mut ceiling = Vec::new();
    let mut txlog = if [Part::Services, Part::InProcess, Part::Ingest, Part::Ceiling]
        .iter()
        .any(|&p| args.runs(p))
    {
        Some(system::Txlog::start(args, &dir).await?)
    } else {
        None
    };
    if let Some(txlog) = txlog.as_mut() {
        if args.runs(Part::Services) {
            parts::services(args, &dir, txlog, &mut results).await?;
        }
    }
    if args.runs(Part::RawPostgres) {
        parts::raw_postgres(args, &mut results).await?;
    }
    if args.runs(Part::Noop) {
        parts::noop(args, &mut results).await?;
    }
    if let Some(txlog) = txlog.as_ref() {
        if args.runs(Part::InProcess) {
            parts::in_process(args, txlog, &mut results).await?;
        }
        if args.runs(Part::Ingest) {
            parts::ingest(args, &dir, txlog, &mut results).await?;
        }
        if args.runs(Part::Ceiling) {
            ceiling = ceiling::run(args, &dir, txlog).await?;
        }
    }
    if let Some(mut txlog) = txlog {
        txlog.process.stop(std::time::Duration::from_secs(30)).await;
        if let Some((mut ferretdb, _)) = txlog.ferretdb {
            ferretdb.stop(std::time::Duration::from_secs(10)).await;
        }
    }
    println!(
        "\n## Results ({} s measured, {} s warm-up per run)\n",
        args.duration, args.warmup
    );
    println!("{}", results.table());
    println!("## Ratios\n\n{}", results.ratios());
    println!(
        "## Where the CPU goes (µs of CPU per call, delivering the run's events included)\n\n{}",
        results.cpu_table()
    );
    if !results.ingest.is_empty() {
        println!(
            "## Transaction log ingest (concurrency 1)\n\n{}",
            results.ingest_table()
        );
        println!(
            "## Verifiable log cost (in-process store appends, concurrency 1)\n\n{}",
            results.tree_cost_table()
        );
    }
    if args.event_ids.len() > 1 && !results.ingest.is_empty() {
        println!(
            "## Random (v4) against time-ordered (v7) event ids (concurrency 1)\n\n{}",
            results.event_ids_table()
        );
    }
    if !results.appends.is_empty() {
        println!(
            "## Single-event appends (one event per request, many writers)\n\n{}",
            results.appends_table()
        );
    }
    if !ceiling.is_empty() {
        println!(
            "## The log's ceiling (create profile, replicas sharing one database and one log)\n\n{}",
            ceiling::table(&ceiling)
        );
    }
    println!(
        "## Targets (issues 15 and 30)\n\n{}",
        targets::table(&results)
    );
    let errors = results.errors();
    if !errors.is_empty() {
        println!("## Errors\n\n{errors}");
    }
    println!("total time {:.0} s", started.elapsed().as_secs_f64());
    if !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
