//! The results and how they are printed: Markdown tables, so that they paste into
//! docs/BENCHMARKS.md as they are.

use std::fmt::Write as _;

use crate::cli::EventIds;
use crate::cpu::PerCall;
use crate::load::Stats;

pub const SERVICE: &str = "service";
pub const RAW_PG: &str = "(a) raw-pg";
/// Baseline (a) with each write as one statement, as the order service sends it.
pub const RAW_PG_ONE: &str = "(a1) raw-pg 1 stmt";
pub const NOOP: &str = "(b) noop";
pub const RECORDING_ON: &str = "(d) in-proc rec on";
pub const RECORDING_OFF: &str = "(d) in-proc rec off";
/// `POST /v1/transactions` with one event per request, many writers at once.
pub const TXLOG_SINGLE: &str = "txlog-service";
pub const TESSERA_INTEGRATED: &str = "(e) Tessera integrated";
pub const TESSERA_PUBLISHED: &str = "(e) Tessera published";
/// The Tessera row txlog-service's single-event appends are judged against: both acknowledge
/// an entry once it is stored and in the stored tree, neither waits for a signed checkpoint.
pub const TESSERA_REFERENCE: &str = TESSERA_INTEGRATED;

/// How the outbox kept up during a run of the service.
#[derive(Debug, Clone, Copy)]
pub struct OutboxFlow {
    /// Events that left the outbox per second in the measured window.
    pub delivered_per_s: f64,
    /// How much the backlog grew in the measured window.
    pub grew: i64,
    /// Events waiting when the load stopped.
    pub backlog: i64,
    /// Events per second delivered after the load stopped, until the outbox was empty
    /// (absent when there was nothing to drain).
    pub drain_per_s: Option<f64>,
}

pub struct Row {
    pub target: &'static str,
    pub profile: &'static str,
    pub concurrency: usize,
    pub stats: Stats,
    pub orders_rss_mib: Option<f64>,
    pub txlog_rss_mib: Option<f64>,
    pub outbox: Option<OutboxFlow>,
    /// CPU per call of each process, from the start of the run until its events were
    /// delivered.
    pub cpu: Option<PerCall>,
}

pub struct IngestRow {
    pub batch: usize,
    /// The kind of `event_id` every target of the row was sent.
    pub ids: EventIds,
    pub raw: Stats,
    pub service: Stats,
    /// In-process appends into a store of the service's kind, without the tree.
    pub append: Stats,
    /// The same, extending the Merkle tree and signing a checkpoint after every batch.
    pub with_tree: Stats,
}

/// One event per request from `writers` concurrent writers, to the log or to Tessera.
pub struct AppendRow {
    pub target: &'static str,
    pub writers: usize,
    pub stats: Stats,
}

#[derive(Default)]
pub struct Results {
    pub rows: Vec<Row>,
    pub ingest: Vec<IngestRow>,
    pub store: String,
    pub appends: Vec<AppendRow>,
}

pub(crate) fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

pub(crate) fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

