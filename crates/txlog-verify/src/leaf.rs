//! A record as the log serves it, which is also its leaf data (RFC 9162 leaf of the log's
//! Merkle tree): the stored canonical text with `"hash":"…"` added among the top-level keys
//! where RFC 8785's order puts it. The bytes the leaf hash covers are the bytes served: a read
//! never re-encodes a record.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{canonical, json};

/// The record as served: `canonical` (a record without `hash`, in RFC 8785 form) with its
/// `hash`. Found by scanning the text, not by parsing and re-serialising it (that doubled
/// the cost of keeping the tree); a text the scan cannot place the key in takes
/// [`record_text_slow`], and a property test holds the two equal.
pub fn record_text(canonical: &str, hash: &str) -> Result<String, serde_json::Error> {
    match LeafPieces::of(canonical, hash) {
        Some(pieces) => Ok(pieces.as_array().concat()),
        None => record_text_slow(canonical, hash),
    }
}

/// [`record_text`] by reading the text (every key a plain key, [`json::Plain`]) and writing
/// it with `hash` through the one canonical encoder.
pub fn record_text_slow(canonical: &str, hash: &str) -> Result<String, serde_json::Error> {
    let mut value = json::from_str(canonical)?;
    let Some(object) = value.as_object_mut() else {
        return Err(serde_json::Error::io(std::io::Error::other(
            "a record must be a JSON object",
        )));
    };
    object.insert("hash".into(), Value::String(hash.to_owned()));
    canonical::to_string(&value)
}

/// SHA-256(0x00 ‖ leaf data), hashed piece by piece without writing the leaf data out.
pub fn leaf_hash(canonical: &str, hash: &str) -> Result<[u8; 32], serde_json::Error> {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    match LeafPieces::of(canonical, hash) {
        Some(pieces) => pieces.as_array().iter().for_each(|p| hasher.update(p)),
        None => hasher.update(record_text_slow(canonical, hash)?),
    }
    Ok(hasher.finalize().into())
}

/// SHA-256(0x00 ‖ `leaf`): the leaf hash of a record's served text.
pub fn leaf_hash_of_text(leaf: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(leaf);
    hasher.finalize().into()
}

/// The leaf data as the record's stored canonical text (a JSON object in RFC 8785 form, without
/// `hash`) cut where `"hash":"<hash>"` goes: before the first top-level key that sorts after
/// `hash`, or at the end.
struct LeafPieces<'a> {
    head: &'a str,
    before: &'static str,
    hash: &'a str,
    after: &'static str,
    tail: &'a str,
}

impl<'a> LeafPieces<'a> {
    /// `None` when a key is not plain ASCII (whose UTF-16 order the byte order might not
    /// match), the hash needs escaping or the text is not an object.
    fn of(canonical: &'a str, hash: &'a str) -> Option<Self> {
        let bytes = canonical.as_bytes();
        if bytes.first() != Some(&b'{') || bytes.last() != Some(&b'}') || hash.contains(['"', '\\'])
        {
            return None;
        }
        let cut = |at: usize, before, after| LeafPieces {
            head: &canonical[..at],
            before,
            hash,
            after,
            tail: &canonical[at..],
        };
        let mut at = 1;
        while at < bytes.len() - 1 {
            // A member: "key":value, then ',' or the closing '}'.
            let key_end = at + 1 + bytes[at + 1..].iter().position(|&b| b == b'"')?;
            let key = &canonical[at + 1..key_end];
            if !key.bytes().all(|b| b.is_ascii() && b != b'\\') {
                return None;
            }
            if key > "hash" {
                return Some(cut(at, "\"hash\":\"", "\","));
            }
            at = value_end(bytes, key_end + 2)? + 1;
        }
        let end = canonical.len() - 1;
        let before = if end > 1 {
            ",\"hash\":\""
        } else {
            "\"hash\":\""
        };
        Some(cut(end, before, "\""))
    }

    fn as_array(&self) -> [&str; 5] {
        [self.head, self.before, self.hash, self.after, self.tail]
    }
}

/// The index just past the JSON value starting at `start` (where a ',' or '}' follows).
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => depth -= 1,
            b',' | b'}' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "ab01";

    #[test]
    fn the_hash_goes_where_rfc_8785_puts_it() {
        for (canonical, served) in [
            (r#"{"a":1,"z":2}"#, r#"{"a":1,"hash":"ab01","z":2}"#),
            (
                r#"{"a":{"zz":"}"},"b":[1,"]"]}"#,
                r#"{"a":{"zz":"}"},"b":[1,"]"],"hash":"ab01"}"#,
            ),
            ("{}", r#"{"hash":"ab01"}"#),
            (r#"{"z":1}"#, r#"{"hash":"ab01","z":1}"#),
            (
                r#"{"a":{"x":"},\"}","y":[1,{"q":2}]},"b":"\\","p":null}"#,
                r#"{"a":{"x":"},\"}","y":[1,{"q":2}]},"b":"\\","hash":"ab01","p":null}"#,
            ),
            ("{\"é\":1}", r#"{"hash":"ab01","é":1}"#),
            (
                r#"{"$serde_json::private::RawValue":"x","a":1}"#,
                r#"{"$serde_json::private::RawValue":"x","a":1,"hash":"ab01"}"#,
            ),
        ] {
            assert_eq!(record_text(canonical, HASH).unwrap(), served, "{canonical}");
            assert_eq!(
                leaf_hash(canonical, HASH).unwrap(),
                leaf_hash_of_text(served.as_bytes())
            );
        }
        assert!(record_text("[1]", HASH).is_err());
    }
}
