//! The log's Ed25519 signing key in the C2SP signed-note forms (SPEC section 10):
//! `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>` and the verifier key
//! `<name>+<key id>+<base64(0x01 ‖ public key)>`.

use std::path::Path;

use anyhow::Context as _;
use base64::prelude::*;
use signed_note::{Signer as _, StandardSigner};

use super::seal::SealKey;

/// The signature algorithm byte of an Ed25519 signed-note key.
const ALG_ED25519: u8 = 1;

/// A parsed signing key and the verifier key auditors use.
pub struct LogKey {
    signer: StandardSigner,
    verifier_key: String,
    /// The key records are sealed with, derived from the seed (`seal.rs`).
    seal_key: SealKey,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKey")
            .field("verifier_key", &self.verifier_key)
            .finish_non_exhaustive()
    }
}

impl LogKey {
    /// Parses a private key; the message never repeats the key.
    pub fn parse(text: &str) -> anyhow::Result<LogKey> {
        let text = text.trim();
        let signer = StandardSigner::new(text).map_err(|e| {
            anyhow::anyhow!("not a signed-note Ed25519 private key (PRIVATE+KEY+name+id+key): {e}")
        })?;
        // The base64 key itself may hold '+': it is everything after the fourth.
        let seed = text
            .splitn(5, '+')
            .nth(4)
            .and_then(|k| BASE64_STANDARD.decode(k).ok())
            .filter(|k| k.len() == 33 && k[0] == ALG_ED25519)
            .context("the key is not an Ed25519 key")?;
        let seed: [u8; 32] = seed[1..].try_into()?;
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        let verifier_key = signed_note::new_ed25519_verifier_key(signer.name(), &public);
        Ok(LogKey {
            signer,
            verifier_key,
            seal_key: SealKey::derive(&seed),
        })
    }

    /// Reads a private key from a file (surrounding whitespace ignored).
    pub fn read(path: &Path) -> anyhow::Result<LogKey> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the signing key {}", path.display()))?;
        LogKey::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// A new key pair named `name`: (private key, verifier key).
    pub fn generate(name: &str) -> anyhow::Result<(String, String)> {
        anyhow::ensure!(
            !name.is_empty() && !name.contains(['+', ' ', '\n']),
            "a key name must be non-empty and hold no '+', space or newline"
        );
        Ok(signed_note::generate_key(&mut rand::rngs::OsRng, name))
    }

    pub fn signer(&self) -> &StandardSigner {
        &self.signer
    }

    /// The key this log's records are sealed with (SPEC section 12).
    pub fn seal_key(&self) -> &SealKey {
        &self.seal_key
    }

    /// `<name>+<key id>+<base64 public key>`: what auditors pass to `audit --key`.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_and_gives_back_its_verifier_key() {
        let (private, verifier) = LogKey::generate("log.example").unwrap();
        assert!(private.starts_with("PRIVATE+KEY+log.example+"));
        let key = LogKey::parse(&format!("{private}\n")).unwrap();
        assert_eq!(key.verifier_key(), verifier);
        assert!(signed_note::StandardVerifier::new(&verifier).is_ok());
        assert!(!format!("{key:?}").contains(&private));
    }

    #[test]
    fn keys_whose_base64_holds_a_plus_parse() {
        for _ in 0..64 {
            let (private, verifier) = LogKey::generate("log").unwrap();
            assert_eq!(LogKey::parse(&private).unwrap().verifier_key(), verifier);
        }
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        let (private, verifier) = LogKey::generate("log").unwrap();
        for bad in [String::new(), verifier, private.replace("+KEY+", "+KEX+")] {
            let error = LogKey::parse(&bad).unwrap_err().to_string();
            assert!(error.contains("PRIVATE+KEY+name+id+key"), "{error}");
        }
        assert!(LogKey::generate("a b").is_err());
        assert!(LogKey::generate("").is_err());
    }
}
