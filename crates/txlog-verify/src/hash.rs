//! The hash chain's values (SPEC section 8): a record's `hash` and `prev_hash` are SHA-256
//! values, written as 64 lowercase hex digits only where they leave the program (a record's
//! text, an API answer, a database column). [`ChainHash`] is such a value; [`StatedHash`] is
//! a record's `hash` as a store or a log states it, which may be any text at all.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// A link of the hash chain: the SHA-256 value a record's `hash` (and the next record's
/// `prev_hash`) writes as hex. Not a Merkle tree hash ([`crate::Hash`]): the two never mix.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHash(pub [u8; 32]);

/// Text that is not a chain hash: not exactly 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a hash (64 lowercase hex digits)")]
pub struct NotAHash;

impl ChainHash {
    /// The `prev_hash` of the first record: 64 zeros.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    /// The hex text, as the log writes it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The hex text's bytes, without allocating (what the next link hashes).
    pub fn hex_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        hex::encode_to_slice(self.0, &mut out).expect("64 hex digits fit 64 bytes");
        out
    }

    /// Reads exactly the form the log writes, 64 lowercase hex digits, so that a hash read
    /// back writes out as the very text it was read from.
    pub fn from_hex(text: &str) -> Result<ChainHash, NotAHash> {
        let lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
        if text.len() != 64 || !text.as_bytes().iter().all(lower_hex) {
            return Err(NotAHash);
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| NotAHash)?;
        Ok(ChainHash(bytes))
    }
}

impl FromStr for ChainHash {
    type Err = NotAHash;

    fn from_str(text: &str) -> Result<ChainHash, NotAHash> {
        ChainHash::from_hex(text)
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({self})")
    }
}

/// A record's `hash` as a store (or a log) states it. The store is not trusted, so its text
/// may be anything: a record whose text is not a hash is still served exactly as stored, and
/// the chain's check reports that record as broken instead of failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatedHash {
    /// The text is a hash; it writes out as the same text.
    Hash(ChainHash),
    /// The text as stated, which is not a hash.
    NotAHash(String),
}

impl StatedHash {
    /// What `text` states.
    pub fn read(text: String) -> StatedHash {
        match ChainHash::from_hex(&text) {
            Ok(hash) => StatedHash::Hash(hash),
            Err(NotAHash) => StatedHash::NotAHash(text),
        }
    }

    /// The text as stated (and as a record is served with).
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            StatedHash::Hash(hash) => Cow::Owned(hash.to_hex()),
            StatedHash::NotAHash(text) => Cow::Borrowed(text),
        }
    }

    /// The hash, when the text is one.
    pub fn hash(&self) -> Option<ChainHash> {
        match self {
            StatedHash::Hash(hash) => Some(*hash),
            StatedHash::NotAHash(_) => None,
        }
    }
}

impl From<ChainHash> for StatedHash {
    fn from(hash: ChainHash) -> StatedHash {
        StatedHash::Hash(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_form_the_log_writes_is_a_hash() {
        let text = "00ff".repeat(16);
        let hash = ChainHash::from_hex(&text).unwrap();
        assert_eq!(hash.to_hex(), text);
        assert_eq!(&hash.hex_bytes()[..], text.as_bytes());
        assert_eq!(ChainHash::GENESIS.to_hex(), "0".repeat(64));
        for bad in [
            "00FF".repeat(16),
            "00ff".repeat(15),
            format!("{text}0"),
            "g".repeat(64),
        ] {
            assert_eq!(ChainHash::from_hex(&bad), Err(NotAHash), "{bad}");
            assert_eq!(StatedHash::read(bad.clone()).text(), bad);
        }
        assert_eq!(StatedHash::read(text.clone()), StatedHash::Hash(hash));
        assert_eq!(StatedHash::read(text.clone()).text(), text);
        assert_eq!(StatedHash::read("x".into()).hash(), None);
    }
}
