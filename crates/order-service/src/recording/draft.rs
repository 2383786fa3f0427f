use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::OriginalUri;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use chrono::Utc;
use platform::auth::Principal;
use platform::context::RequestContext;
use txlog_api::{body_from_bytes, limits, Actor, Event, Outcome, RequestRecord, ResponseRecord};
use uuid::Uuid;

use super::policy::{BodyDigest, BodyPolicy};
use super::Operation;
use crate::store::OutboxEvent;

/// What is known of a call when its request arrives; finished into an [`Event`] once the
/// response is known.
#[derive(Debug, Clone)]
pub struct EventDraft {
    event_id: Uuid,
    operation: Operation,
    started: Instant,
    occurred_at: chrono::DateTime<Utc>,
    request: RequestRecord,
    /// Filled in once the body was read (after authentication); absent for refused calls.
    body: OnceLock<(Option<serde_json::Value>, bool)>,
    /// Digest of the whole request body: set with `body`, or by the recording middleware,
    /// which reads the body of a call refused before it was read.
    digest: OnceLock<BodyDigest>,
    trace_id: Option<String>,
    traceparent: Option<String>,
}

impl EventDraft {
    pub fn new(
        parts: &Parts,
        operation: Operation,
        ctx: Option<&RequestContext>,
        client_ip: String,
    ) -> Self {
        // The URI as the client sent it: the `/v1/` router sees it without its prefix.
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(&parts.uri, |original| &original.0);
        // Kept whole here: `finish` cuts every field to the log's limits (`txlog_api::limits`)
        // and names what it cut in the event's `truncated`.
        let text = |name: header::HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            event_id: Uuid::now_v7(),
            operation,
            started: Instant::now(),
            occurred_at: Utc::now(),
            request: RequestRecord {
                method: parts.method.as_str().to_owned(),
                path: uri.path().to_owned(),
                query: uri.query().map(str::to_owned),
                request_id: ctx.map(|c| c.request_id.clone()).unwrap_or_default(),
                client_ip: Some(client_ip).filter(|ip| !ip.is_empty()),
                user_agent: text(header::USER_AGENT),
                body: None,
                body_truncated: false,
                body_bytes: None,
                body_sha256: None,
            },
            body: OnceLock::new(),
            digest: OnceLock::new(),
            trace_id: ctx.map(|c| c.trace_id.clone()),
            traceparent: ctx.map(RequestContext::traceparent),
        }
    }

    /// Records the request body (cut at 64 KiB) and its digest.
    pub fn set_body(&self, bytes: &[u8]) {
        let _ = self.body.set(body_from_bytes(bytes));
        self.set_digest(BodyDigest::of(bytes));
    }

    /// Records only the digest of the request body (read for nothing else).
    pub fn set_digest(&self, digest: BodyDigest) {
        let _ = self.digest.set(digest);
    }

    pub fn operation(&self) -> Operation {
        self.operation
    }

    pub fn has_digest(&self) -> bool {
        self.digest.get().is_some()
    }

    /// The finished event for a response: what [`BodyPolicy`] keeps of the bodies, cut to
    /// fit the transaction log's limits, and checked against them. `listed` is what a list
    /// disclosed. An event that cannot be encoded as JSON is an error, never an empty payload
    /// (the log would refuse it, and the call would be lost from the record).
    pub fn finish(
        &self,
        status: StatusCode,
        body: &[u8],
        actor: Option<&Principal>,
        order_id: Option<Uuid>,
        listed: Option<&[Uuid]>,
    ) -> Result<OutboxEvent, serde_json::Error> {
        let policy = BodyPolicy::for_call(actor.is_some(), self.operation, status);
        let mut request = self.request.clone();
        if let (true, Some((body, truncated))) = (policy.request_body, self.body.get()) {
            request.body = body.clone();
            request.body_truncated = *truncated;
        }
        if let Some(digest) = self.digest.get() {
            request.body_bytes = Some(digest.bytes);
            request.body_sha256 = Some(digest.sha256.clone());
        }
        let (response_body, response_truncated) = if policy.response_body {
            body_from_bytes(body)
        } else {
            (None, false)
        };
        let digest = BodyDigest::of(body);
        let mut event = Event {
            event_id: self.event_id,
            occurred_at: self.occurred_at,
            source: "order-service".to_owned(),
            operation: self.operation.as_str().to_owned(),
            outcome: Outcome::from_status(status.as_u16()),
            actor: actor.map(|p| Actor {
                sub: p.sub.clone(),
                scopes: p.scopes.iter().cloned().collect(),
            }),
            order_id: order_id.map(|id| id.to_string()),
            request,
            response: ResponseRecord {
                status: status.as_u16(),
                body: response_body,
                body_truncated: response_truncated,
                body_bytes: Some(digest.bytes),
                body_sha256: Some(digest.sha256),
                order_ids: listed
                    .filter(|_| policy.order_ids)
                    .map(|ids| ids.iter().map(Uuid::to_string).collect()),
            },
            duration_us: u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            trace_id: self.trace_id.clone(),
            truncated: Vec::new(),
        };
        fit_to_limits(&mut event);
        Ok(OutboxEvent {
            event_id: self.event_id,
            payload: serde_json::to_string(&event)?,
            traceparent: self.traceparent.clone(),
        })
    }
}

/// Cuts an event to the transaction log's limits, and checks it with the log's own check.
fn fit_to_limits(event: &mut Event) {
    limits::fit(event);
    if !event.truncated.is_empty() {
        tracing::warn!(
            event_id = %event.event_id,
            fields = ?event.truncated,
            "a business transaction was cut to fit the transaction log's limits"
        );
    }
    let violations = limits::check(event);
    if !violations.is_empty() {
        // Cannot happen after `fit`; if it does, delivery sets the event aside.
        metrics::counter!("outbox_invalid_events_total").increment(1);
        tracing::error!(
            event_id = %event.event_id,
            violations = ?violations,
            "a business transaction breaks the transaction log's limits"
        );
    }
}
