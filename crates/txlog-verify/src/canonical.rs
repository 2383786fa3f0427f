//! RFC 8785 (JCS) canonical JSON of a `serde_json::Value`, written straight into one buffer.
//!
//! It writes exactly what `serde_json_canonicalizer` writes (a property test holds the two
//! equal), at a fraction of the cost: that crate buffers every member of every object
//! separately, re-parses each key to sort it and boxes a writer for every fragment, which made
//! it the largest cost of sealing a record (docs/BENCHMARKS.md, issue 15). Here only the
//! member order is computed; strings are escaped by `serde_json` and numbers formatted by
//! `serde_json_canonicalizer` itself, so those two rules are not re-implemented.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// The canonical text of `value`.
pub fn to_string(value: &Value) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(1024);
    write(&mut out, value)?;
    String::from_utf8(out).map_err(|e| serde_json::Error::io(std::io::Error::other(e)))
}

fn write(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // ECMAScript number formatting (RFC 8785 section 3.2.2.3), as the crate does it.
        Value::Number(n) => serde_json_canonicalizer::to_writer(n, out)?,
        // RFC 8785 section 3.2.2.2 escapes exactly what serde_json escapes: '"', '\' and the
        // control characters, with the short forms and lowercase hex.
        Value::String(s) => serde_json::to_writer(&mut *out, s)?,
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(out, map)?,
    }
    Ok(())
}

/// Members sorted by their keys' UTF-16 code units (RFC 8785 section 3.2.3).
fn write_object(out: &mut Vec<u8>, map: &Map<String, Value>) -> serde_json::Result<()> {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_unstable_by(|a, b| utf16_order(a.0, b.0));
    out.push(b'{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key)?;
        out.push(b':');
        write(out, value)?;
    }
    out.push(b'}');
    Ok(())
}

/// UTF-16 code unit order. For ASCII it is byte order; beyond, UTF-8's byte order (code point
/// order) differs from it for characters above U+FFFF against U+E000 to U+FFFF.
fn utf16_order(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_rfc_8785_examples_come_out_as_the_crate_writes_them() {
        // RFC 8785 section 3.2.2's example, as JSON text (its numbers are more precise than
        // a double).
        let rfc = r#"{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
                      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
                      "literals": [null, true, false]}"#;
        let expected = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
        assert_eq!(
            to_string(&serde_json::from_str(rfc).unwrap()).unwrap(),
            expected
        );
        let values = [
            serde_json::from_str::<Value>(rfc).unwrap(),
            json!({"\u{20ac}": "Euro Sign", "\r": "Carriage Return", "\u{fb33}": "Hebrew Letter Dalet With Dagesh",
                   "1": "One", "\u{1f600}": "Emoji: Grinning Face", "\u{0080}": "Control", "\u{00f6}": "Latin Small Letter O With Diaeresis"}),
            json!({"z": {"b": [], "a": {}}, "a": [1, -0.0, 1e21, 1e-7, 18446744073709551615u64, -9007199254740993i64]}),
        ];
        for value in values {
            assert_eq!(
                to_string(&value).unwrap(),
                serde_json_canonicalizer::to_string(&value).unwrap()
            );
        }
    }
}
