//! The limits an event must keep to be stored, in one place: the transaction log refuses an
//! event that breaks one ([`check`], 422), and the order service makes every event fit
//! ([`fit`]) and checks it with the same [`check`] before writing it to its outbox, so that
//! one odd caller (a token with 150 scopes) can never make the log refuse a batch.

use serde_json::Value;

use crate::{Actor, Event, RequestRecord, ResponseRecord};

/// Events in one `POST /v1/transactions` body.
pub const MAX_BATCH: usize = 1000;
/// `actor.scopes` entries.
pub const MAX_SCOPES: usize = 100;
/// Characters of one scope.
pub const MAX_SCOPE_CHARS: usize = 256;
/// Characters of `actor.sub`.
pub const MAX_SUB_CHARS: usize = 255;
/// Characters of `source` and of `operation`.
pub const MAX_NAME_CHARS: usize = 64;
/// Characters of `order_id`.
pub const MAX_ORDER_ID_CHARS: usize = 128;
/// Characters of `request.method`.
pub const MAX_METHOD_CHARS: usize = 16;
/// Bytes of `request.path`.
pub const MAX_PATH_BYTES: usize = 8 * 1024;
/// Bytes of `request.query`.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Characters of `request.request_id`.
pub const MAX_REQUEST_ID_CHARS: usize = 128;
/// Bytes of `request.client_ip`.
pub const MAX_CLIENT_IP_BYTES: usize = 64;
/// Bytes of `request.user_agent`.
pub const MAX_USER_AGENT_BYTES: usize = 8 * 1024;
/// A recorded body is cut at 64 KiB by the sender; its JSON form may be longer (escapes).
pub const MAX_BODY_JSON_BYTES: usize = 1024 * 1024;
/// Entries of `response.order_ids` (a page of `GET /v1/orders` holds at most 200).
pub const MAX_ORDER_IDS: usize = 1000;
/// Entries of `truncated`.
pub const MAX_TRUNCATED: usize = 32;
/// Integers above this lose precision in RFC 8785 canonical JSON (IEEE 754 doubles).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A body the log could not keep exactly as sent: its canonical form (RFC 8785, numbers as
/// IEEE 754 doubles) would read back as a different body. Senders record such a body as text.
const INEXACT_BODY: &str =
    "must hold no integer beyond 2^53 that canonical JSON (RFC 8785) would write as another number";

/// One broken limit: the field's path in the event and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: &'static str,
    pub message: &'static str,
}

/// Every limit `event` breaks, in field order; empty when it may be stored.
pub fn check(e: &Event) -> Vec<Violation> {
    let mut v = Violations::default();
    v.check(
        chars(&e.source, 1, MAX_NAME_CHARS),
        "source",
        "must be 1 to 64 characters",
    );
    v.check(
        chars(&e.operation, 1, MAX_NAME_CHARS),
        "operation",
        "must be 1 to 64 characters",
    );
    v.check(
        e.order_id
            .as_ref()
            .is_none_or(|id| chars(id, 1, MAX_ORDER_ID_CHARS)),
        "order_id",
        "must be 1 to 128 characters or null",
    );
    if let Some(actor) = &e.actor {
        v.actor(actor);
    }
    v.request(&e.request);
    v.response(&e.response);
    v.check(
        e.duration_us <= MAX_SAFE_INTEGER,
        "duration_us",
        "must be at most 2^53 - 1",
    );
    v.check(
        e.trace_id.as_deref().is_none_or(is_trace_id),
        "trace_id",
        "must be 32 lowercase hex digits or null",
    );
    v.check(
        e.truncated.len() <= MAX_TRUNCATED && e.truncated.iter().all(|f| chars(f, 1, 64)),
        "truncated",
        "must hold at most 32 field names of 1 to 64 characters",
    );
    v.0
}

/// What [`check`] has found so far.
#[derive(Default)]
struct Violations(Vec<Violation>);

impl Violations {
    fn check(&mut self, ok: bool, field: &'static str, message: &'static str) {
        if !ok {
            self.0.push(Violation { field, message });
        }
    }

