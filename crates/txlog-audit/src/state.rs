//! The auditor's memory: the last checkpoint it accepted, as the signed note itself.

use std::path::Path;

use txlog_verify::checkpoint::{self, TreeHead};

use super::AuditError;

/// The checkpoint in the state file, if there is one; it must carry the key's signature.
pub fn load(path: &Path, key: &str) -> Result<Option<TreeHead>, AuditError> {
    let note = match std::fs::read(path) {
        Ok(note) => note,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuditError::Usage(format!("{}: {e}", path.display()))),
    };
    checkpoint::verify(&note, key).map(Some).map_err(|e| {
        AuditError::Usage(format!(
            "the state file {} does not hold a checkpoint signed by this key: {e}",
            path.display()
        ))
    })
}

/// Replaces the state file with `note`, atomically.
pub fn save(path: &Path, note: &[u8]) -> Result<(), AuditError> {
    let fail = |e: std::io::Error| AuditError::Usage(format!("{}: {e}", path.display()));
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    std::fs::write(&temporary, note).map_err(fail)?;
    std::fs::rename(&temporary, path).map_err(fail)
}
