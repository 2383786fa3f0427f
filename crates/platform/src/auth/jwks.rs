use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use super::keys::{select, VerificationKey};

/// An unknown `kid` triggers at most one refresh per this interval.
const REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// After a failed fetch, the next attempt waits at least this long.
const RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// Keys older than this are fetched again, so that a key the provider has removed stops
/// verifying once a fetch succeeds. While the provider cannot be reached, the keys last fetched
/// keep verifying.
const MAX_AGE: Duration = Duration::from_secs(600);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Cache {
    keys: Vec<VerificationKey>,
    jwks_uri: Option<String>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

/// Signing keys fetched from a JWKS URL, found directly or through OIDC discovery.
pub struct JwksSource {
    issuer: Option<String>,
    cache: RwLock<Cache>,
    refresh_lock: Mutex<()>,
    http: reqwest::Client,
}

impl JwksSource {
    pub fn from_url(url: &str) -> Self {
        Self::new(None, Some(url.to_owned()))
    }

    pub fn from_issuer(issuer: &str) -> Self {
        Self::new(Some(issuer.to_owned()), None)
    }

    fn new(issuer: Option<String>, jwks_uri: Option<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .unwrap_or_default();
        let cache = Cache {
            jwks_uri,
            ..Cache::default()
        };
        Self {
            issuer,
            cache: RwLock::new(cache),
            refresh_lock: Mutex::new(()),
            http,
        }
    }

    /// Keys that may verify a token with this header; refreshes the set (rate limited) when
    /// the token names a `kid` we do not know, or when the set is old.
    pub async fn candidates(&self, header: &jsonwebtoken::Header) -> Vec<VerificationKey> {
        let (found, stale) = {
            let cache = self.cache.read().await;
            let stale = cache.fetched_at.is_none_or(|t| t.elapsed() > MAX_AGE);
            (select(&cache.keys, header), stale)
        };
        if !found.is_empty() && !stale {
            return found;
        }
        if let Err(e) = self.refresh(false).await {
            tracing::warn!(error = %e, "could not refresh the token signing keys");
        }
        select(&self.cache.read().await.keys, header)
    }

    /// Fetches the key set unless one was fetched recently (`force` skips the success interval).
    pub async fn refresh(&self, force: bool) -> anyhow::Result<()> {
        let _guard = self.refresh_lock.lock().await;
        {
            let cache = self.cache.read().await;
            let recent_success = cache
                .fetched_at
                .is_some_and(|t| t.elapsed() < REFRESH_INTERVAL);
            let recent_attempt = cache
                .attempted_at
                .is_some_and(|t| t.elapsed() < RETRY_INTERVAL);
            if !force && (recent_success || recent_attempt) {
                return Ok(());
            }
        }
        self.cache.write().await.attempted_at = Some(Instant::now());
        let jwks_uri = match self.cache.read().await.jwks_uri.clone() {
            Some(uri) => uri,
            None => self.discover().await?,
        };
        let body: Value = self
            .http
            .get(&jwks_uri)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let keys: Vec<VerificationKey> = body
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| anyhow::anyhow!("the JWKS at {jwks_uri} has no keys array"))?
            .iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
            .filter_map(|jwk| VerificationKey::from_jwk(&jwk))
            .collect();
        tracing::info!(keys = keys.len(), jwks_uri = %jwks_uri, "token signing keys fetched");
        let mut cache = self.cache.write().await;
        cache.keys = keys;
        cache.jwks_uri = Some(jwks_uri);
        cache.fetched_at = Some(Instant::now());
        Ok(())
    }

    async fn discover(&self) -> anyhow::Result<String> {
        let issuer = self
            .issuer
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("no issuer to discover"))?;
        let url = format!("{issuer}/.well-known/openid-configuration");
        let doc: Value = self
            .http
            .get(&url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let announced = doc
            .get("issuer")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if announced.trim_end_matches('/') != issuer {
            anyhow::bail!(
                "the discovery document at {url} names issuer {announced:?}, not {issuer:?}"
            );
        }
        doc.get("jwks_uri")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("the discovery document at {url} has no jwks_uri"))
    }
}
