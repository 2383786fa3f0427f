//! Witness cosignatures (C2SP tlog-cosignature, `cosignature/v1`): a witness's Ed25519
//! signature over `cosignature/v1\ntime <T>\n` followed by the checkpoint body, carried as one
//! more signed-note line `— <witness name> base64(key id ‖ T as 8 bytes big-endian ‖ signature)`.
//!
//! The witness's verifier key is `<name>+<8 hex key id>+<base64(0x04 ‖ public key)>`, where the
//! key id is the first 4 bytes of SHA-256(`<name>\n` ‖ 0x04 ‖ public key).

use std::fmt;
use std::str::FromStr;

use base64::prelude::*;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use signed_note::{Note, Verifier, VerifierList};

/// The signature algorithm byte of a `cosignature/v1` key.
const ALG_COSIGNATURE_V1: u8 = 0x04;
/// Timestamp (8 bytes) and Ed25519 signature (64 bytes): a cosignature after its key id.
const SIGNATURE_LEN: usize = 8 + 64;
/// Where a note's signature lines start.
const SIGNATURE_LINE_PREFIX: &str = "\u{2014} ";

/// Why a witness key or a cosignature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    #[error("not a cosignature/v1 verifier key (<name>+<8 hex>+<base64(0x04 || key)>): {0}")]
    Key(String),
    #[error("not a note signature line (\u{2014} <name> <base64>)")]
    Line,
    #[error("the line is signed by {found}, not by the witness {expected}")]
    OtherKey { expected: String, found: String },
    #[error("the cosignature by {0} does not verify over this checkpoint")]
    Invalid(String),
}

/// A witness's cosignature verifier key.
#[derive(Clone, PartialEq, Eq)]
pub struct WitnessKey {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl fmt::Debug for WitnessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WitnessKey({self})")
    }
}

impl fmt::Display for WitnessKey {
    /// The key in its verifier-key form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut encoded = vec![ALG_COSIGNATURE_V1];
        encoded.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.id,
            BASE64_STANDARD.encode(encoded)
        )
    }
}

impl FromStr for WitnessKey {
    type Err = CosignatureError;

    fn from_str(text: &str) -> Result<WitnessKey, CosignatureError> {
        let bad = |why: &str| CosignatureError::Key(why.to_owned());
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("three parts joined by '+' expected"));
        };
        if !signed_note::is_key_name_valid(name) {
            return Err(bad("the name is empty or holds a space or '+'"));
        }
        let id = (id.len() == 8)
            .then(|| u32::from_str_radix(id, 16).ok())
            .flatten()
            .ok_or_else(|| bad("the key id is not 8 hex digits"))?;
        let encoded = BASE64_STANDARD
            .decode(key)
            .map_err(|_| bad("the key is not base64"))?;
        let public = match encoded.split_first() {
            Some((&ALG_COSIGNATURE_V1, public)) => {
                <[u8; 32]>::try_from(public).map_err(|_| bad("the public key is not 32 bytes"))?
            }
            _ => return Err(bad("the key is not a cosignature/v1 (0x04) key")),
        };
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| bad("the public key is not an Ed25519 point"))?;
        if signed_note::key_id(name, &encoded) != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(WitnessKey {
            name: name.to_owned(),
            id,
            key,
        })
    }
}

