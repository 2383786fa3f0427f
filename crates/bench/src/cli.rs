//! Command-line options.

use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::profiles::Profile;

/// Throughput, latency and memory of the ordersys services, against baselines measured in the
/// same run: (a) raw PostgreSQL doing the service's statements, (b) an axum handler doing no
/// work, (c) raw inserts into the transaction log's store, (d) the order service with call
/// recording switched off, (e) Trillian Tessera appending one entry per request (its Go harness
/// built once: `cd crates/bench/tessera && go build -o ~/.cache/ordersys/bin/tessera-bench .`).
///
/// Needs the release binaries next to this one (`cargo build --release --bin order-service
/// --bin txlog-service`), PostgreSQL, and for `--txlog-store mongo` FerretDB (`ferretdb`).
#[derive(Parser, Debug, Clone)]
#[command(version)]
pub struct Args {
    /// A few seconds in all, for CI: short windows, concurrency 1 and 4, tiny batches. Exits
    /// non-zero only when the benchmark itself breaks, never because of speed.
    #[arg(long)]
    pub smoke: bool,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Warm-up seconds per run, not measured.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Concurrent keep-alive connections, one run each (also the writers of the single-event
    /// appends in the ingest part).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 64])]
    pub concurrency: Vec<usize>,
    /// Request profiles to run.
    #[arg(long, value_delimiter = ',', value_enum, default_values_t = [Profile::Create, Profile::Get, Profile::List, Profile::Patch, Profile::Mix])]
    pub profiles: Vec<Profile>,
    /// Parts of the benchmark to run.
    #[arg(long, value_delimiter = ',', value_enum, default_values_t = [Part::Services, Part::RawPostgres, Part::Noop, Part::InProcess, Part::Ingest, Part::Ceiling])]
    pub parts: Vec<Part>,
    /// Events per `POST /v1/transactions` in the ingest comparison.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 100, 1000])]
    pub batches: Vec<usize>,
    /// Order-service replicas on one database, one run each, in the `ceiling` part.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 4])]
    pub replicas: Vec<usize>,
    /// Kinds of `event_id` the ingest part sends, one run of its batched rows each (v7: what
    /// the order service sends; v4: random, as other writers may send).
    #[arg(long, value_delimiter = ',', value_enum, default_values_t = [EventIds::V7])]
    pub event_ids: Vec<EventIds>,
    /// The transaction log's store.
    #[arg(long, value_enum, default_value_t = TxlogStore::Mongo)]
    pub txlog_store: TxlogStore,
    /// A PostgreSQL database to connect to for creating one fresh database per target.
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres_url: String,
    /// Orders created before the runs (each worker patches its own share of them).
    #[arg(long, default_value_t = 256)]
    pub seed: usize,
    /// Words to start the order-service binary with, e.g. "valgrind --tool=callgrind".
    #[arg(long, value_delimiter = ' ', num_args = 1)]
    pub orders_wrapper: Vec<String>,
    /// Words to start the txlog-service binary with, e.g. "env MALLOC_ARENA_MAX=2".
    #[arg(long, value_delimiter = ' ', num_args = 1)]
    pub txlog_wrapper: Vec<String>,
    /// Keep the created PostgreSQL databases and the work directory (logs, FerretDB data).
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// The real order-service and txlog-service processes.
    Services,
    /// Baseline (a): the service's statements through sqlx.
    RawPostgres,
    /// Baseline (b): an axum handler doing nothing.
    Noop,
    /// Baseline (d): the order service in-process, recording on and off.
    InProcess,
    /// Baseline (c): transaction log ingest against raw store inserts; then single-event
    /// appends from `--concurrency` writers against Tessera (e).
    Ingest,
    /// The log's ceiling: several order-service replicas delivering to one log at once.
    Ceiling,
}

/// How the ingest part makes `event_id`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventIds {
    /// UUIDv7: time-ordered, so each new id sorts after the last (the order service's).
    V7,
    /// UUIDv4: random, so each new id lands anywhere in the `event_id` index.
    V4,
}

impl EventIds {
    pub fn name(self) -> &'static str {
        match self {
            Self::V7 => "v7",
            Self::V4 => "v4",
        }
    }

    /// A fresh id of this kind.
    pub fn fresh(self) -> uuid::Uuid {
        match self {
            Self::V7 => uuid::Uuid::now_v7(),
            Self::V4 => uuid::Builder::from_random_bytes(rand::random()).into_uuid(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TxlogStore {
    /// MongoDB wire protocol, served by FerretDB.
    Mongo,
    Sqlite,
}

impl Args {
    /// Applies `--smoke`: short windows, low concurrency, tiny batches, few seeded orders.
    pub fn effective(mut self) -> Self {
        if self.smoke {
            self.duration = 0.3;
            self.warmup = 0.1;
            self.concurrency = vec![1, 4];
            self.batches = vec![1, 10];
            self.seed = 16;
            self.replicas = vec![1, 2];
        }
        self
    }

    pub fn window(&self, concurrency: usize) -> crate::load::Window {
        crate::load::Window {
            concurrency,
            warmup: Duration::from_secs_f64(self.warmup),
            duration: Duration::from_secs_f64(self.duration),
        }
    }

    pub fn runs(&self, part: Part) -> bool {
        self.parts.contains(&part)
    }
}
