use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use platform::context::{RequestContext, REQUEST_ID_HEADER, TRACEPARENT_HEADER};
use tracing::Instrument;
use txlog_api::BatchResult;

use super::TokenSource;
use crate::store::{Deliver, OutboxEvent};

/// Largest request body sent to the transaction log; bigger batches go in several requests.
const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

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
    async fn post(&self, events: &[OutboxEvent]) -> anyhow::Result<()> {
        let span = tracing::info_span!(
            "deliver business transactions",
            otel.kind = "client",
            events = events.len()
        );
        let ctx =
            RequestContext::for_span(&span, events.first().and_then(|e| e.traceparent.as_deref()));
        self.send(events, &ctx).instrument(span).await
    }

    async fn send(&self, events: &[OutboxEvent], ctx: &RequestContext) -> anyhow::Result<()> {
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
                .take(500)
                .collect();
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
        Ok(())
    }
}

#[async_trait]
impl Deliver for TxlogClient {
    async fn deliver(&self, events: Vec<OutboxEvent>) -> anyhow::Result<()> {
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
            self.post(&events[start..end]).await?;
            start = end;
        }
        Ok(())
    }
}
