use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use platform::context::{RequestContext, REQUEST_ID_HEADER, TRACEPARENT_HEADER};
use tracing::Instrument;
use txlog_api::BatchResult;

use super::TokenSource;
use crate::store::{OutboxEvent, Refusal};

/// Largest request body sent to the transaction log; bigger batches go in several requests.
const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// Characters of the log's answer kept with a refused event.
const MAX_REASON_CHARS: usize = 2000;

/// How the transaction log answered one request.
enum Answer {
    /// Every event is stored (or was before).
    Stored,
    /// A 4xx about the events themselves (see [`refuses_the_events`]): sending the same
    /// events again can never succeed. One invalid event refuses the whole batch (SPEC 8).
    Refused { status: u16, reason: String },
}

/// Whether a 4xx answer is about the events themselves, so that they are set aside rather
/// than sent again. The others are about the delivery, not the events — its token (401,
/// 403), the log's address (404, 405), or the moment (408, 409, 425, 429) — and are retried
/// like a 5xx or a network error: setting every event aside for a misconfigured token would
/// empty the outbox into the dead-letter table.
fn refuses_the_events(status: reqwest::StatusCode) -> bool {
    status.is_client_error()
        && !matches!(
            status.as_u16(),
            401 | 403 | 404 | 405 | 407 | 408 | 409 | 421 | 425 | 429
        )
}

/// Receives a batch of outbox events. `Ok` means every event is durably delivered, except
/// those it returns: the ones the receiver refused for good. `Err` means try again later.
#[async_trait]
pub trait Deliver: Send + Sync {
    async fn deliver(&self, events: Vec<OutboxEvent>) -> anyhow::Result<Vec<Refusal>>;
}

/// Posts outbox events to `POST /v1/transactions`.
pub struct TxlogClient {
    url: String,
    http: reqwest::Client,
    tokens: Arc<TokenSource>,
}

impl TxlogClient {
    pub fn new(base_url: &str, http: reqwest::Client, tokens: Arc<TokenSource>) -> Self {
        Self {
            url: format!("{}/v1/transactions", base_url.trim_end_matches('/')),
            http,
            tokens,
        }
    }

    /// One request; its span continues the trace of the batch's first call, and the
    /// transaction log continues it in turn (`traceparent`).
    async fn post(&self, events: &[OutboxEvent]) -> anyhow::Result<Answer> {
        let span = tracing::info_span!(
            "deliver business transactions",
            otel.kind = "client",
            events = events.len()
        );
        let ctx =
            RequestContext::for_span(&span, events.first().and_then(|e| e.traceparent.as_deref()));
        self.send(events, &ctx).instrument(span).await
    }

    async fn send(&self, events: &[OutboxEvent], ctx: &RequestContext) -> anyhow::Result<Answer> {
        metrics::counter!("outbox_delivery_attempts_total").increment(1);
        let mut body =
            String::with_capacity(events.iter().map(|e| e.payload.len() + 1).sum::<usize>() + 32);
        body.push_str("{\"transactions\":[");
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&event.payload);
        }
        body.push_str("]}");
        let request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header(TRACEPARENT_HEADER, ctx.traceparent())
            .header(REQUEST_ID_HEADER, &ctx.request_id)
            .timeout(Duration::from_secs(30))
            .body(body)
            .bearer_auth(self.tokens.token().await?);
        let response = request
            .send()
            .await
            .map_err(|e| anyhow::Error::new(e).context(format!("POST {} failed", self.url)))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            self.tokens.invalidate().await;
        }
        if !status.is_success() {
            let detail: String = response
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(MAX_REASON_CHARS)
                .collect();
            if refuses_the_events(status) {
                return Ok(Answer::Refused {
                    status: status.as_u16(),
                    reason: detail,
                });
            }
            let detail: String = detail.chars().take(500).collect();
            anyhow::bail!("POST {} answered {status}: {detail}", self.url);
        }
        let result: BatchResult = response.json().await?;
        if result.results.len() != events.len() {
            anyhow::bail!(
                "the transaction log acknowledged {} of {} events",
                result.results.len(),
                events.len()
            );
        }
        Ok(Answer::Stored)
    }

    /// Posts `events`; when the log refuses them, halves the batch until each refused event
    /// stands alone, so that the valid events around it are still stored (the log refuses a
    /// whole batch for one invalid event). Oldest first; appends the refused ones to `refused`.
    async fn post_finding_refusals(
        &self,
        events: &[OutboxEvent],
        refused: &mut Vec<Refusal>,
    ) -> anyhow::Result<()> {
        let mut pending = vec![events];
        while let Some(part) = pending.pop() {
            match self.post(part).await? {
                Answer::Stored => {}
                Answer::Refused { status, reason } => match part {
                    [event] => refused.push(Refusal {
                        event_id: event.event_id,
                        status,
                        reason,
                    }),
                    _ => {
                        let (older, newer) = part.split_at(part.len() / 2);
                        pending.push(newer);
                        pending.push(older);
                    }
                },
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Deliver for TxlogClient {
    async fn deliver(&self, events: Vec<OutboxEvent>) -> anyhow::Result<Vec<Refusal>> {
        let mut refused = Vec::new();
        let mut start = 0;
        while start < events.len() {
            let mut end = start;
            let mut size = 0;
            while end < events.len()
                && (end == start || size + events[end].payload.len() < MAX_REQUEST_BYTES)
            {
                size += events[end].payload.len() + 1;
                end += 1;
            }
            self.post_finding_refusals(&events[start..end], &mut refused)
                .await?;
            start = end;
        }
        Ok(refused)
    }
}
