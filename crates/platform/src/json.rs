//! JSON text into a type, with errors that say which field is wrong. Nothing here knows about
//! HTTP: `http::parse_json` turns these errors into 400 and 422 problems.

use serde::de::DeserializeOwned;

use crate::FieldError;

/// Why JSON text did not become the wanted type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at all (or not UTF-8).
    NotJson(String),
    /// JSON of the wrong shape: the fields and what is wrong with each.
    Fields(Vec<FieldError>),
}

/// Parses JSON bytes into `T`. JSON text is UTF-8 (RFC 8259), checked first: serde reads some
/// strings (unknown keys' values, its own marker keys) without checking them, and would report
/// bad bytes there as a shape error.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        JsonError::NotJson(format!("the body is not valid JSON: it is not UTF-8 ({e})"))
    })?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            // A shape error met before the end of the text does not make the text JSON: text
            // that does not parse (cut short, or nested deeper than the parser goes) is
            // `NotJson` wherever its first shape error is.
            serde_json::error::Category::Data => match syntax_error(text) {
                Some(syntax) => JsonError::NotJson(format!("the body is not valid JSON: {syntax}")),
                None => {
                    let message = clean_serde_message(&inner);
                    JsonError::Fields(vec![FieldError::new(field_name(&path, &message), message)])
                }
            },
            _ => JsonError::NotJson(format!("the body is not valid JSON: {inner}")),
        }
    })?;
    deserializer
        .end()
        .map_err(|e| JsonError::NotJson(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// Why `text` is not one JSON value, read as serde_json reads any value (with its nesting
/// limit); `None` when it is.
fn syntax_error(text: &str) -> Option<String> {
    serde_json::from_str::<AnyValue>(text)
        .err()
        .map(|e| e.to_string())
}

/// Any JSON value, read and dropped: nested arrays and objects are read through
/// `deserialize_any`, so serde_json's nesting limit applies as it does to every other type.
struct AnyValue;

impl<'de> serde::Deserialize<'de> for AnyValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AnyVisitor)
    }
}

struct AnyVisitor;

impl<'de> serde::de::Visitor<'de> for AnyVisitor {
    type Value = AnyValue;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }

    fn visit_i64<E>(self, _: i64) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }

    fn visit_u64<E>(self, _: u64) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }

    fn visit_f64<E>(self, _: f64) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }

    fn visit_str<E>(self, _: &str) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }

    fn visit_unit<E>(self) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }

    fn visit_none<E>(self) -> Result<AnyValue, E> {
        Ok(AnyValue)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<AnyValue, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<AnyValue, A::Error> {
        while seq.next_element::<AnyValue>()?.is_some() {}
        Ok(AnyValue)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<AnyValue, A::Error> {
        while map.next_key::<serde::de::IgnoredAny>()?.is_some() {
            map.next_value::<AnyValue>()?;
        }
        Ok(AnyValue)
    }
}

/// The field an error is about: serde reports missing and unknown fields at the parent's path.
fn field_name(path: &str, message: &str) -> String {
    let base = if path == "." { "" } else { path };
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next())
        .filter(|name| !base.ends_with(name));
    match (base, named) {
        ("", Some(name)) => name.to_owned(),
        (base, Some(name)) => format!("{base}.{name}"),
        ("", None) => "body".to_owned(),
        (base, None) => base.to_owned(),
    }
}

/// serde's message without the " at line 1 column 5" suffix.
pub fn clean_serde_message(e: &impl std::fmt::Display) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::{from_slice, JsonError};
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        a: Vec<serde_json::Value>,
    }

    fn deep(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn text_nested_too_deep_is_not_json_wherever_the_shape_goes_wrong() {
        let bodies = [
            // Deeper than serde_json reads, where the type reads it.
            format!(r#"{{"a":[{}]}}"#, deep(5_000)),
            // An unknown field (a shape error) before the deep part, and one holding it.
            format!(r#"{{"b":1,"a":[{}]}}"#, deep(5_000)),
            format!(r#"{{"b":{}}}"#, deep(5_000)),
            // The wrong type at the top.
            deep(5_000),
            format!("{}1{}", r#"{"a":"#.repeat(5_000), "}".repeat(5_000)),
            // Cut short after a shape error.
            r#"{"b":1,"a":["#.to_owned(),
        ];
        for body in bodies {
            let error = from_slice::<Shape>(body.as_bytes()).unwrap_err();
            assert!(
                matches!(error, JsonError::NotJson(_)),
                "{}…: {error:?}",
                &body[..body.len().min(40)]
            );
        }
        assert!(matches!(
            from_slice::<Shape>(br#"{"b":1,"a":[]}"#),
            Err(JsonError::Fields(_))
        ));
        assert!(matches!(
            from_slice::<Shape>(format!(r#"{{"b":1,"a":[{}]}}"#, deep(100)).as_bytes()),
            Err(JsonError::Fields(_))
        ));
    }
}
