//! The task that keeps one witness cosigning: after each checkpoint (and every few seconds,
//! for checkpoints other replicas signed) it sends the newest one, learns the witness's size
//! from its answers, and stores the verified cosignature. It runs beside the signer and never
//! holds it up; a witness that fails is retried with capped exponential backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::client::{self, Answer};
use super::cosignature;
use super::Witness;
use crate::metrics::{WITNESS_COSIGNATURES, WITNESS_LAG};
use crate::store::{Cosignature, Store};
use crate::transparency::{tree, SigningStatus, StoredCheckpoint};

/// How often a healthy witness's task looks for checkpoints it was not told about.
const POLL: Duration = Duration::from_secs(2);
/// The first retry after a failure, doubled per further failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// `add-checkpoint` requests per step: a 409 teaches the witness's size and the request is sent
/// again; more conflicts in a row mean another replica keeps advancing it, so wait.
const EXCHANGES_PER_STEP: usize = 3;
/// The reason `txlog_signing_refused_total` counts a witness's evidence under.
pub const ROLLBACK_REASON: &str = "witness_rollback";

pub struct WitnessTask {
    store: Arc<dyn Store>,
    witness: Witness,
    status: Arc<SigningStatus>,
    signed: watch::Receiver<u64>,
    client: reqwest::Client,
    /// The size the witness last cosigned, as it told us (0 until it does: its first 409
    /// tells).
    known: u64,
    /// The largest checkpoint whose cosignature by this witness we stored.
    cosigned: u64,
    /// The newest checkpoint size seen in the store.
    newest: u64,
    /// Since when the newest checkpoint has waited for this witness.
    behind_since: Option<Instant>,
}

/// How a step ended.
enum Step {
    /// The witness cosigned the newest checkpoint (or there was none to send).
    Done,
    /// The witness holds evidence of a rollback or fork: signing stopped for good.
    Halted,
}

impl WitnessTask {
    pub fn new(
        store: Arc<dyn Store>,
        witness: Witness,
        status: Arc<SigningStatus>,
        signed: watch::Receiver<u64>,
    ) -> WitnessTask {
        crate::metrics::describe_witness(witness.key.name());
        WitnessTask {
            store,
            witness,
            status,
            signed,
            client: client::http_client(),
            known: 0,
            cosigned: 0,
            newest: 0,
            behind_since: None,
        }
    }

    fn name(&self) -> &str {
        self.witness.key.name()
    }