impl WitnessKey {
    /// The key a witness with this Ed25519 public key and `name` publishes.
    pub fn new(name: &str, key: VerifyingKey) -> Result<WitnessKey, CosignatureError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(CosignatureError::Key(
                "the name is empty or holds a space or '+'".to_owned(),
            ));
        }
        let mut encoded = vec![ALG_COSIGNATURE_V1];
        encoded.extend_from_slice(key.as_bytes());
        Ok(WitnessKey {
            name: name.to_owned(),
            id: signed_note::key_id(name, &encoded),
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        self.id.to_be_bytes()
    }

    /// Checks one note signature line as this witness's cosignature over `body` (the checkpoint
    /// text up to and including its last newline); returns the time it states.
    pub fn verify_line(&self, body: &str, line: &str) -> Result<u64, CosignatureError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let (name, signature) = line
            .strip_prefix(SIGNATURE_LINE_PREFIX)
            .and_then(|rest| rest.split_once(' '))
            .ok_or(CosignatureError::Line)?;
        let bytes = BASE64_STANDARD
            .decode(signature)
            .map_err(|_| CosignatureError::Line)?;
        let (id, signature) = bytes
            .split_first_chunk::<4>()
            .ok_or(CosignatureError::Line)?;
        if name != self.name || u32::from_be_bytes(*id) != self.id {
            return Err(CosignatureError::OtherKey {
                expected: self.to_string(),
                found: format!("{name}+{}", hex_id(id)),
            });
        }
        CosignatureV1(self)
            .check(body.as_bytes(), signature)
            .ok_or_else(|| CosignatureError::Invalid(self.name.clone()))
    }

    /// The `signed_note` verifier of this key, to check a whole note with other keys.
    pub fn verifier(&self) -> Box<dyn Verifier> {
        Box::new(Owned(self.clone()))
    }
}

fn hex_id(id: &[u8; 4]) -> String {
    format!("{:08x}", u32::from_be_bytes(*id))
}

