//! TEMPORARY stand-in for `txlog_verify::cosignature` (the lead's module, same API): C2SP
//! tlog-cosignature (cosignature/v1) keys and signature lines. Deleted once that lands.

use base64::prelude::*;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// The signature algorithm byte of a cosignature/v1 key.
const ALG_COSIGNATURE_V1: u8 = 4;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct CosignatureError(String);

/// A witness's cosignature verifier key: its name, key id and Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessKey {
    name: String,
    key_id: [u8; 4],
    key: VerifyingKey,
}

impl std::str::FromStr for WitnessKey {
    type Err = CosignatureError;

    fn from_str(text: &str) -> Result<WitnessKey, CosignatureError> {
        let bad = |why: &str| CosignatureError(format!("not a witness key: {why}"));
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected <name>+<key id>+<base64 key>"));
        };
        if name.is_empty() || name.chars().any(|c| c.is_whitespace()) {
            return Err(bad("the name is empty or holds a space"));
        }
        let id: [u8; 4] = hex::decode(id)
            .ok()
            .and_then(|id| id.try_into().ok())
            .filter(|_| id.len() == 8)
            .ok_or_else(|| bad("the key id is not 8 hex digits"))?;
        let key = BASE64_STANDARD
            .decode(key)
            .map_err(|_| bad("the key is not base64"))?;
        if key.len() != 33 || key[0] != ALG_COSIGNATURE_V1 {
            return Err(bad("not a cosignature/v1 Ed25519 key (0x04 and 32 bytes)"));
        }
        let public: [u8; 32] = key[1..].try_into().map_err(|_| bad("key length"))?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad("not an Ed25519 point"))?;
        let parsed = WitnessKey {
            name: name.to_owned(),
            key_id: id,
            key,
        };
        if parsed.computed_id() != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(parsed)
    }
}

impl WitnessKey {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    fn computed_id(&self) -> [u8; 4] {
        let mut h = Sha256::new();
        h.update(self.name.as_bytes());
        h.update([b'\n', ALG_COSIGNATURE_V1]);
        h.update(self.key.as_bytes());
        let d = h.finalize();
        [d[0], d[1], d[2], d[3]]
    }

    /// Checks one note signature line `— <name> <base64>` as a cosignature/v1 over `body`;
    /// returns the cosignature's timestamp.
    pub fn verify_line(&self, body: &str, line: &str) -> Result<u64, CosignatureError> {
        let bad = |why: &str| CosignatureError(format!("cosignature by {}: {why}", self.name));
        let rest = line
            .trim_end_matches('\n')
            .strip_prefix("\u{2014} ")
            .ok_or_else(|| bad("not a signature line"))?;
        let (name, sig) = rest.split_once(' ').ok_or_else(|| bad("no signature"))?;
        if name != self.name {
            return Err(bad("another key's name"));
        }
        let sig = BASE64_STANDARD.decode(sig).map_err(|_| bad("not base64"))?;
        if sig.len() != 4 + 8 + 64 || sig[..4] != self.key_id {
            return Err(bad("another key id or a wrong length"));
        }
        let time = u64::from_be_bytes(sig[4..12].try_into().map_err(|_| bad("time"))?);
        let signature = Signature::from_slice(&sig[12..]).map_err(|_| bad("signature"))?;
        let message = format!("cosignature/v1\ntime {time}\n{body}");
        self.key
            .verify(message.as_bytes(), &signature)
            .map_err(|_| bad("invalid signature"))?;
        Ok(time)
    }
}

/// The text before the blank line, with its final '\n'.
pub fn note_body(note: &str) -> Option<&str> {
    note.find("\n\n").map(|at| &note[..=at])
}

/// The "— ..." lines after the blank line.
pub fn signature_lines(note: &str) -> Vec<&str> {
    match note.find("\n\n") {
        Some(at) => note[at + 2..]
            .lines()
            .filter(|l| l.starts_with('\u{2014}'))
            .collect(),
        None => Vec::new(),
    }
}