    fn actor(&mut self, actor: &Actor) {
        self.check(
            chars(&actor.sub, 1, MAX_SUB_CHARS),
            "actor.sub",
            "must be 1 to 255 characters",
        );
        self.check(
            actor.scopes.len() <= MAX_SCOPES,
            "actor.scopes",
            "must hold at most 100 scopes",
        );
        self.check(
            actor.scopes.iter().all(|s| scope_fits(s)),
            "actor.scopes",
            "each scope must be 1 to 256 characters",
        );
    }

    fn request(&mut self, r: &RequestRecord) {
        let optional = |s: &Option<String>, max: usize| s.as_ref().is_none_or(|s| s.len() <= max);
        self.check(
            chars(&r.method, 1, MAX_METHOD_CHARS),
            "request.method",
            "must be 1 to 16 characters",
        );
        self.check(
            !r.path.is_empty() && r.path.len() <= MAX_PATH_BYTES,
            "request.path",
            "must be 1 byte to 8 KiB",
        );
        self.check(
            optional(&r.query, MAX_QUERY_BYTES),
            "request.query",
            "must be at most 16 KiB",
        );
        self.check(
            chars(&r.request_id, 1, MAX_REQUEST_ID_CHARS),
            "request.request_id",
            "must be 1 to 128 characters",
        );
        self.check(
            optional(&r.client_ip, MAX_CLIENT_IP_BYTES),
            "request.client_ip",
            "must be at most 64 bytes",
        );
        self.check(
            optional(&r.user_agent, MAX_USER_AGENT_BYTES),
            "request.user_agent",
            "must be at most 8 KiB",
        );
        self.check(
            body_fits(&r.body),
            "request.body",
            "must be at most 1 MiB as JSON",
        );
        self.check(body_exact(&r.body), "request.body", INEXACT_BODY);
        self.check(
            r.body_bytes.is_none_or(|n| n <= MAX_SAFE_INTEGER),
            "request.body_bytes",
            "must be at most 2^53 - 1",
        );
        self.check(
            r.body_sha256.as_deref().is_none_or(is_sha256_hex),
            "request.body_sha256",
            "must be 64 lowercase hex digits",
        );
    }

    fn response(&mut self, s: &ResponseRecord) {
        self.check(
            (100..=599).contains(&s.status),
            "response.status",
            "must be an HTTP status 100 to 599",
        );
        self.check(
            body_fits(&s.body),
            "response.body",
            "must be at most 1 MiB as JSON",
        );
        self.check(body_exact(&s.body), "response.body", INEXACT_BODY);
        self.check(
            s.body_bytes.is_none_or(|n| n <= MAX_SAFE_INTEGER),
            "response.body_bytes",
            "must be at most 2^53 - 1",
        );
        self.check(
            s.body_sha256.as_deref().is_none_or(is_sha256_hex),
            "response.body_sha256",
            "must be 64 lowercase hex digits",
        );
        self.check(
            s.order_ids.as_ref().is_none_or(|ids| {
                ids.len() <= MAX_ORDER_IDS && ids.iter().all(|id| chars(id, 1, MAX_ORDER_ID_CHARS))
            }),
            "response.order_ids",
            "must hold at most 1000 ids of 1 to 128 characters",
        );
    }
}

/// Makes `event` keep every limit of [`check`] by cutting what is too long, and names each
/// field it changed in `event.truncated`. Scopes that are empty or too long are dropped (a
/// cut scope would name a permission nobody granted), then the first 100 are kept. Bodies
/// are cut at 64 KiB when recorded, which keeps them far below 1 MiB; one holding a number the
/// log cannot keep exactly becomes its text.
pub fn fit(event: &mut Event) {
    let mut cut: Vec<&'static str> = Vec::new();
    if let Some(actor) = &mut event.actor {
        fit_actor(actor, &mut cut);
    }
    fit_request(&mut event.request, event.event_id, &mut cut);
    if let Some(ids) = &mut event.response.order_ids {
        if ids.len() > MAX_ORDER_IDS {
            ids.truncate(MAX_ORDER_IDS);
            cut.push("response.order_ids");
        }
    }
    for body in [&mut event.request.body, &mut event.response.body] {
        exact_or_text(body);
    }
    if event.duration_us > MAX_SAFE_INTEGER {
        event.duration_us = MAX_SAFE_INTEGER;
        cut.push("duration_us");
    }
    if event.trace_id.as_deref().is_some_and(|t| !is_trace_id(t)) {
        event.trace_id = None;
        cut.push("trace_id");
    }
    for field in cut {
        if !event.truncated.iter().any(|f| f == field) {
            event.truncated.push(field.to_owned());
        }
    }
}

