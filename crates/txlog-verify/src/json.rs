//! JSON text to [`serde_json::Value`] exactly as written: every key is a key.
//!
//! `serde_json::Value`'s own `Deserialize` treats an object whose first key is one of serde's
//! private marker keys (`$serde_json::private::RawValue`, with serde_json's `raw_value`
//! feature, which sqlx turns on for the whole build) as something else than an object: it
//! reads the member's value as JSON text and returns that instead, or fails. A caller could
//! then send a body that the log stores but cannot read back (the canonical form sorts the
//! marker first). [`Plain`] builds the value with a visitor of its own, which asks for keys
//! as plain strings, so no key means anything special, on any deserializer.
//!
//! It also refuses an object that names a key twice: such text has no single meaning, and a
//! record must say what was sent.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON value read with every key as a plain key and no key twice in one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Plain(pub Value);

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PlainVisitor).map(Plain)
    }
}

/// JSON text as a [`Value`], read with [`Plain`].
pub fn from_str(text: &str) -> serde_json::Result<Value> {
    serde_json::from_str::<Plain>(text).map(|p| p.0)
}

/// JSON bytes as a [`Value`], read with [`Plain`].
pub fn from_slice(bytes: &[u8]) -> serde_json::Result<Value> {
    serde_json::from_slice::<Plain>(bytes).map(|p| p.0)
}

/// `#[serde(deserialize_with = "txlog_verify::json::optional")]` for an `Option<Value>` field.
pub fn optional<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Option::<Plain>::deserialize(deserializer).map(|v| v.map(|p| p.0))
}

struct PlainVisitor;

impl<'de> Visitor<'de> for PlainVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number must be finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(Plain(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "the key {} appears twice in one object",
                    quoted(&key)
                )));
            }
            let Plain(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A key as JSON text, cut to 64 characters, for an error message.
fn quoted(key: &str) -> String {
    let short: String = key.chars().take(64).collect();
    serde_json::to_string(&short).unwrap_or_default()
}

/// The largest integer every JSON reader keeps exactly: RFC 8785 writes numbers as IEEE 754
/// doubles, so an integer beyond ±2^53 may come back as another number.
const EXACT: u64 = 1 << 53;

/// Where `value` holds a number that its RFC 8785 canonical form would write as a different
/// number (an integer beyond ±2^53 that a double does not hold with the same digits): the
/// JSON pointer of the first such number, or `None` when the canonical text keeps `value`
/// exactly.
pub fn inexact_number(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => {
            let exact = match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => u <= EXACT || rewrites_same(n),
                (None, Some(i)) => i.unsigned_abs() <= EXACT || rewrites_same(n),
                (None, None) => true,
            };
            (!exact).then(String::new)
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| inexact_number(item).map(|rest| format!("/{i}{rest}"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            inexact_number(item).map(|rest| format!("/{}{rest}", pointer_token(key)))
        }),
        _ => None,
    }
}

/// True when the canonical text of integer `n` reads back as the same integer.
fn rewrites_same(n: &Number) -> bool {
    let mut text = Vec::new();
    serde_json_canonicalizer::to_writer(n, &mut text).is_ok()
        && serde_json::from_slice::<Number>(&text).is_ok_and(|back| &back == n)
}

/// A key as an RFC 6901 reference token.
fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: &str = "$serde_json::private::RawValue";

    #[test]
    fn a_marker_key_is_an_ordinary_key() {
        for text in [
            format!(r#"{{"{MARKER}":"x"}}"#),
            format!(r#"{{"{MARKER}":"1","a":2}}"#),
            format!(r#"{{"b":{{"{MARKER}":"[1]"}}}}"#),
            r#"{"$serde_json::private::Number":"1"}"#.to_owned(),
        ] {
            let value = from_str(&text).unwrap();
            let back = serde_json::to_string(&value).unwrap();
            assert_eq!(from_str(&back).unwrap(), value, "{text}");
            assert!(back.contains("$serde_json::private::"), "{back}");
        }
        let value = from_str(&format!(r#"{{"{MARKER}":"1"}}"#)).unwrap();
        assert_eq!(value[MARKER], Value::String("1".into()));
    }

    #[test]
    fn a_key_twice_is_refused_naming_it() {
        let e = from_str(r#"{"a":{"k":1,"k":2}}"#).unwrap_err();
        assert!(
            e.to_string().contains(r#"the key "k" appears twice"#),
            "{e}"
        );
        assert!(from_str(r#"[{"k":1},{"k":2}]"#).is_ok());
    }

    #[test]
    fn values_read_as_serde_json_reads_ordinary_json() {
        let text = r#"{"a":[1,-2,3.5,1e300,"é\u2028",null,true,{}],"b":18446744073709551615}"#;
        assert_eq!(
            from_str(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
        assert!(from_str("1e400").is_err());
    }

    #[test]
    fn inexact_numbers_are_found_with_their_pointer() {
        let ok = from_str(r#"{"a":[9007199254740992,-9007199254740992,1.5,1e300]}"#).unwrap();
        assert_eq!(inexact_number(&ok), None);
        let big = from_str(r#"{"a/b":[0,{"c~":9007199254740993}]}"#).unwrap();
        assert_eq!(inexact_number(&big).as_deref(), Some("/a~1b/1/c~0"));
        let negative = from_str("-9223372036854775807").unwrap();
        assert_eq!(inexact_number(&negative).as_deref(), Some(""));
        // 2^60 is a double, but RFC 8785 writes it as 1152921504606847000.
        let power = from_str("1152921504606846976").unwrap();
        assert_eq!(inexact_number(&power).as_deref(), Some(""));
        // Its shortest form is its digits: kept.
        let round = from_str("9007199254740994").unwrap();
        assert_eq!(inexact_number(&round), None);
    }
}
