//! The load generator: `concurrency` workers, each with its own keep-alive connection (they
//! share one client pool), calling an operation back to back for a warm-up and then a fixed
//! measured window. Latencies go into an HDR histogram in microseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use hdrhistogram::Histogram;

/// Where a worker is: its index among the workers and how many calls it made before this one.
#[derive(Debug, Clone, Copy)]
pub struct Turn {
    pub worker: usize,
    pub call: u64,
}

/// One request of a profile; `Err` counts as an error (any unexpected status included).
pub type Op = Arc<dyn Fn(Turn) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Calls started inside the measured window.
    pub measured: u64,
    /// Calls made in all, warm-up included (each one is one recorded business transaction).
    pub issued: u64,
    /// Failed calls, warm-up included.
    pub errors: u64,
    pub first_error: Option<String>,
    /// From the start of the window to the last measured completion.
    pub elapsed: Duration,
    pub latency_us: Histogram<u64>,
}

impl Stats {
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.measured as f64 / secs
        } else {
            0.0
        }
    }

    /// A latency quantile in milliseconds.
    pub fn ms(&self, quantile: f64) -> f64 {
        self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.latency_us.max() as f64 / 1000.0
    }

    /// Adds another run of the same target: its calls, its time and its latencies.
    pub fn absorb(&mut self, other: Stats) {
        self.measured += other.measured;
        self.issued += other.issued;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.elapsed += other.elapsed;
        let _ = self.latency_us.add(&other.latency_us);
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("static histogram bounds are valid")
}

struct WorkerResult {
    measured: u64,
    issued: u64,
    errors: u64,
    first_error: Option<String>,
    last_done: Option<Instant>,
    latency_us: Histogram<u64>,
}

/// Runs `op` from `window.concurrency` workers until the window closes.
pub async fn run(window: Window, op: Op) -> Stats {
    let start = Instant::now();
    let measure_from = start + window.warmup;
    let end = measure_from + window.duration;
    let workers: Vec<_> = (0..window.concurrency)
        .map(|worker| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut result = WorkerResult {
                    measured: 0,
                    issued: 0,
                    errors: 0,
                    first_error: None,
                    last_done: None,
                    latency_us: histogram(),
                };
                let mut call = 0;
                loop {
                    let began = Instant::now();
                    if began >= end {
                        break;
                    }
                    let outcome = op(Turn { worker, call }).await;
                    let done = Instant::now();
                    call += 1;
                    result.issued += 1;
                    if let Err(e) = outcome {
                        result.errors += 1;
                        result.first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                    if began >= measure_from {
                        result.measured += 1;
                        let us = u64::try_from((done - began).as_micros()).unwrap_or(u64::MAX);
                        result.latency_us.saturating_record(us.max(1));
                        result.last_done = Some(done);
                    }
                }
                result
            })
        })
        .collect();
    let mut stats = Stats {
        measured: 0,
        issued: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latency_us: histogram(),
    };
    let mut last_done = measure_from;
    for worker in workers {
        let Ok(result) = worker.await else {
            stats.errors += 1;
            stats
                .first_error
                .get_or_insert_with(|| "a load worker panicked".into());
            continue;
        };
        stats.measured += result.measured;
        stats.issued += result.issued;
        stats.errors += result.errors;
        if stats.first_error.is_none() {
            stats.first_error = result.first_error;
        }
        if let Some(done) = result.last_done {
            last_done = last_done.max(done);
        }
        let _ = stats.latency_us.add(&result.latency_us);
    }
    stats.elapsed = last_done - measure_from;
    stats
}
