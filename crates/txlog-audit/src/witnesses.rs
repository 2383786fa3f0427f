//! `--witness` and `--quorum`: a checkpoint is accepted only with valid cosignatures from
//! enough of the witnesses the auditor trusts (SPEC section 12).

use txlog_verify::checkpoint::TreeHead;
use txlog_verify::cosignature::{self, WitnessKey};

use super::{failed, parse_witness, AuditError};

pub struct Quorum {
    witnesses: Vec<WitnessKey>,
    needed: usize,
}

impl Quorum {
    /// `None` when no witness is listed (and then `--quorum` must not be given either).
    pub fn parse(keys: &[String], quorum: Option<usize>) -> Result<Option<Quorum>, AuditError> {
        let witnesses = keys
            .iter()
            .map(|k| parse_witness(k))
            .collect::<Result<Vec<_>, _>>()?;
        match (witnesses.len(), quorum) {
            (0, None) => Ok(None),
            (0, Some(_)) => Err(AuditError::Usage(
                "--quorum needs at least one --witness".into(),
            )),
            (n, Some(k)) if k == 0 || k > n => Err(AuditError::Usage(format!(
                "--quorum {k}: between 1 and the {n} witnesses listed"
            ))),
            (n, quorum) => Ok(Some(Quorum {
                needed: quorum.unwrap_or(n),
                witnesses,
            })),
        }
    }

    /// A line saying which witnesses cosigned, or why the checkpoint is not accepted.
    pub fn check(&self, note: &[u8], head: &TreeHead) -> Result<String, AuditError> {
        let what = format!("checkpoint size {}", head.size);
        let note = std::str::from_utf8(note)
            .map_err(|_| failed(format!("{what}: the note is not UTF-8")))?;
        let found = cosignature::cosigners(note, &self.witnesses)
            .map_err(|e| failed(format!("{what}: {e}")))?;
        let names = |keys: Vec<&WitnessKey>| {
            keys.iter()
                .map(|k| k.name().to_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if found.len() < self.needed {
            let missing = self
                .witnesses
                .iter()
                .filter(|w| !found.contains(w))
                .collect();
            return Err(failed(format!(
                "{what}: cosigned by {} of the {} listed witnesses, {} needed; missing: {}",
                found.len(),
                self.witnesses.len(),
                self.needed,
                names(missing)
            )));
        }
        Ok(format!(
            "witnesses: {} of {} cosigned ({}), quorum {}",
            found.len(),
            self.witnesses.len(),
            names(found),
            self.needed
        ))
    }
}