/// A body the log could not keep exactly ([`INEXACT_BODY`]) becomes its JSON text, as the
/// recorder writes any body that is not JSON.
fn exact_or_text(body: &mut Option<Value>) {
    if !body_exact(body) {
        *body = body.as_ref().map(|b| Value::String(b.to_string()));
    }
}

fn fit_actor(actor: &mut Actor, cut: &mut Vec<&'static str>) {
    let before = actor.scopes.len();
    actor.scopes.retain(|s| scope_fits(s));
    actor.scopes.truncate(MAX_SCOPES);
    if actor.scopes.len() != before {
        cut.push("actor.scopes");
    }
    if actor.sub.is_empty() {
        actor.sub.push('-');
        cut.push("actor.sub");
    } else if cut_chars(&mut actor.sub, MAX_SUB_CHARS) {
        cut.push("actor.sub");
    }
}

/// `event_id` stands in for a missing `request_id`.
fn fit_request(r: &mut RequestRecord, event_id: uuid::Uuid, cut: &mut Vec<&'static str>) {
    if cut_chars(&mut r.method, MAX_METHOD_CHARS) {
        cut.push("request.method");
    }
    if r.path.is_empty() {
        r.path.push('/');
        cut.push("request.path");
    } else if cut_bytes(&mut r.path, MAX_PATH_BYTES) {
        cut.push("request.path");
    }
    if r.query
        .as_mut()
        .is_some_and(|q| cut_bytes(q, MAX_QUERY_BYTES))
    {
        cut.push("request.query");
    }
    if r.request_id.is_empty() {
        r.request_id = event_id.to_string();
        cut.push("request.request_id");
    } else if cut_chars(&mut r.request_id, MAX_REQUEST_ID_CHARS) {
        cut.push("request.request_id");
    }
    if r.client_ip
        .as_mut()
        .is_some_and(|ip| cut_bytes(ip, MAX_CLIENT_IP_BYTES))
    {
        cut.push("request.client_ip");
    }
    if r.user_agent
        .as_mut()
        .is_some_and(|ua| cut_bytes(ua, MAX_USER_AGENT_BYTES))
    {
        cut.push("request.user_agent");
    }
}

fn chars(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.chars().count())
}

fn scope_fits(scope: &str) -> bool {
    chars(scope, 1, MAX_SCOPE_CHARS)
}

fn body_fits(body: &Option<Value>) -> bool {
    body.as_ref().is_none_or(|b| {
        let mut size = JsonSize(0);
        serde_json::to_writer(&mut size, b).is_ok() && size.0 <= MAX_BODY_JSON_BYTES
    })
}

fn body_exact(body: &Option<Value>) -> bool {
    body.as_ref()
        .is_none_or(|b| txlog_verify::json::inexact_number(b).is_none())
}

/// Counts the bytes of JSON text written to it, without keeping them.
struct JsonSize(usize);

impl std::io::Write for JsonSize {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && is_lower_hex(s)
}

fn is_trace_id(s: &str) -> bool {
    s.len() == 32 && is_lower_hex(s)
}

/// Keeps the first `max` characters; true when something was cut.
fn cut_chars(s: &mut String, max: usize) -> bool {
    match s.char_indices().nth(max) {
        Some((end, _)) => {
            s.truncate(end);
            true
        }
        None => false,
    }
}

