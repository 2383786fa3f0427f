use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use txlog_api::BatchResult;

use super::TokenSource;
use crate::store::Deliver;

/// Largest request body sent to the transaction log; bigger batches go in several requests.
const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

/// Posts outbox payloads to `POST /v1/transactions`.
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

    async fn post(&self, payloads: &[String]) -> anyhow::Result<()> {
        let mut body =
            String::with_capacity(payloads.iter().map(|p| p.len() + 1).sum::<usize>() + 32);
        body.push_str("{\"transactions\":[");
        for (i, payload) in payloads.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(payload);
        }
        body.push_str("]}");
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .timeout(Duration::from_secs(30))
            .body(body);
        if let Some(token) = self.tokens.token().await? {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("POST {} failed: {e}", self.url))?;
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
        if result.results.len() != payloads.len() {
            anyhow::bail!(
                "the transaction log acknowledged {} of {} events",
                result.results.len(),
                payloads.len()
            );
        }
        Ok(())
    }
}

#[async_trait]
impl Deliver for TxlogClient {
    async fn deliver(&self, payloads: Vec<String>) -> anyhow::Result<()> {
        let mut start = 0;
        while start < payloads.len() {
            let mut end = start;
            let mut size = 0;
            while end < payloads.len()
                && (end == start || size + payloads[end].len() < MAX_REQUEST_BYTES)
            {
                size += payloads[end].len() + 1;
                end += 1;
            }
            self.post(&payloads[start..end]).await?;
            start = end;
        }
        Ok(())
    }
}
