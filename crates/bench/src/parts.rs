//! Each part of the benchmark: the service processes, and the baselines (a) to (e).

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

use crate::cli::{Args, EventIds};
use crate::cpu::{PerCall, Watched};
use crate::database::{drain, drop_database, fresh_database, load_with_outbox, wait_drained};
use crate::fixtures;
use crate::in_process::InProcess;
use crate::ingest::{self, RawStore};
use crate::load::{self, Op, Stats};
use crate::profiles::{http_client, OrderApi, Profile};
use crate::raw_postgres::RawPostgres;
use crate::report::{self, AppendRow, IngestRow, OutboxFlow, Results, Row};
use crate::rss;
use crate::system::{self, Orders, Txlog};
use crate::tessera::{self, Acknowledged, Tessera};
use crate::tree_cost;

/// How long the outbox may take to drain after a run before the run is reported as not
/// drained.
fn drain_timeout(args: &Args) -> Duration {
    if args.smoke {
        Duration::from_secs(30)
    } else {
        Duration::from_secs(180)
    }
}

fn progress(target: &str, profile: &str, concurrency: usize, stats: &Stats) {
    eprintln!(
        "  {target:<20} {profile:<6} conc {concurrency:>3}: {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
        stats.rate(),
        stats.ms(0.5),
        stats.ms(0.99),
        stats.errors
    );
}

/// The order API at `base`, as the benchmark's caller, with no orders yet.
pub fn api(http: &reqwest::Client, base: &str) -> OrderApi {
    OrderApi {
        http: http.clone(),
        base: base.to_owned(),
        token: system::token(fixtures::CUSTOMER, fixtures::SCOPES),
        ids: Arc::new(Vec::new()),
        concurrency: 1,
    }
}

/// The real order-service process (orders on a fresh PostgreSQL database) delivering to the
/// transaction log process.
pub async fn services(
    args: &Args,
    dir: &std::path::Path,
    txlog: &mut Txlog,
    results: &mut Results,
) -> anyhow::Result<()> {
    eprintln!("services: order-service and txlog-service processes");
    let url = fresh_database(&args.postgres_url, "service").await?;
    let mut orders = Orders::start(args, dir, &url, &txlog.base).await?;
    let outbox = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await?;
    let http = http_client()?;
    let mut api = api(&http, &orders.base);
    api.seed(args.seed, 16).await?;
    wait_drained(&outbox, drain_timeout(args)).await?;
    for &profile in &args.profiles {
        for &c in &args.concurrency {
            let (orders_pid, txlog_pid) = (orders.process.pid(), txlog.process.pid());
            rss::reset_peak(orders_pid);
            rss::reset_peak(txlog_pid);
            let watched = Watched {
                orders: vec![orders_pid],
                txlog: Some(txlog_pid),
                ferretdb: txlog.ferretdb.as_ref().map(|(f, _)| f.pid()),
            };
            let before = watched.sample();
            let loaded = load_with_outbox(&outbox, args.window(c), api.op(profile, c)).await?;
            let (orders_rss, txlog_rss) = (rss::peak_mib(orders_pid), rss::peak_mib(txlog_pid));
            let took = drain(&outbox, drain_timeout(args)).await?;
            let cpu = before.per_call(&watched.sample(), loaded.stats.issued);
            let after = loaded.backlog;
            let flow = OutboxFlow {
                delivered_per_s: loaded.delivered_per_s,
                grew: loaded.grew,
                backlog: after,
                drain_per_s: (after > 0).then(|| after as f64 / took.as_secs_f64()),
            };
            let stats = loaded.stats;
            orders.process.check_alive()?;
            txlog.process.check_alive()?;
            progress(report::SERVICE, profile.name(), c, &stats);
            results.rows.push(Row {
                target: report::SERVICE,
                profile: profile.name(),
                concurrency: c,
                stats,
                orders_rss_mib: orders_rss,
                txlog_rss_mib: txlog_rss,
                outbox: Some(flow),
                cpu: Some(cpu),
            });
        }
    }
    orders.process.stop(Duration::from_secs(60)).await;
    outbox.close().await;
    if !args.keep {
        drop_database(&args.postgres_url, &url).await;
    }
    Ok(())
}

