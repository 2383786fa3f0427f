//! The few requests the auditor makes, with the token and a timeout.

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use txlog_verify::chain::FilterFields;
use txlog_verify::json::Plain;
use txlog_verify::Hash;

use super::{failed, AuditError};

const TIMEOUT: Duration = Duration::from_secs(60);
/// Records (and filter-field entries) per page.
pub const PAGE: u32 = 500;

pub struct LogClient {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

/// A page of records, or of the filter fields the log keeps beside them.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
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
        proof.hashes.iter().map(|h| parse_hash(h)).collect()
    }

    /// One page of records in `seq` order, each read with every key a plain key (a record may
    /// hold any body a caller sent).
    pub async fn records(&self, cursor: Option<&str>) -> Result<Page<Value>, AuditError> {
        let page: Listed<Plain> = self
            .json(&paged("/v1/transactions?order=asc&", cursor))
            .await?;
        Ok(Page {
            items: page.items.into_iter().map(|p| p.0).collect(),
            next: page.next_cursor,
        })
    }

    /// One page of the filter fields the log keeps beside its records, in `seq` order.
    pub async fn filter_fields(
        &self,
        cursor: Option<&str>,
    ) -> Result<Page<FilterFields>, AuditError> {
        let page: Listed<FilterFields> =
            self.json(&paged("/v1/transactions/index?", cursor)).await?;
        Ok(Page {
            items: page.items,
            next: page.next_cursor,
        })
    }
}

/// `path` (ending in `?` or `&`) with the page size and the cursor.
fn paged(path: &str, cursor: Option<&str>) -> String {
    match cursor {
        Some(cursor) => format!("{path}limit={PAGE}&cursor={cursor}"),
        None => format!("{path}limit={PAGE}"),
    }
}

/// A hex hash from a proof answer.
fn parse_hash(hash: &str) -> Result<Hash, AuditError> {
    hex::decode(hash)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .map(Hash)
        .ok_or_else(|| failed(format!("a proof hash is not 32 bytes of hex: {hash:?}")))
}

/// A list answer: `{"items": [...], "next_cursor": ...}`.
#[derive(serde::Deserialize)]
struct Listed<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

/// `GET /v1/proofs/consistency`'s answer.
#[derive(serde::Deserialize)]
struct ConsistencyProof {
    from: u64,
    to: u64,
    hashes: Vec<String>,
}
