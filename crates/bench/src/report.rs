//! The results and how they are printed: Markdown tables, so that they paste into
//! docs/BENCHMARKS.md as they are.

use std::fmt::Write as _;

use crate::load::Stats;

pub const SERVICE: &str = "service";
pub const RAW_PG: &str = "(a) raw-pg";
pub const NOOP: &str = "(b) noop";
pub const RECORDING_ON: &str = "(d) in-proc rec on";
pub const RECORDING_OFF: &str = "(d) in-proc rec off";

/// How the outbox kept up during a run of the service.
#[derive(Debug, Clone, Copy)]
pub struct OutboxFlow {
    /// Events that left the outbox per second while the load ran.
    pub delivered_per_s: f64,
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
}

pub struct IngestRow {
    pub batch: usize,
    pub raw: Stats,
    pub service: Stats,
    /// In-process appends into a store of the service's kind, without the tree.
    pub append: Stats,
    /// The same, extending the Merkle tree and signing a checkpoint after every batch.
    pub with_tree: Stats,
}

#[derive(Default)]
pub struct Results {
    pub rows: Vec<Row>,
    pub ingest: Vec<IngestRow>,
    pub store: String,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
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
        let _ = writeln!(out, "| target | profile | conc | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | orders peak RSS MiB | txlog peak RSS MiB | outbox delivered/s | backlog at end | drain/s |");
        let _ = writeln!(
            out,
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in &self.rows {
            let s = &r.stats;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {} | {} | {} | {} |",
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
                r.outbox.map_or("-".into(), |o| o.backlog.to_string()),
                opt(r.outbox.and_then(|o| o.drain_per_s), 0),
            );
        }
        out
    }

    pub fn tree_cost_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| batch | store append events/s | append + tree extended and signed each second events/s | cost |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|");
        for r in &self.ingest {
            let (plain, tree) = (
                r.append.rate() * r.batch as f64,
                r.with_tree.rate() * r.batch as f64,
            );
            let _ = writeln!(
                out,
                "| {} | {plain:.0} | {tree:.0} | {} |",
                r.batch,
                ratio(Some(tree), Some(plain))
                    .map_or("-".into(), |x| format!("{:.0}%", (1.0 - x) * 100.0)),
            );
        }
        out
    }

    pub fn ratios(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| profile | conc | service req/s | (a) raw-pg req/s | service/(a) | service/(b) noop | (d) rec on | (d) rec off | recording cost |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (profile, c) in self.runs() {
            let service = self.rate(SERVICE, profile, c);
            let on = self.rate(RECORDING_ON, profile, c);
            let off = self.rate(RECORDING_OFF, profile, c);
            let _ = writeln!(
                out,
                "| {profile} | {c} | {} | {} | {} | {} | {} | {} | {} |",
                opt(service, 0),
                opt(self.rate(RAW_PG, profile, c), 0),
                opt(ratio(service, self.rate(RAW_PG, profile, c)), 2),
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
        let _ = writeln!(out, "| batch | (c) raw {} events/s | service events/s | service/(c) | service p50 ms per batch | service p99 ms | errors |", self.store);
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|");
        for r in &self.ingest {
            let raw = r.raw.rate() * r.batch as f64;
            let service = r.service.rate() * r.batch as f64;
            let _ = writeln!(
                out,
                "| {} | {raw:.0} | {service:.0} | {} | {:.2} | {:.2} | {} |",
                r.batch,
                opt(ratio(Some(service), Some(raw)), 2),
                r.service.ms(0.5),
                r.service.ms(0.99),
                r.raw.errors + r.service.errors,
            );
        }
        out
    }

    /// The targets of issue 6, met or missed, where this run measured what they need.
    pub fn targets(&self) -> String {
        let mut out = String::from("| target | measured | verdict |\n|---|---|---|\n");
        let mut line = |name: &str, measured: String, met: bool| {
            let verdict = if met { "met" } else { "MISSED" };
            let _ = writeln!(out, "| {name} | {measured} | {verdict} |");
        };
        for (profile, goal) in [("create", 0.6), ("get", 0.5)] {
            for (p, c) in self.runs().into_iter().filter(|(p, _)| *p == profile) {
                if let Some(r) = ratio(self.rate(SERVICE, p, c), self.rate(RAW_PG, p, c)) {
                    line(
                        &format!("{p} ≥ {goal} of (a), conc {c}"),
                        format!("{r:.2}"),
                        r >= goal,
                    );
                }
            }
        }
        for profile in ["get", "list"] {
            for (p, c) in self.runs().into_iter().filter(|(p, _)| *p == profile) {
                if let Some(r) = ratio(
                    self.rate(RECORDING_ON, p, c),
                    self.rate(RECORDING_OFF, p, c),
                ) {
                    let cost = 1.0 - r;
                    line(
                        &format!("recording costs {p} ≤ 25% vs (d), conc {c}"),
                        format!("{:.0}%", cost * 100.0),
                        cost <= 0.25,
                    );
                }
            }
        }
        for r in self.ingest.iter().filter(|r| r.batch == 100) {
            if let Some(x) = ratio(Some(r.with_tree.rate()), Some(r.append.rate())) {
                line(
                    "verifiable log costs ingest < 10%, batch 100",
                    format!("{:.0}%", (1.0 - x) * 100.0),
                    x > 0.9,
                );
            }
            if let Some(x) = ratio(Some(r.service.rate()), Some(r.raw.rate())) {
                line(
                    "txlog ingest ≥ 0.5 of (c), batch 100",
                    format!("{x:.2}"),
                    x >= 0.5,
                );
            }
        }
        let top = self
            .rows
            .iter()
            .filter(|r| r.target == SERVICE)
            .map(|r| r.concurrency)
            .max();
        // Issue 15: both services, every profile at the highest concurrency.
        type Rss = fn(&Row) -> Option<f64>;
        let peaks: [(&str, f64, Rss); 2] = [
            ("order service", 64.0, |r| r.orders_rss_mib),
            ("transaction log", 96.0, |r| r.txlog_rss_mib),
        ];
        for (service, limit, rss) in peaks {
            let peak = self
                .rows
                .iter()
                .filter(|r| r.target == SERVICE && Some(r.concurrency) == top)
                .filter_map(rss)
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
            if let (Some(peak), Some(top)) = (peak, top) {
                line(
                    &format!("{service} peak RSS ≤ {limit:.0} MiB at conc {top}"),
                    format!("{peak:.1} MiB"),
                    peak <= limit,
                );
            }
        }
        let errors: u64 = self.rows.iter().map(|r| r.stats.errors).sum::<u64>()
            + self
                .ingest
                .iter()
                .map(|r| r.raw.errors + r.service.errors)
                .sum::<u64>();
        line(
            "zero errors in every profile",
            errors.to_string(),
            errors == 0,
        );
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
                        "- ingest {what} batch {}: {} errors, first: {e}",
                        r.batch, s.errors
                    );
                }
            }
        }
        out
    }
}
