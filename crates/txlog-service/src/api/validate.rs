//! Checks a `POST /v1/transactions` body: every event is checked before anything is stored,
//! and every problem is reported with its path (`transactions[3].outcome`). The limits
//! themselves live in [`txlog_api::limits`], shared with the order service.

use platform::{FieldError, Problem};
use serde::Deserialize;
use serde_json::Value;
use txlog_api::{limits, Event};
use txlog_verify::json::Plain;

pub use txlog_api::limits::MAX_BATCH;
/// At most this many field errors are reported for one batch.
const MAX_ERRORS: usize = 100;

/// The body as received: events stay raw JSON until each is checked on its own, read with
/// every key a plain key ([`Plain`]: serde's private marker keys mean nothing special, and a
/// key twice in one object is refused).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBatch {
    pub transactions: Vec<Plain>,
}

impl RawBatch {
    /// The events as JSON values, in order.
    pub fn events(self) -> Vec<Value> {
        self.transactions.into_iter().map(|p| p.0).collect()
    }
}

/// The body of a `POST /v1/transactions`. A body that parses is read without tracking paths;
/// only one that does not is parsed again the way every other body is, for its 400 or 422.
pub fn parse(body: &[u8]) -> Result<RawBatch, Problem> {
    let parsed = std::str::from_utf8(body)
        .ok()
        .and_then(|text| serde_json::from_str(text).ok());
    match parsed {
        Some(raw) => Ok(raw),
        None => platform::http::parse_json(body),
    }
}

/// The events of a batch, or a 422 naming every invalid field.
pub fn batch(raw: Vec<Value>) -> Result<Vec<Event>, Problem> {
    if raw.is_empty() || raw.len() > MAX_BATCH {
        return Err(Problem::field(
            "transactions",
            format!("must hold 1 to {MAX_BATCH} events, not {}", raw.len()),
        ));
    }
    let mut errors = Vec::new();
    let mut events = Vec::with_capacity(raw.len());
    for (i, value) in raw.into_iter().enumerate() {
        let prefix = format!("transactions[{i}]");
        match event(value) {
            Ok(event) => events.push(event),
            Err(fields) => errors.extend(fields.into_iter().map(|(field, message)| {
                let field = if field.is_empty() {
                    prefix.clone()
                } else {
                    format!("{prefix}.{field}")
                };
                FieldError::new(field, message)
            })),
        }
        if errors.len() >= MAX_ERRORS {
            break;
        }
    }
    if errors.is_empty() {
        Ok(events)
    } else {
        errors.truncate(MAX_ERRORS);
        Err(Problem::validation(errors))
    }
}

type FieldErrors = Vec<(String, String)>;

fn event(value: Value) -> Result<Event, FieldErrors> {
    let Value::Object(object) = &value else {
        return Err(vec![(String::new(), "must be an object".into())]);
    };
    let unknown: FieldErrors = object
        .keys()
        .filter(|k| !Event::FIELDS.contains(&k.as_str()))
        .map(|k| (k.clone(), "unknown field".into()))
        .collect();
    if !unknown.is_empty() {
        return Err(unknown);
    }
    let event = typed(value)?;
    let errors: FieldErrors = limits::check(&event)
        .into_iter()
        .map(|v| (v.field.to_owned(), v.message.to_owned()))
        .collect();
    if errors.is_empty() {
        Ok(event)
    } else {
        Err(errors)
    }
}

/// The event `value` holds. Tracking the path of every field cost as much as the rest of the
/// validation, so it is done only to name the field of an event that does not deserialize.
fn typed(value: Value) -> Result<Event, FieldErrors> {
    if let Ok(event) = Event::deserialize(&value) {
        return Ok(event);
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        vec![(field, platform::json::clean_serde_message(&e.into_inner()))]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "event_id": "0192f8a4-0000-7000-8000-000000000001",
            "occurred_at": "2026-11-25T10:00:00.123Z",
            "source": "order-service",
            "operation": "order.get",
            "outcome": "success",
            "actor": {"sub": "alice", "scopes": ["orders:read"]},
            "order_id": null,
            "request": {"method": "GET", "path": "/v1/orders", "query": null, "request_id": "r-1",
                        "client_ip": "127.0.0.1", "user_agent": "curl", "body": null},
            "response": {"status": 200, "body": {"items": []}},
            "duration_us": 1200,
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"
        })
    }

    fn fields(result: Result<Vec<Event>, Problem>) -> Vec<String> {
        result
            .expect_err("rejected")
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_good_batch_passes() {
        assert_eq!(batch(vec![good(), good()]).unwrap().len(), 2);
    }

    #[test]
    fn every_bad_field_is_named_with_its_index() {
        let mut bad_outcome = good();
        bad_outcome["outcome"] = json!("maybe");
        let mut unknown = good();
        unknown["extra"] = json!(1);
        let mut limits = good();
        limits["source"] = json!("");
        limits["trace_id"] = json!("XYZ");
        let errors = fields(batch(vec![good(), bad_outcome, unknown, limits, json!(3)]));
        assert_eq!(
            errors,
            [
                "transactions[1].outcome",
                "transactions[2].extra",
                "transactions[3].source",
                "transactions[3].trace_id",
                "transactions[4]"
            ]
        );
    }

    #[test]
    fn batch_sizes_are_bounded() {
        assert_eq!(fields(batch(vec![])), ["transactions"]);
        assert_eq!(fields(batch(vec![good(); MAX_BATCH + 1])), ["transactions"]);
    }
}
