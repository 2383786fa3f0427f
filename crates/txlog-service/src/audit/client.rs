//! The few requests the auditor makes, with the token and a timeout.

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tlog_tiles::Hash;
use txlog_api::ConsistencyProof;
use txlog_verify::json::Plain;

use super::{failed, parse_hashes, AuditError};

const TIMEOUT: Duration = Duration::from_secs(60);

pub struct LogClient {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

impl LogClient {
    pub fn new(base: &str, token: Option<String>) -> Result<LogClient, AuditError> {
        let base = Url::parse(base)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| AuditError::Usage(format!("--log {base:?} is not an http(s) URL")))?;
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| AuditError::Usage(format!("HTTP client: {e}")))?;
        Ok(LogClient { http, base, token })
    }

    async fn get(&self, path_and_query: &str) -> Result<reqwest::Response, AuditError> {
        let url = self
            .base
            .join(path_and_query)
            .map_err(|e| AuditError::Usage(format!("{path_and_query}: {e}")))?;
        let mut request = self.http.get(url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| AuditError::Usage(format!("GET {url}: {e}")))?;
        match response.status() {
            StatusCode::OK => Ok(response),
            status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => Err(AuditError::Usage(
                format!("GET {url}: {status}: the log needs a --token with txlog:read"),
            )),
            status => Err(AuditError::Usage(format!(
                "GET {url}: {status}: {}",
                response.text().await.unwrap_or_default()
            ))),
        }
    }

    async fn json<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, AuditError> {
        self.get(path_and_query)
            .await?
            .json()
            .await
            .map_err(|e| failed(format!("GET {path_and_query}: not the expected JSON: {e}")))
    }

    /// The latest signed checkpoint note.
    pub async fn checkpoint(&self) -> Result<Vec<u8>, AuditError> {
        let response = self.get("/v1/checkpoint").await?;
        let body = response
            .bytes()
            .await
            .map_err(|e| AuditError::Usage(format!("GET /v1/checkpoint: {e}")))?;
        Ok(body.to_vec())
    }

    pub async fn consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>, AuditError> {
        let proof: ConsistencyProof = self
            .json(&format!("/v1/proofs/consistency?from={from}&to={to}"))
            .await?;
        if (proof.from, proof.to) != (from, to) {
            return Err(failed(format!(
                "consistency from size {from} to {to}: the log answered for {} to {}",
                proof.from, proof.to
            )));
        }
        parse_hashes(&proof.hashes)
    }

    /// One page of records in `seq` order, and the cursor of the next.
    pub async fn records(
        &self,
        cursor: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>), AuditError> {
        let mut path = "/v1/transactions?order=asc&limit=500".to_owned();
        if let Some(cursor) = cursor {
            path.push_str("&cursor=");
            path.push_str(cursor);
        }
        // Every key read as a plain key: a record may hold any body a caller sent.
        let page: RecordsPage = self.json(&path).await?;
        let items = page.items.into_iter().map(|p| p.0).collect();
        let next = page.next_cursor;
        Ok((items, next))
    }
}

/// A page of `GET /v1/transactions` as the auditor reads it.
#[derive(serde::Deserialize)]
struct RecordsPage {
    items: Vec<Plain>,
    next_cursor: Option<String>,
}