    /// Sends checkpoints until `shutdown` or until signing stops for good.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut failures: u32 = 0;
        let mut first = true;
        loop {
            let wait = if first {
                Duration::ZERO
            } else if failures > 0 {
                backoff(failures)
            } else {
                POLL
            };
            first = false;
            let signed = &mut self.signed;
            // While failing, only the backoff wakes the task: a witness that is down is not
            // asked again on every checkpoint.
            let notified = async {
                if failures > 0 || signed.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = notified => {}
                () = tokio::time::sleep(wait) => {}
            }
            if self.status.halted().is_some() {
                return;
            }
            match self.step().await {
                Ok(Step::Done) => failures = 0,
                Ok(Step::Halted) => return,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(
                        witness = self.name(),
                        error = format!("{e:#}"),
                        retry_in_ms = backoff(failures).as_millis() as u64,
                        "a witness did not cosign the newest checkpoint; retrying"
                    );
                }
            }
            self.observe_lag();
        }
    }

    /// Sends the newest checkpoint unless this witness cosigned it already.
    async fn step(&mut self) -> anyhow::Result<Step> {
        let Some(mut latest) = self.store.latest_checkpoint().await? else {
            return Ok(Step::Done);
        };
        self.note_newest(latest.size);
        if self.cosigned >= latest.size {
            return Ok(Step::Done);
        }
        for _ in 0..EXCHANGES_PER_STEP {
            let proof = if self.known == 0 || self.known == latest.size {
                Vec::new()
            } else {
                let (old, new) = (self.known, latest.size);
                tree::with_stored_hashes(&*self.store, |r| tlog_tiles::prove_tree(new, old, r))
                    .await
                    .with_context(|| format!("no consistency proof from {old} to {new}"))?
            };
            let body = client::body(self.known, &proof, &latest.note);
            let answer = match client::add_checkpoint(&self.client, &self.witness.url, body).await {
                Ok(answer) => answer,
                Err(e) => {
                    self.count("unreachable");
                    return Err(anyhow::Error::new(e).context("the witness is unreachable"));
                }
            };
            match answer {
                Answer::Cosigned(lines) => return self.keep(&latest, &lines).await,
                Answer::Conflict(size) => {
                    self.count("conflict");
                    let newest = self
                        .store
                        .latest_checkpoint()
                        .await?
                        .context("the newest checkpoint is gone")?;
                    if size > newest.size {
                        return Ok(self.halt(
                            format!(
                                "witness {} has cosigned a tree of size {size}, larger than our \
                             newest checkpoint ({}): the store was rolled back",
                                self.name(),
                                newest.size
                            ),
                            size,
                            newest.size,
                        ));
                    }
                    self.known = size;
                    if size > latest.size {
                        // Another replica signed and sent a newer checkpoint meanwhile.
                        latest = newest;
                        self.note_newest(latest.size);
                    }
                }
                Answer::ProofRefused(why) => {
                    self.count("proof_refused");
                    return Ok(self.halt(
                        format!(
                            "witness {} refused our consistency proof from its size {} to {} \
                         ({why}): the store was forked since it cosigned",
                            self.name(),
                            self.known,
                            latest.size
                        ),
                        self.known,
                        latest.size,
                    ));
                }
                Answer::Failed(why) => {
                    self.count("failed");
                    anyhow::bail!("the witness answered {why}");
                }
            }
        }
        anyhow::bail!("the witness's size kept changing ({EXCHANGES_PER_STEP} conflicts)")
    }

    /// Verifies the witness's lines over `checkpoint`'s body with its key and stores the
    /// valid ones.
    async fn keep(&mut self, checkpoint: &StoredCheckpoint, lines: &str) -> anyhow::Result<Step> {
        let body = cosignature::note_body(&checkpoint.note)
            .context("our own checkpoint note has no body")?;
        let mut valid = String::new();
        for line in lines.lines().filter(|l| !l.is_empty()) {
            match self.witness.key.verify_line(body, line) {
                Ok(_) => {
                    valid.push_str(line);
                    valid.push('\n');
                }
                Err(e) => tracing::debug!(witness = self.name(), error = %e, "a line skipped"),
            }
        }
        if valid.is_empty() {
            self.count("invalid");
            anyhow::bail!(
                "the witness answered 200 without a valid cosignature by its key {}",
                self.name()
            );
        }
        self.store
            .add_cosignature(&Cosignature {
                size: checkpoint.size,
                witness: self.name().to_owned(),
                lines: valid,
            })
            .await
            .context("cannot store a cosignature")?;
        self.count("cosigned");
        self.known = checkpoint.size;
        self.cosigned = checkpoint.size;
        tracing::debug!(
            witness = self.name(),
            size = checkpoint.size,
            "checkpoint cosigned"
        );
        Ok(Step::Done)
    }

    fn halt(&self, why: String, witness_size: u64, log_size: u64) -> Step {
        tracing::error!(
            witness = self.name(),
            witness_size,
            log_size,
            "a witness holds evidence of a rollback or fork of this log; signing stops"
        );
        self.status.halt(ROLLBACK_REASON, why);
        Step::Halted
    }

    fn count(&self, outcome: &'static str) {
        metrics::counter!(
            WITNESS_COSIGNATURES,
            "witness" => self.name().to_owned(),
            "outcome" => outcome
        )
        .increment(1);
    }

    fn note_newest(&mut self, size: u64) {
        self.newest = self.newest.max(size);
        if size > self.cosigned {
            self.behind_since.get_or_insert_with(Instant::now);
        }
    }

    fn observe_lag(&mut self) {
        let lag = match self.behind_since {
            Some(since) if self.cosigned < self.newest => since.elapsed().as_secs_f64(),
            _ => {
                self.behind_since = None;
                0.0
            }
        };
        metrics::gauge!(WITNESS_LAG, "witness" => self.name().to_owned()).set(lag);
    }
}

/// The wait before retry number `failures`: 250 ms, doubled each time, at most 30 s.
fn backoff(failures: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(4), Duration::from_secs(2));
        assert_eq!(backoff(9), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
