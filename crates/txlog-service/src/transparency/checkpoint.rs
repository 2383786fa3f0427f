//! Signed checkpoints (C2SP tlog-checkpoint in a C2SP signed note): how the log makes one.
//! Reading and verifying one is the verifier crate's (`txlog_verify::checkpoint`).

use signed_note::Note;
use tlog_tiles::Checkpoint;

pub use txlog_verify::checkpoint::{read, verify, CheckpointError, TreeHead};

use super::key::LogKey;
pub use crate::store::StoredCheckpoint;

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
