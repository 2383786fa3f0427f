//! Signed checkpoints (C2SP tlog-checkpoint in a C2SP signed note), as a reader checks them.

use signed_note::{Note, StandardVerifier, VerifierList};
use tlog_tiles::{Checkpoint, Hash};

/// What a checkpoint says: the log, the tree size and the root hash.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeHead {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// Why a checkpoint was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    #[error("signature: the checkpoint is not validly signed by {key}: {reason}")]
    Signature { key: String, reason: String },
}

/// The tree head a note states, without checking any signature (the log reading its own
/// stored checkpoints; auditors use [`verify`]).
pub fn read(note: &str) -> Result<TreeHead, CheckpointError> {
    let note = Note::from_bytes(note.as_bytes())
        .map_err(|e| CheckpointError::Malformed(format!("note: {e}")))?;
    head_of(note.text())
}

/// The tree head of `note` when it carries a valid signature by `verifier_key`.
pub fn verify(note: &[u8], verifier_key: &str) -> Result<TreeHead, CheckpointError> {
    let verifier = StandardVerifier::new(verifier_key)
        .map_err(|e| CheckpointError::Malformed(format!("verifier key: {e}")))?;
    let parsed = Note::from_bytes(note).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
    parsed
        .verify(&VerifierList::new(vec![Box::new(verifier)]))
        .map_err(|e| CheckpointError::Signature {
            key: verifier_key
                .split('+')
                .take(2)
                .collect::<Vec<_>>()
                .join("+"),
            reason: e.to_string(),
        })?;
    head_of(parsed.text())
}

fn head_of(text: &[u8]) -> Result<TreeHead, CheckpointError> {
    let checkpoint = Checkpoint::from_bytes(text).map_err(|_| {
        CheckpointError::Malformed("not a checkpoint (origin, size, root hash)".into())
    })?;
    Ok(TreeHead {
        origin: checkpoint.origin().to_owned(),
        size: checkpoint.size(),
        root: *checkpoint.hash(),
    })
}