impl Results {
    pub fn rate(&self, target: &str, profile: &str, concurrency: usize) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.target == target && r.profile == profile && r.concurrency == concurrency)
            .map(|r| r.stats.rate())
    }

    /// The single-event append run of `target` at `writers`.
    pub fn append(&self, target: &str, writers: usize) -> Option<&Stats> {
        self.appends
            .iter()
            .find(|r| r.target == target && r.writers == writers)
            .map(|r| &r.stats)
    }

    /// The batched ingest row of `batch` with ids of kind `ids`.
    pub fn ingest_row(&self, batch: usize, ids: EventIds) -> Option<&IngestRow> {
        self.ingest
            .iter()
            .find(|r| r.batch == batch && r.ids == ids)
    }

    pub fn runs(&self) -> Vec<(&'static str, usize)> {
        let mut runs: Vec<(&'static str, usize)> = Vec::new();
        for r in &self.rows {
            if r.target != NOOP && !runs.contains(&(r.profile, r.concurrency)) {
                runs.push((r.profile, r.concurrency));
            }
        }
        runs
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| target | profile | conc | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | orders peak RSS MiB | txlog peak RSS MiB | outbox delivered/s | backlog grew in window | backlog at end | drain/s |");
        let _ = writeln!(
            out,
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in &self.rows {
            let s = &r.stats;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {} | {} | {} | {} | {} |",
                r.target,
                r.profile,
                r.concurrency,
                s.rate(),
                s.ms(0.5),
                s.ms(0.9),
                s.ms(0.99),
                s.max_ms(),
                s.errors,
                opt(r.orders_rss_mib, 1),
                opt(r.txlog_rss_mib, 1),
                opt(r.outbox.map(|o| o.delivered_per_s), 0),
                r.outbox.map_or("-".into(), |o| o.grew.to_string()),
                r.outbox.map_or("-".into(), |o| o.backlog.to_string()),
                opt(r.outbox.and_then(|o| o.drain_per_s), 0),
            );
        }
        out
    }

    /// CPU per call by process, and the rate the machine's cores could serve at that cost
    /// (what a run saturating the machine can reach at most).
    pub fn cpu_table(&self) -> String {
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        let mut out = String::new();
        let _ = writeln!(out, "| target | profile | conc | bench | order service | txlog | FerretDB | PostgreSQL | all µs/call | machine busy | {cores:.0} cores ÷ all, req/s |");
        let _ = writeln!(
            out,
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in &self.rows {
            let Some(cpu) = r.cpu else { continue };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0}% | {:.0} |",
                r.target,
                r.profile,
                r.concurrency,
                cpu.bench,
                cpu.orders,
                cpu.txlog,
                cpu.ferretdb,
                cpu.postgres,
                cpu.all(),
                cpu.machine_busy * 100.0,
                cores * 1e6 / cpu.all().max(1.0),
            );
        }
        out
    }

    pub fn tree_cost_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| batch | event ids | store append events/s | append + tree extended and signed each second events/s | cost |"
        );
        let _ = writeln!(out, "|---:|---|---:|---:|---:|");
        for r in &self.ingest {
            let (plain, tree) = (
                r.append.rate() * r.batch as f64,
                r.with_tree.rate() * r.batch as f64,
            );
            let _ = writeln!(
                out,
                "| {} | {} | {plain:.0} | {tree:.0} | {} |",
                r.batch,
                r.ids.name(),
                ratio(Some(tree), Some(plain))
                    .map_or("-".into(), |x| format!("{:.0}%", (1.0 - x) * 100.0)),
            );
        }
        out
    }

    pub fn ratios(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| profile | conc | service req/s | (a) raw-pg req/s | service/(a) | (a1) 1 stmt req/s | service/(a1) | service/(b) noop | (d) rec on | (d) rec off | recording cost |");
        let _ = writeln!(
            out,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for (profile, c) in self.runs() {
            let service = self.rate(SERVICE, profile, c);
            let on = self.rate(RECORDING_ON, profile, c);
            let off = self.rate(RECORDING_OFF, profile, c);
            let _ = writeln!(
                out,
                "| {profile} | {c} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                opt(service, 0),
                opt(self.rate(RAW_PG, profile, c), 0),
                opt(ratio(service, self.rate(RAW_PG, profile, c)), 2),
                opt(self.rate(RAW_PG_ONE, profile, c), 0),
                opt(ratio(service, self.rate(RAW_PG_ONE, profile, c)), 2),
                opt(ratio(service, self.rate(NOOP, "noop", c)), 3),
                opt(on, 0),
                opt(off, 0),
                ratio(on, off).map_or("-".into(), |r| format!("{:.0}%", (1.0 - r) * 100.0)),
            );
        }
        out
    }

    pub fn ingest_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| batch | event ids | (c) raw {} events/s | service events/s | service/(c) | service p50 ms per batch | service p99 ms | errors |", self.store);
        let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|");
        for r in &self.ingest {
            let raw = r.raw.rate() * r.batch as f64;
            let service = r.service.rate() * r.batch as f64;
            let _ = writeln!(
                out,
                "| {} | {} | {raw:.0} | {service:.0} | {} | {:.2} | {:.2} | {} |",
                r.batch,
                r.ids.name(),
                opt(ratio(Some(service), Some(raw)), 2),
                r.service.ms(0.5),
                r.service.ms(0.99),
                r.raw.errors + r.service.errors,
            );
        }
        out
    }

    /// Random against time-ordered ids, per batch measured with both: the service, raw
    /// inserts (c) and in-process appends with the tree.
    pub fn event_ids_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| batch | service v7 events/s | service v4 events/s | service v4/v7 | (c) raw v4/v7 | append with tree v4/v7 |");
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|");
        let events = |s: &Stats, batch: usize| Some(s.rate() * batch as f64);
        for v7 in self.ingest.iter().filter(|r| r.ids == EventIds::V7) {
            let Some(v4) = self.ingest_row(v7.batch, EventIds::V4) else {
                continue;
            };
            let b = v7.batch;
            let _ = writeln!(
                out,
                "| {b} | {} | {} | {} | {} | {} |",
                opt(events(&v7.service, b), 0),
                opt(events(&v4.service, b), 0),
                opt(ratio(events(&v4.service, b), events(&v7.service, b)), 2),
                opt(ratio(events(&v4.raw, b), events(&v7.raw, b)), 2),
                opt(ratio(events(&v4.with_tree, b), events(&v7.with_tree, b)), 2),
            );
        }
        out
    }

    /// Single-event appends: every target at every writer count, and the log's rate over the
    /// reference Tessera row's at the same count.
    pub fn appends_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| target | writers | appends/s | p50 ms | p99 ms | max ms | errors | txlog ÷ this |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for r in &self.appends {
            let s = &r.stats;
            let txlog = self.append(TXLOG_SINGLE, r.writers).map(Stats::rate);
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {} |",
                r.target,
                r.writers,
                s.rate(),
                s.ms(0.5),
                s.ms(0.99),
                s.max_ms(),
                s.errors,
                if r.target == TXLOG_SINGLE {
                    "-".into()
                } else {
                    opt(ratio(txlog, Some(s.rate())), 2)
                },
            );
        }
        out
    }

    /// The first error of each run that had any, for diagnosis.
    pub fn errors(&self) -> String {
        let mut out = String::new();
        for r in &self.rows {
            if let Some(e) = &r.stats.first_error {
                let _ = writeln!(
                    out,
                    "- {} {} conc {}: {} errors, first: {e}",
                    r.target, r.profile, r.concurrency, r.stats.errors
                );
            }
        }
        for r in &self.ingest {
            let all = [
                ("raw", &r.raw),
                ("service", &r.service),
                ("append", &r.append),
                ("append with tree", &r.with_tree),
            ];
            for (what, s) in all {
                if let Some(e) = &s.first_error {
                    let _ = writeln!(
                        out,
                        "- ingest {what} batch {} ({} ids): {} errors, first: {e}",
                        r.batch,
                        r.ids.name(),
                        s.errors
                    );
                }
            }
        }
        for r in &self.appends {
            if let Some(e) = &r.stats.first_error {
                let _ = writeln!(
                    out,
                    "- single-event {} at {} writers: {} errors, first: {e}",
                    r.target, r.writers, r.stats.errors
                );
            }
        }
        out
    }
}
