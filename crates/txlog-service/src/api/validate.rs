//! Checks a `POST /v1/transactions` body: every event is checked before anything is stored,
//! and every problem is reported with its path (`transactions[3].outcome`).

use platform::{FieldError, Problem};
use serde::Deserialize;
use serde_json::Value;
use txlog_api::Event;

pub const MAX_BATCH: usize = 1000;
/// At most this many field errors are reported for one batch.
const MAX_ERRORS: usize = 100;
const MAX_PATH: usize = 8 * 1024;
const MAX_QUERY: usize = 16 * 1024;
const MAX_USER_AGENT: usize = 8 * 1024;
/// A recorded body is cut at 64 KiB by the sender; its JSON form may be longer (escapes).
const MAX_BODY_JSON: usize = 1024 * 1024;
/// Integers above this lose precision in RFC 8785 canonical JSON (IEEE 754 doubles).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The body as received: events stay raw JSON until each is checked on its own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBatch {
    pub transactions: Vec<Value>,
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
    let event: Event = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        vec![(field, platform::json::clean_serde_message(&e.into_inner()))]
    })?;
    let errors = limits(&event);
    if errors.is_empty() {
        Ok(event)
    } else {
        Err(errors)
    }
}

fn limits(e: &Event) -> FieldErrors {
    let mut errors = FieldErrors::new();
    let mut check = |ok: bool, field: &str, message: &str| {
        if !ok {
            errors.push((field.to_owned(), message.to_owned()));
        }
    };
    let chars = |s: &str, min: usize, max: usize| (min..=max).contains(&s.chars().count());
    let optional = |s: &Option<String>, max: usize| s.as_ref().is_none_or(|s| s.len() <= max);
    check(
        chars(&e.source, 1, 64),
        "source",
        "must be 1 to 64 characters",
    );
    check(
        chars(&e.operation, 1, 64),
        "operation",
        "must be 1 to 64 characters",
    );
    check(
        e.order_id.as_ref().is_none_or(|id| chars(id, 1, 128)),
        "order_id",
        "must be 1 to 128 characters or null",
    );
    if let Some(actor) = &e.actor {
        check(
            chars(&actor.sub, 1, 255),
            "actor.sub",
            "must be 1 to 255 characters",
        );
        check(
            actor.scopes.len() <= 100,
            "actor.scopes",
            "must hold at most 100 scopes",
        );
        check(
            actor.scopes.iter().all(|s| chars(s, 1, 256)),
            "actor.scopes",
            "each scope must be 1 to 256 characters",
        );
    }
    let r = &e.request;
    check(
        chars(&r.method, 1, 16),
        "request.method",
        "must be 1 to 16 characters",
    );
    check(
        !r.path.is_empty() && r.path.len() <= MAX_PATH,
        "request.path",
        "must be 1 byte to 8 KiB",
    );
    check(
        optional(&r.query, MAX_QUERY),
        "request.query",
        "must be at most 16 KiB",
    );
    check(
        chars(&r.request_id, 1, 128),
        "request.request_id",
        "must be 1 to 128 characters",
    );
    check(
        optional(&r.client_ip, 64),
        "request.client_ip",
        "must be at most 64 bytes",
    );
    check(
        optional(&r.user_agent, MAX_USER_AGENT),
        "request.user_agent",
        "must be at most 8 KiB",
    );
    check(
        body_fits(&r.body),
        "request.body",
        "must be at most 1 MiB as JSON",
    );
    check(
        (100..=599).contains(&e.response.status),
        "response.status",
        "must be an HTTP status 100 to 599",
    );
    check(
        body_fits(&e.response.body),
        "response.body",
        "must be at most 1 MiB as JSON",
    );
    check(
        e.duration_us <= MAX_SAFE_INTEGER,
        "duration_us",
        "must be at most 2^53 - 1",
    );
    let trace_ok = e.trace_id.as_ref().is_none_or(|t| {
        t.len() == 32
            && t.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    check(
        trace_ok,
        "trace_id",
        "must be 32 lowercase hex digits or null",
    );
    errors
}

fn body_fits(body: &Option<Value>) -> bool {
    body.as_ref()
        .is_none_or(|b| serde_json::to_vec(b).is_ok_and(|v| v.len() <= MAX_BODY_JSON))
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
