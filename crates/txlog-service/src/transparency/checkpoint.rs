//! Signed checkpoints (C2SP tlog-checkpoint in a C2SP signed note): how one is made and read.

use signed_note::{Note, StandardVerifier, VerifierList};
use tlog_tiles::{Checkpoint, Hash};

use super::key::LogKey;

/// What a checkpoint says: the log, the tree size and the root hash.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeHead {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// A checkpoint as kept in the store: its size and the whole signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub note: String,
}

/// Signs `<origin>\n<size>\n<base64 root>\n` as a signed note.
pub fn sign(key: &LogKey, head: &TreeHead) -> anyhow::Result<String> {
    let text = Checkpoint::new(&head.origin, head.size, head.root, "")
        .map_err(|_| anyhow::anyhow!("the log origin {:?} cannot start a checkpoint", head.origin))?
        .to_bytes();
    let mut note = Note::new(&text, &[]).map_err(|e| anyhow::anyhow!("checkpoint note: {e}"))?;
    note.add_sigs(&[key.signer()])
        .map_err(|e| anyhow::anyhow!("signing the checkpoint: {e}"))?;
    Ok(String::from_utf8(note.to_bytes())?)
}

/// The tree head a note states, without checking any signature (the log reading its own
/// stored checkpoints; auditors use [`verify`]).
pub fn read(note: &str) -> anyhow::Result<TreeHead> {
    let note = Note::from_bytes(note.as_bytes())
        .map_err(|e| anyhow::anyhow!("malformed checkpoint note: {e}"))?;
    head_of(note.text())
}

/// Why a checkpoint was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    #[error("signature: the checkpoint is not validly signed by {key}: {reason}")]
    Signature { key: String, reason: String },
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
    head_of(parsed.text()).map_err(|e| CheckpointError::Malformed(e.to_string()))
}

fn head_of(text: &[u8]) -> anyhow::Result<TreeHead> {
    let checkpoint = Checkpoint::from_bytes(text)
        .map_err(|_| anyhow::anyhow!("not a checkpoint (origin, size, root hash)"))?;
    Ok(TreeHead {
        origin: checkpoint.origin().to_owned(),
        size: checkpoint.size(),
        root: *checkpoint.hash(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_verifies_with_its_key_only() {
        let (private, verifier) = LogKey::generate("log").unwrap();
        let key = LogKey::parse(&private).unwrap();
        let head = TreeHead {
            origin: "ordersys/txlog".into(),
            size: 7,
            root: tlog_tiles::record_hash(b"x"),
        };
        let note = sign(&key, &head).unwrap();
        assert!(note.starts_with("ordersys/txlog\n7\n"));
        assert!(note.contains("\n\n\u{2014} log "));
        assert_eq!(verify(note.as_bytes(), &verifier).unwrap(), head);
        assert_eq!(read(&note).unwrap(), head);
        let (_, other) = LogKey::generate("log").unwrap();
        assert!(matches!(
            verify(note.as_bytes(), &other),
            Err(CheckpointError::Signature { .. })
        ));
        let edited = note.replacen("\n7\n", "\n8\n", 1);
        assert!(matches!(
            verify(edited.as_bytes(), &verifier),
            Err(CheckpointError::Signature { .. })
        ));
    }
}