/// Keeps at most `max` bytes, ending on a character boundary; true when something was cut.
fn cut_bytes(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    true
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::{Actor, Outcome, RequestRecord, ResponseRecord};

    fn event() -> Event {
        Event {
            event_id: Uuid::now_v7(),
            occurred_at: Utc::now(),
            source: "order-service".into(),
            operation: "order.get".into(),
            outcome: Outcome::Success,
            actor: Some(Actor {
                sub: "alice".into(),
                scopes: vec!["orders:read".into()],
            }),
            order_id: None,
            request: RequestRecord {
                method: "GET".into(),
                path: "/v1/orders".into(),
                query: None,
                request_id: "r-1".into(),
                client_ip: None,
                user_agent: None,
                body: None,
                body_truncated: false,
                body_bytes: Some(0),
                body_sha256: Some(
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
                ),
            },
            response: ResponseRecord {
                status: 200,
                body: None,
                body_truncated: false,
                body_bytes: Some(2),
                body_sha256: Some(
                    "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a".into(),
                ),
                order_ids: Some(vec![]),
            },
            duration_us: 10,
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            truncated: Vec::new(),
        }
    }

    #[test]
    fn a_body_the_log_cannot_keep_exactly_is_refused_and_fitted_as_text() {
        let mut e = event();
        let big: Value = txlog_verify::json::from_str(r#"{"n":[9007199254740993]}"#).unwrap();
        e.request.body = Some(big.clone());
        e.response.body = Some(big);
        let fields: Vec<_> = check(&e).iter().map(|v| v.field).collect();
        assert_eq!(fields, ["request.body", "response.body"]);
        fit(&mut e);
        assert!(check(&e).is_empty());
        let text = Value::String(r#"{"n":[9007199254740993]}"#.into());
        assert_eq!(e.request.body, Some(text.clone()));
        assert_eq!(e.response.body, Some(text));
    }

    #[test]
    fn a_fitting_event_is_left_alone() {
        let mut e = event();
        assert_eq!(check(&e), []);
        fit(&mut e);
        assert_eq!(e, event_with_id(&e));
        assert!(e.truncated.is_empty());
    }

    fn event_with_id(e: &Event) -> Event {
        Event {
            event_id: e.event_id,
            occurred_at: e.occurred_at,
            ..event()
        }
    }

    #[test]
    fn too_many_and_too_long_scopes_are_dropped_and_marked() {
        let mut e = event();
        let actor = e.actor.as_mut().unwrap();
        actor.scopes = (0..150).map(|i| format!("scope-{i}")).collect();
        actor.scopes.insert(3, "s".repeat(300));
        actor.scopes.insert(5, String::new());
        let fields: Vec<_> = check(&e).into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["actor.scopes", "actor.scopes"]);
        fit(&mut e);
        assert_eq!(check(&e), []);
        let scopes = &e.actor.as_ref().unwrap().scopes;
        assert_eq!(scopes.len(), MAX_SCOPES);
        assert_eq!(scopes[0], "scope-0");
        assert_eq!(scopes[99], "scope-99");
        assert_eq!(e.truncated, ["actor.scopes"]);
    }

    #[test]
    fn every_text_is_cut_to_its_limit() {
        let mut e = event();
        e.actor.as_mut().unwrap().sub = "é".repeat(300);
        e.request.method = "M".repeat(40);
        e.request.path = format!("/{}", "p".repeat(9000));
        e.request.query = Some("ü".repeat(9000));
        e.request.request_id = String::new();
        e.request.client_ip = Some("1".repeat(100));
        e.request.user_agent = Some("a".repeat(9000));
        e.trace_id = Some("XYZ".into());
        e.duration_us = u64::MAX;
        assert_eq!(check(&e).len(), 9);
        fit(&mut e);
        assert_eq!(check(&e), []);
        assert_eq!(e.truncated.len(), 9);
        assert_eq!(e.request.request_id, e.event_id.to_string());
        // Marking twice does not repeat a field.
        fit(&mut e);
        assert_eq!(e.truncated.len(), 9);
    }

    #[test]
    fn digests_must_be_lowercase_hex() {
        let mut e = event();
        e.request.body_sha256 = Some("ABC".into());
        e.response.body_sha256 = Some("E".repeat(64));
        let fields: Vec<_> = check(&e).into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["request.body_sha256", "response.body_sha256"]);
    }
}