/// The witnesses among `witnesses` whose valid cosignatures `note` carries (each once, in the
/// order given). Lines by keys not listed are ignored; a line by a listed key that does not
/// verify is an error.
pub fn cosigners<'a>(
    note: &str,
    witnesses: &'a [WitnessKey],
) -> Result<Vec<&'a WitnessKey>, CosignatureError> {
    let Some(body) = note_body(note) else {
        return Err(CosignatureError::Line);
    };
    let mut found = Vec::new();
    for line in signature_lines(note) {
        for witness in witnesses {
            match witness.verify_line(body, line) {
                Ok(_) if !found.contains(&witness) => found.push(witness),
                Ok(_) | Err(CosignatureError::OtherKey { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(witnesses.iter().filter(|w| found.contains(w)).collect())
}

/// The text of a note before its blank line, with its final newline.
pub fn note_body(note: &str) -> Option<&str> {
    note.find("\n\n").map(|at| &note[..=at])
}

/// The signature lines after a note's blank line (without their newlines).
pub fn signature_lines(note: &str) -> Vec<&str> {
    match note.find("\n\n") {
        Some(at) => note[at + 2..]
            .lines()
            .filter(|l| l.starts_with(SIGNATURE_LINE_PREFIX))
            .collect(),
        None => Vec::new(),
    }
}

/// A cosignature line by `key` named `name` over `body` at `time` (seconds since the epoch):
/// what a witness returns. For tests and tools that play a witness.
pub fn cosign(key: &SigningKey, name: &str, body: &str, time: u64) -> String {
    let mut encoded = vec![ALG_COSIGNATURE_V1];
    encoded.extend_from_slice(key.verifying_key().as_bytes());
    let id = signed_note::key_id(name, &encoded);
    let signature = key.sign(&message(body.as_bytes(), time));
    let mut bytes = id.to_be_bytes().to_vec();
    bytes.extend_from_slice(&time.to_be_bytes());
    bytes.extend_from_slice(&signature.to_bytes());
    format!(
        "{SIGNATURE_LINE_PREFIX}{name} {}",
        BASE64_STANDARD.encode(bytes)
    )
}

/// What a `cosignature/v1` signs.
fn message(body: &[u8], time: u64) -> Vec<u8> {
    let mut message = format!("cosignature/v1\ntime {time}\n").into_bytes();
    message.extend_from_slice(body);
    message
}

/// Checks a note whole: the checkpoint must verify under the log's own verifier (given as
/// `log`), and the witnesses are checked as [`cosigners`] does.
pub fn verify_note(note: &str, log: Box<dyn Verifier>, witnesses: &[WitnessKey]) -> bool {
    let mut verifiers = vec![log];
    verifiers.extend(witnesses.iter().map(WitnessKey::verifier));
    Note::from_bytes(note.as_bytes())
        .and_then(|n| n.verify(&VerifierList::new(verifiers)).map(|_| ()))
        .is_ok()
}

struct CosignatureV1<'a>(&'a WitnessKey);

impl CosignatureV1<'_> {
    /// The time a valid `time ‖ signature` over `body` states.
    fn check(&self, body: &[u8], signature: &[u8]) -> Option<u64> {
        if signature.len() != SIGNATURE_LEN {
            return None;
        }
        let (time, signature) = signature.split_at(8);
        let time = u64::from_be_bytes(time.try_into().ok()?);
        let signature = Signature::from_slice(signature).ok()?;
        self.0
            .key
            .verify_strict(&message(body, time), &signature)
            .ok()
            .map(|()| time)
    }
}

struct Owned(WitnessKey);

impl Verifier for Owned {
    fn name(&self) -> &str {
        &self.0.name
    }

    fn key_id(&self) -> u32 {
        self.0.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        CosignatureV1(&self.0).check(msg, sig).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "example.com/log\n7\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn witness(seed: u8, name: &str) -> (SigningKey, WitnessKey) {
        let signing = SigningKey::from_bytes(&[seed; 32]);
        let key = WitnessKey::new(name, signing.verifying_key()).unwrap();
        (signing, key)
    }

    #[test]
    fn a_key_reads_back_from_its_text() {
        let (_, key) = witness(1, "witness.example/w1");
        let text = key.to_string();
        assert!(text.starts_with("witness.example/w1+"));
        assert_eq!(text.parse::<WitnessKey>().unwrap(), key);
        let wrong_id = format!(
            "witness.example/w1+00000000+{}",
            text.rsplit('+').next().unwrap()
        );
        assert!(wrong_id.parse::<WitnessKey>().is_err());
        assert!("w+0000000+AA==".parse::<WitnessKey>().is_err());
    }

    #[test]
    fn a_cosignature_verifies_for_its_witness_and_body_only() {
        let (signing, key) = witness(1, "w1");
        let (_, other) = witness(2, "w2");
        let line = cosign(&signing, "w1", BODY, 1_700_000_000);
        assert_eq!(key.verify_line(BODY, &line), Ok(1_700_000_000));
        assert!(matches!(
            other.verify_line(BODY, &line),
            Err(CosignatureError::OtherKey { .. })
        ));
        let edited = BODY.replace("\n7\n", "\n8\n");
        assert_eq!(
            key.verify_line(&edited, &line),
            Err(CosignatureError::Invalid("w1".into()))
        );
        assert_eq!(key.verify_line(BODY, "w1 abc"), Err(CosignatureError::Line));
    }

    #[test]
    fn cosigners_counts_each_listed_witness_once() {
        let (s1, k1) = witness(1, "w1");
        let (s2, k2) = witness(2, "w2");
        let (_, k3) = witness(3, "w3");
        let note = format!(
            "{BODY}\n{}\n{}\n{}\n",
            cosign(&s1, "w1", BODY, 5),
            cosign(&s1, "w1", BODY, 6),
            cosign(&s2, "w2", BODY, 5)
        );
        let witnesses = [k1.clone(), k2.clone(), k3];
        let found = cosigners(&note, &witnesses).unwrap();
        assert_eq!(found, vec![&k1, &k2]);
        // Another key's line under w2's name is not w2's, and is ignored.
        let other_key = note.replacen(&cosign(&s2, "w2", BODY, 5), &cosign(&s1, "w2", BODY, 5), 1);
        assert_eq!(cosigners(&other_key, &witnesses).unwrap(), vec![&k1]);
        // w2's key id over a signature that does not verify is an error.
        let line = cosign(&s2, "w2", BODY, 5);
        let bad_time = cosign(&s2, "w2", BODY, 6);
        let spliced = format!(
            "{}{}",
            &line[..line.len() - 44],
            &bad_time[bad_time.len() - 44..]
        );
        let forged = note.replacen(&line, &spliced, 1);
        assert_eq!(
            cosigners(&forged, &witnesses),
            Err(CosignatureError::Invalid("w2".into()))
        );
    }
}
