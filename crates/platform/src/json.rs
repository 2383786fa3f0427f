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
            serde_json::error::Category::Data => {
                let message = clean_serde_message(&inner);
                JsonError::Fields(vec![FieldError::new(field_name(&path, &message), message)])
            }
            _ => JsonError::NotJson(format!("the body is not valid JSON: {inner}")),
        }
    })?;
    deserializer
        .end()
        .map_err(|e| JsonError::NotJson(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
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
