//! Request headers with meaning for orders: `If-Match` and `Idempotency-Key`.

use axum::http::HeaderMap;
use platform::Problem;

/// A parsed `If-Match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    Absent,
    Any,
    /// The versions listed (strong entity tags only; weak ones never match).
    Versions(Vec<i64>),
}

impl IfMatch {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let Some(value) = headers.get("if-match").and_then(|v| v.to_str().ok()) else {
            return Self::Absent;
        };
        if value.trim() == "*" {
            return Self::Any;
        }
        let versions = value
            .split(',')
            .filter_map(|tag| {
                tag.trim()
                    .strip_prefix('"')?
                    .strip_suffix('"')?
                    .parse()
                    .ok()
            })
            .collect();
        Self::Versions(versions)
    }

    /// `Err(412)` when a precondition was given and `version` does not satisfy it.
    pub fn check(&self, version: i64) -> Result<(), Problem> {
        match self {
            Self::Versions(v) if !v.contains(&version) => Err(Problem::precondition_failed(
                format!("If-Match does not match the current version \"{version}\""),
            )),
            _ => Ok(()),
        }
    }

    pub fn is_given(&self) -> bool {
        !matches!(self, Self::Absent)
    }
}

/// `Idempotency-Key`: 1 to 255 visible ASCII characters, or absent.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key)
            if (1..=255).contains(&key.len())
                && key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') =>
        {
            Ok(Some(key.to_owned()))
        }
        _ => Err(Problem::malformed(
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, value.parse().unwrap());
        h
    }

    #[test]
    fn if_match_forms() {
        assert_eq!(IfMatch::from_headers(&HeaderMap::new()), IfMatch::Absent);
        assert_eq!(
            IfMatch::from_headers(&headers("if-match", "*")),
            IfMatch::Any
        );
        assert_eq!(
            IfMatch::from_headers(&headers("if-match", "\"3\", \"4\"")),
            IfMatch::Versions(vec![3, 4])
        );
        assert!(IfMatch::from_headers(&headers("if-match", "W/\"3\""))
            .check(3)
            .is_err());
        assert!(IfMatch::from_headers(&headers("if-match", "\"3\""))
            .check(3)
            .is_ok());
    }

    #[test]
    fn idempotency_keys_are_bounded() {
        assert_eq!(
            idempotency_key(&headers("idempotency-key", "abc")).unwrap(),
            Some("abc".into())
        );
        assert!(idempotency_key(&headers("idempotency-key", &"k".repeat(256))).is_err());
        assert!(idempotency_key(&headers("idempotency-key", "")).is_err());
    }
}