/// Baseline (a): the service's statements through sqlx.
pub async fn raw_postgres(args: &Args, results: &mut Results) -> anyhow::Result<()> {
    eprintln!("baseline (a): raw PostgreSQL");
    let url = fresh_database(&args.postgres_url, "raw").await?;
    let raw = RawPostgres::prepare(&url, args.seed).await?;
    let one = raw.in_one_statement();
    for &profile in &args.profiles {
        // Reads are the same statements both ways; writes are measured both ways.
        let ways: &[(&'static str, &RawPostgres)] = match profile {
            Profile::Get | Profile::List => &[(report::RAW_PG, &raw)],
            _ => &[(report::RAW_PG, &raw), (report::RAW_PG_ONE, &one)],
        };
        for &c in &args.concurrency {
            for &(target, raw) in ways {
                let before = Watched::default().sample();
                let stats = load::run(args.window(c), raw.op(profile, c)).await;
                let cpu = before.per_call(&Watched::default().sample(), stats.issued);
                progress(target, profile.name(), c, &stats);
                results
                    .rows
                    .push(plain_row(target, profile.name(), c, stats, Some(cpu)));
            }
        }
    }
    raw.close().await;
    if !args.keep {
        drop_database(&args.postgres_url, &url).await;
    }
    Ok(())
}

/// A row of a target that is not the two service processes: no RSS, no outbox.
fn plain_row(
    target: &'static str,
    profile: &'static str,
    concurrency: usize,
    stats: Stats,
    cpu: Option<PerCall>,
) -> Row {
    Row {
        target,
        profile,
        concurrency,
        stats,
        orders_rss_mib: None,
        txlog_rss_mib: None,
        outbox: None,
        cpu,
    }
}

/// Baseline (b): an axum handler doing nothing.
pub async fn noop(args: &Args, results: &mut Results) -> anyhow::Result<()> {
    eprintln!("baseline (b): axum handler doing nothing");
    let stop = tokio_util::sync::CancellationToken::new();
    let addr = crate::noop::serve(stop.clone()).await?;
    let http = http_client()?;
    let token = system::token(fixtures::CUSTOMER, fixtures::SCOPES);
    for &c in &args.concurrency {
        let stats = load::run(
            args.window(c),
            crate::noop::op(http.clone(), addr, token.clone()),
        )
        .await;
        progress(report::NOOP, "noop", c, &stats);
        results
            .rows
            .push(plain_row(report::NOOP, "noop", c, stats, None));
    }
    stop.cancel();
    Ok(())
}

/// Baseline (d): the order service in this process, with call recording on and off.
pub async fn in_process(args: &Args, txlog: &Txlog, results: &mut Results) -> anyhow::Result<()> {
    for (target, record) in [(report::RECORDING_ON, true), (report::RECORDING_OFF, false)] {
        eprintln!("baseline (d): order service in-process, record_calls = {record}");
        let url = fresh_database(&args.postgres_url, if record { "rec" } else { "norec" }).await?;
        let service = InProcess::start(
            &url,
            &txlog.base,
            &system::delivery_token(),
            system::SECRET,
            record,
        )
        .await?;
        let outbox = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await?;
        let http = http_client()?;
        let mut api = api(&http, &service.base);
        api.seed(args.seed, 16).await?;
        wait_drained(&outbox, drain_timeout(args)).await?;
        let watched = Watched {
            txlog: Some(txlog.process.pid()),
            ferretdb: txlog.ferretdb.as_ref().map(|(f, _)| f.pid()),
            ..Watched::default()
        };
        for &profile in &args.profiles {
            for &c in &args.concurrency {
                let before = watched.sample();
                let stats = load::run(args.window(c), api.op(profile, c)).await;
                wait_drained(&outbox, drain_timeout(args)).await?;
                let cpu = before.per_call(&watched.sample(), stats.issued);
                progress(target, profile.name(), c, &stats);
                results
                    .rows
                    .push(plain_row(target, profile.name(), c, stats, Some(cpu)));
            }
        }
        outbox.close().await;
        service.stop().await?;
        if !args.keep {
            drop_database(&args.postgres_url, &url).await;
        }
    }
    Ok(())
}

/// Baseline (c) against the service: events per second for each batch size, one request or
/// insert at a time (the chain is linear, and the relay sends one batch at a time), once per
/// kind of event id; then the single-event appends of many writers against Tessera (e).
pub async fn ingest(
    args: &Args,
    dir: &std::path::Path,
    txlog: &Txlog,
    results: &mut Results,
) -> anyhow::Result<()> {
    eprintln!("baseline (c): transaction log ingest against raw store inserts");
    // A store of its own beside the service's: a second database on the same server.
    let raw = match &txlog.ferretdb {
        Some((_, port)) => {
            results.store = "mongodb insert_many".into();
            RawStore::mongo(*port).await?
        }
        None => {
            results.store = "sqlite".into();
            RawStore::sqlite(&dir.join("raw-txlog.db")).await?
        }
    };
    let next_seq = Arc::new(ingest::AtomicI64::new(0));
    let http = http_client()?;
    let token = system::token("bench-ingest", "txlog:write");
    for &ids in &args.event_ids {
        for &batch in &args.batches {
            let run = |op: Op| load::run(args.window(1), op);
            let raw_stats = run(raw.op(batch, next_seq.clone(), ids)).await;
            let service = run(ingest::service_op(
                http.clone(),
                &txlog.base,
                token.clone(),
                batch,
                ids,
            ))
            .await;
            let port = txlog.ferretdb.as_ref().map(|(_, port)| *port);
            let name = |what: &str| format!("{what}_{}_{batch}", ids.name());
            let plain = tree_cost::fresh_store(dir, port, &name("plain"), false).await?;
            let plain = tree_cost::op(plain, batch, ids, None);
            let treed = tree_cost::fresh_store(dir, port, &name("tree"), true).await?;
            let signer = tree_cost::signer(treed.clone())?;
            let treed = tree_cost::op(treed, batch, ids, Some(signer));
            // Taken in turns, so that a change in the host's speed falls on both alike.
            let mut append = run(plain.clone()).await;
            let mut with_tree = run(treed.clone()).await;
            for _ in 1..tree_cost_turns(args) {
                append.absorb(run(plain.clone()).await);
                with_tree.absorb(run(treed.clone()).await);
            }
            eprintln!(
                "  batch {batch:>5} {}: raw {:>8.0} events/s, service {:>8.0} events/s, append {:>8.0}, with tree {:>8.0}, errors {}",
                ids.name(),
                raw_stats.rate() * batch as f64,
                service.rate() * batch as f64,
                append.rate() * batch as f64,
                with_tree.rate() * batch as f64,
                raw_stats.errors + service.errors + append.errors + with_tree.errors
            );
            results.ingest.push(IngestRow {
                batch,
                ids,
                raw: raw_stats,
                service,
                append,
                with_tree,
            });
        }
    }
    single_event_appends(args, dir, txlog, results).await
}

/// Runs of each of the verifiable log's two stores, taken in turns: three (one in `--smoke`).
fn tree_cost_turns(args: &Args) -> usize {
    if args.smoke {
        1
    } else {
        3
    }
}

/// `POST /v1/transactions` with one event per request from each `--concurrency` of writers,
/// and Tessera (e) appending the same event text at the same concurrency, acknowledged once
/// integrated and once published; the three interleaved per writer count. Ids are the first
/// `--event-ids` kind. Without the Tessera harness, its rows are skipped (silently in
/// `--smoke`).
async fn single_event_appends(
    args: &Args,
    dir: &std::path::Path,
    txlog: &Txlog,
    results: &mut Results,
) -> anyhow::Result<()> {
    eprintln!("single-event appends: txlog-service against (e) Tessera");
    let ids = args.event_ids.first().copied().unwrap_or(EventIds::V7);
    let mut tessera = match tessera::binary() {
        Some(program) => Some(Tessera::start(&program, dir).await?),
        None => {
            if !args.smoke {
                eprintln!(
                    "  (e) Tessera skipped: the harness is not built. Build it with\n    {}\n  (or set TESSERA_BENCH_BIN)",
                    tessera::BUILD
                );
            }
            None
        }
    };
    let http = http_client()?;
    let token = system::token("bench-ingest", "txlog:write");
    for &c in &args.concurrency {
        let op = ingest::service_op(http.clone(), &txlog.base, token.clone(), 1, ids);
        let stats = load::run(args.window(c), op).await;
        progress(report::TXLOG_SINGLE, "append", c, &stats);
        results.appends.push(AppendRow {
            target: report::TXLOG_SINGLE,
            writers: c,
            stats,
        });
        let Some(tessera) = tessera.as_mut() else {
            continue;
        };
        for ack in Acknowledged::ALL {
            let stats = load::run(args.window(c), tessera.op(http.clone(), ack, ids)).await;
            tessera.process.check_alive()?;
            progress(ack.target(), "append", c, &stats);
            results.appends.push(AppendRow {
                target: ack.target(),
                writers: c,
                stats,
            });
        }
    }
    if let Some(mut tessera) = tessera {
        tessera.process.stop(Duration::from_secs(10)).await;
    }
    Ok(())
}
