//! `ordersys audit` / `txlog-audit` (SPEC sections 10 and 12): the auditor's own check of a
//! running transaction log. It trusts the verifier key, the witnesses' keys and its state file,
//! never the server's word: the checkpoint's signature, a quorum of witness cosignatures, the
//! consistency proof from the last checkpoint it accepted, and with `--full` every record.

mod client;
mod progress;
mod records;
mod state;
mod witnesses;

use std::path::PathBuf;

use txlog_verify::checkpoint::{self, CheckpointError, TreeHead};
use txlog_verify::cosignature::WitnessKey;

use client::LogClient;

/// What to audit, and how.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// The transaction log's base URL, e.g. http://127.0.0.1:8081.
    #[arg(long)]
    pub log: String,
    /// The log's verifier key (`<name>+<key id>+<base64 key>`).
    #[arg(long)]
    pub key: String,
    /// A bearer token with txlog:read.
    #[arg(long, env = "AUDIT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The last checkpoint this auditor accepted; read, checked against, then replaced.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Download every record: check the chain, each record's fields, the filter fields the log
    /// keeps beside it, and the signed root.
    #[arg(long)]
    pub full: bool,
    /// A witness's cosignature verifier key (`<name>+<8 hex>+<base64(0x04 || key)>`); repeat for
    /// each witness. The checkpoint is accepted only with cosignatures from `--quorum` of them.
    #[arg(long = "witness", value_name = "VKEY")]
    pub witnesses: Vec<String>,
    /// How many of the `--witness` keys must have cosigned (default: all of them).
    #[arg(long)]
    pub quorum: Option<usize>,
}

/// Why an audit did not pass.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log is inconsistent with the keys, the state file or itself (exit 1).
    #[error("FAILED: {0}")]
    Failed(String),
    /// A bad argument, state file or connection (exit 2).
    #[error("error: {0}")]
    Usage(String),
}

impl AuditError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AuditError::Failed(_) => 1,
            AuditError::Usage(_) => 2,
        }
    }
}

fn failed(what: impl Into<String>) -> AuditError {
    AuditError::Failed(what.into())
}

/// Runs the audit; `say` receives one line per check that held.
pub async fn run(args: &AuditArgs, mut say: impl FnMut(String)) -> Result<(), AuditError> {
    signed_note_key(&args.key)?;
    let witnesses = witnesses::Quorum::parse(&args.witnesses, args.quorum)?;
    let client = LogClient::new(&args.log, args.token.clone())?;
    let note = client.checkpoint().await?;
    let head = checkpoint::verify(&note, &args.key).map_err(|e| match e {
        CheckpointError::Malformed(m) => failed(format!("checkpoint: {m}")),
        signature @ CheckpointError::Signature { .. } => failed(signature.to_string()),
    })?;
    say(format!(
        "checkpoint: {} size {} root {}: signature verified",
        head.origin,
        head.size,
        hex::encode(head.root.0)
    ));
    if let Some(witnesses) = &witnesses {
        say(witnesses.check(&note, &head)?);
    }
    let previous = match &args.state {
        Some(path) => state::load(path, &args.key)?,
        None => None,
    };
    if let Some(previous) = &previous {
        consistent(&client, previous, &head).await?;
        say(format!(
            "consistency from size {} to {}: verified",
            previous.size, head.size
        ));
    }
    if args.full {
        say(records::check_all(&client, &head).await?);
    }
    if let Some(path) = &args.state {
        state::save(path, &note)?;
    }
    Ok(())
}

/// `--key` must be a signed-note verifier key before anything is fetched.
fn signed_note_key(key: &str) -> Result<(), AuditError> {
    checkpoint::verify(b"", key)
        .map(|_| ())
        .or_else(|e| match e {
            CheckpointError::Malformed(m) if m.starts_with("verifier key") => Err(
                AuditError::Usage(format!("--key is not a verifier key: {m}")),
            ),
            _ => Ok(()),
        })
}

/// The new checkpoint extends the one accepted before.
async fn consistent(client: &LogClient, old: &TreeHead, new: &TreeHead) -> Result<(), AuditError> {
    let what = format!("consistency from size {} to {}", old.size, new.size);
    if old.origin != new.origin {
        return Err(failed(format!(
            "{what}: the origin changed from {:?} to {:?}",
            old.origin, new.origin
        )));
    }
    if new.size < old.size {
        return Err(failed(format!(
            "{what}: the log shrank (the state file holds a checkpoint of size {})",
            old.size
        )));
    }
    if new.size == old.size || old.size == 0 {
        return match new.size != old.size || new.root == old.root {
            true => Ok(()),
            false => Err(failed(format!(
                "root mismatch at size {}: {} now, {} before",
                new.size,
                hex::encode(new.root.0),
                hex::encode(old.root.0)
            ))),
        };
    }
    let proof = client.consistency(old.size, new.size).await?;
    txlog_verify::tree::check_tree(&proof, new.size, new.root, old.size, old.root)
        .map_err(|e| failed(format!("{what}: the proof does not verify ({e})")))
}

/// The witness keys, parsed before anything is fetched.
fn parse_witness(text: &str) -> Result<WitnessKey, AuditError> {
    text.parse()
        .map_err(|e| AuditError::Usage(format!("--witness {text:?}: {e}")))
}

/// The command: prints each check that held and `audit passed`, or the failure on stderr;
/// returns the exit code (0 passed, 1 failed, 2 usage or connection error).
pub async fn main(args: &AuditArgs) -> i32 {
    match run(args, |line| println!("{line}")).await {
        Ok(()) => {
            println!("audit passed");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}
