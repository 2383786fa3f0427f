use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// Request and response bodies larger than this are cut and marked `body_truncated`.
pub const BODY_RECORD_LIMIT: usize = 64 * 1024;

/// Deepest JSON nesting a body is recorded as JSON with; deeper bodies are recorded as text,
/// so that the event, wrapped in a batch and a record, stays within every JSON parser's
/// nesting limit (serde_json's is 128).
pub const BODY_MAX_DEPTH: usize = 64;

/// One call to a recorded service, as the caller's service saw it.
///
/// Not `deny_unknown_fields` because [`crate::Record`] flattens it; receivers check the
/// top-level keys against [`Event::FIELDS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Chosen by the sender; makes delivery idempotent.
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// The service that saw the call, e.g. `order-service`.
    pub source: String,
    /// `order.create`, `order.get`, `order.list`, `order.update`, `order.delete` or `request`.
    pub operation: String,
    pub outcome: Outcome,
    /// The authenticated caller, or null when the call was not authenticated.
    pub actor: Option<Actor>,
    pub order_id: Option<String>,
    pub request: RequestRecord,
    pub response: ResponseRecord,
    pub duration_us: u64,
    /// W3C trace id (32 hex digits) of the call.
    pub trace_id: Option<String>,
    /// The fields the sender cut or dropped so that the event fits [`crate::limits`]
    /// (`actor.scopes`, `actor.sub`, …); absent when nothing was cut.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<String>,
}

impl Event {
    pub const FIELDS: [&'static str; 12] = [
        "event_id",
        "occurred_at",
        "source",
        "operation",
        "outcome",
        "actor",
        "order_id",
        "request",
        "response",
        "duration_us",
        "trace_id",
        "truncated",
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx
    Success,
    /// 401 and 403
    Denied,
    /// other 4xx
    ClientError,
    /// 5xx
    ServerError,
}

impl Outcome {
    pub fn from_status(status: u16) -> Self {
        match status {
            200..=399 => Self::Success,
            401 | 403 => Self::Denied,
            400..=499 => Self::ClientError,
            _ => Self::ServerError,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::ClientError => "client_error",
            Self::ServerError => "server_error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub sub: String,
    pub scopes: Vec<String>,
}

/// The request as received. `Authorization`, cookies and other secrets are never recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub request_id: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The JSON body, a string when the body was not JSON, or null when empty or not kept
    /// (the order service keeps request bodies of authenticated calls only). Read with every
    /// key a plain key ([`txlog_verify::json::Plain`]).
    #[serde(default, deserialize_with = "txlog_verify::json::optional")]
    pub body: Option<Value>,
    /// True when the body was longer than 64 KiB and `body` holds only its start.
    #[serde(default)]
    pub body_truncated: bool,
    /// Length of the whole body on the wire, in bytes; absent when it was not read to the end
    /// (413, 429, a body timeout) or the sender predates the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<u64>,
    /// Lowercase hex SHA-256 of the whole body on the wire (also when `body` is cut or not
    /// kept); absent like `body_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseRecord {
    pub status: u16,
    /// Kept for writes and every non-2xx answer; null for a successful read. Read like
    /// [`RequestRecord::body`].
    #[serde(default, deserialize_with = "txlog_verify::json::optional")]
    pub body: Option<Value>,
    #[serde(default)]
    pub body_truncated: bool,
    /// See [`RequestRecord::body_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<u64>,
    /// See [`RequestRecord::body_sha256`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
    /// For a successful `order.list`: the ids of the orders it disclosed, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_ids: Option<Vec<String>>,
}

/// Turns raw body bytes into the recorded form, cut at [`BODY_RECORD_LIMIT`] and marked: JSON
/// when the log can keep it exactly as sent, else the text. So a body that does not parse, is
/// nested deeper than [`BODY_MAX_DEPTH`], names a key twice in one object, or holds an integer
/// that RFC 8785 would write as another number is recorded as its text; every key, serde's
/// private marker keys included, is read as a plain key ([`txlog_verify::json`]).
pub fn body_from_bytes(bytes: &[u8]) -> (Option<Value>, bool) {
    if bytes.is_empty() {
        return (None, false);
    }
    if bytes.len() <= BODY_RECORD_LIMIT {
        if let Ok(value) = txlog_verify::json::from_slice(bytes) {
            if depth(&value) <= BODY_MAX_DEPTH
                && txlog_verify::json::inexact_number(&value).is_none()
            {
                return (Some(value), false);
            }
        }
        return (
            Some(Value::String(String::from_utf8_lossy(bytes).into_owned())),
            false,
        );
    }
    let mut end = BODY_RECORD_LIMIT;
    while end > 0 && !is_char_boundary(bytes, end) {
        end -= 1;
    }
    (
        Some(Value::String(
            String::from_utf8_lossy(&bytes[..end]).into_owned(),
        )),
        true,
    )
}

/// Nesting depth of a JSON value (a scalar is 0).
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn is_char_boundary(bytes: &[u8], i: usize) -> bool {
    i >= bytes.len() || (bytes[i] as i8) >= -0x40
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_recorded_as_json_text_or_cut() {
        assert_eq!(body_from_bytes(b""), (None, false));
        assert_eq!(
            body_from_bytes(br#"{"a":1}"#),
            (Some(serde_json::json!({"a": 1})), false)
        );
        assert_eq!(
            body_from_bytes(b"not json"),
            (Some(Value::String("not json".into())), false)
        );
        for as_text in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"n":9007199254740993}"#,
            br#"{"$serde_json::private::RawValue":"[1]"}"#,
        ] {
            let (body, _) = body_from_bytes(as_text);
            let expected = Value::String(String::from_utf8(as_text.to_vec()).unwrap());
            if as_text.starts_with(b"{\"$") {
                let object = body.unwrap();
                assert_eq!(object["$serde_json::private::RawValue"], "[1]");
            } else {
                assert_eq!(body, Some(expected));
            }
        }
        let big = "é".repeat(BODY_RECORD_LIMIT);
        let (body, cut) = body_from_bytes(big.as_bytes());
        assert!(cut);
        let text = body.unwrap();
        assert!(text.as_str().unwrap().len() <= BODY_RECORD_LIMIT);
    }

    #[test]
    fn outcomes_follow_the_status() {
        assert_eq!(Outcome::from_status(201), Outcome::Success);
        assert_eq!(Outcome::from_status(401), Outcome::Denied);
        assert_eq!(Outcome::from_status(403), Outcome::Denied);
        assert_eq!(Outcome::from_status(404), Outcome::ClientError);
        assert_eq!(Outcome::from_status(503), Outcome::ServerError);
    }
}
