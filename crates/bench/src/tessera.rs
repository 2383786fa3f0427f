//! Baseline (e): Trillian Tessera v1.0.4 on its POSIX driver, the reference for the log's
//! single-event appends (issue 30). A small Go program (`crates/bench/tessera`, built once
//! with Go, never at run time) serves `POST /add`; this module starts it as a process and
//! posts the same event text the ingest part sends, one entry per call.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use crate::cli::EventIds;
use crate::ingest;
use crate::load::Op;
use crate::processes::{free_port, Process};

/// How to build the harness where [`binary`] looks for it (from the repository's root).
pub const BUILD: &str =
    "cd crates/bench/tessera && go build -o ~/.cache/ordersys/bin/tessera-bench .";

/// When Tessera answers an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acknowledged {
    /// Once the entry is sequenced and integrated: its entry bundle, the tree's tiles and the
    /// tree state written and fsync'd (the future `Add` returns has resolved). What
    /// txlog-service acknowledges: stored, sequenced, in the stored tree.
    Integrated,
    /// Once a published checkpoint covers it as well (Tessera's `PublicationAwaiter`; the
    /// POSIX driver publishes at most every 100 ms).
    Published,
}

impl Acknowledged {
    pub const ALL: [Self; 2] = [Self::Integrated, Self::Published];

    /// The row's target name in the report.
    pub fn target(self) -> &'static str {
        match self {
            Self::Integrated => crate::report::TESSERA_INTEGRATED,
            Self::Published => crate::report::TESSERA_PUBLISHED,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Self::Integrated => "/add/integrated",
            Self::Published => "/add",
        }
    }
}

/// The harness: `TESSERA_BENCH_BIN`, else `~/.cache/ordersys/bin/tessera-bench`; `None` when
/// it is not there.
pub fn binary() -> Option<PathBuf> {
    let path = match std::env::var_os("TESSERA_BENCH_BIN") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/ordersys/bin/tessera-bench"),
    };
    path.is_file().then_some(path)
}

/// The harness as a process, storing its log under the run's work directory.
pub struct Tessera {
    base: String,
    pub process: Process,
}

impl Tessera {
    pub async fn start(program: &Path, dir: &Path) -> anyhow::Result<Self> {
        let listen = format!("127.0.0.1:{}", free_port()?);
        let storage = dir.join("tessera");
        let mut process = Process::spawn(
            "tessera",
            &[],
            program,
            &[
                format!("-listen={listen}"),
                format!("-storage-dir={}", storage.display()),
            ],
            &[],
            dir,
        )?;
        let base = format!("http://{listen}");
        process
            .wait_ready(&format!("{base}/ready"), Duration::from_secs(30))
            .await?;
        Ok(Self { base, process })
    }

    /// Appends one entry per call (the ingest part's event text, 1 165 bytes, with a fresh
    /// id of kind `ids`), answered as `ack` says.
    pub fn op(&self, http: reqwest::Client, ack: Acknowledged, ids: EventIds) -> Op {
        let url = Arc::new(format!("{}{}", self.base, ack.path()));
        let template = Arc::new(ingest::template());
        Arc::new(move |_| {
            let (http, url, template) = (http.clone(), url.clone(), template.clone());
            async move {
                let response = http
                    .post(url.as_str())
                    .body(ingest::fresh_event(&template, ids))
                    .send()
                    .await?;
                ingest::answered_200(response).await
            }
            .boxed()
        })
    }
}
