//! Signing keys fetched from a JWKS URL, found directly or through OIDC discovery, and kept
//! fresh in the background.
//!
//! - A request whose `kid` is cached never waits on the network: the cache is read under a
//!   short synchronous lock, and fetches happen elsewhere.
//! - A background task fetches the set again before it expires (`Cache-Control: max-age`,
//!   clamped, or a default), and retries with backoff when the identity provider cannot be
//!   reached; the keys last fetched keep verifying meanwhile.
//! - One fetch at a time: concurrent callers that need fresh keys wait for the fetch in
//!   flight instead of starting their own.
//! - An unknown `kid` triggers a fetch at most once per [`UNKNOWN_KID_INTERVAL`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, CACHE_CONTROL};
use serde_json::Value;

use super::key::{from_jwks, select, VerificationKey};
use super::Clock;
use crate::config::is_secure;

/// An unknown `kid` triggers at most one fetch per this interval (counted from the last fetch
/// of any kind).
pub const UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(30);
/// How long a key set is fresh when the response has no usable `Cache-Control: max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);
/// Bounds on what `max-age` may ask for.
const MIN_MAX_AGE: Duration = Duration::from_secs(60);
const MAX_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// After a failed fetch the background task retries after this, doubling up to the maximum.
const RETRY_MIN: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(300);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Default)]
struct Cache {
    keys: Vec<VerificationKey>,
    jwks_uri: Option<String>,
    /// When the last fetch started, whether or not it succeeded.
    attempted_at: Option<Instant>,
    /// When the background task fetches next.
    refresh_at: Option<Instant>,
    /// Failed fetches in a row.
    failures: u32,
    /// Completed fetches, successful or not: a caller that waited for the fetch lock learns
    /// from it that someone else fetched meanwhile.
    generation: u64,
}

struct Shared {
    issuer: Option<String>,
    http: reqwest::Client,
    clock: Clock,
    cache: RwLock<Cache>,
    /// Held for the duration of a fetch: one at a time.
    fetch: tokio::sync::Mutex<()>,
    background: AtomicBool,
}

/// Signing keys fetched from a JWKS URL, found directly or through OIDC discovery.
pub struct JwksSource {
    shared: Arc<Shared>,
}

impl JwksSource {
    pub fn from_url(url: &str, clock: Clock) -> Self {
        Self::new(None, Some(url.to_owned()), clock)
    }

    pub fn from_issuer(issuer: &str, clock: Clock) -> Self {
        Self::new(Some(issuer.to_owned()), None, clock)
    }

    fn new(issuer: Option<String>, jwks_uri: Option<String>, clock: Clock) -> Self {
        let cache = Cache {
            jwks_uri,
            ..Cache::default()
        };
        Self {
            shared: Arc::new(Shared {
                issuer,
                http: http_client(),
                clock,
                cache: RwLock::new(cache),
                fetch: tokio::sync::Mutex::new(()),
                background: AtomicBool::new(false),
            }),
        }
    }

    /// Fetches the keys once (a failure is logged, not fatal) and starts the background
    /// refresh.
    pub async fn start(&self) {
        let generation = self.shared.read(|c| c.generation);
        self.shared.fetch_once_after(generation).await;
        self.spawn_background();
    }

    /// Keys that may verify a token with this header. Cached keys answer at once; a `kid` we
    /// do not know waits for a fetch, at most one per [`UNKNOWN_KID_INTERVAL`].
    pub async fn candidates(&self, header: &jsonwebtoken::Header) -> Vec<VerificationKey> {
        self.spawn_background();
        let now = self.shared.clock.now();
        let (found, generation, may_fetch) = self.shared.read(|c| {
            let may_fetch = c
                .attempted_at
                .is_none_or(|t| now.saturating_duration_since(t) >= UNKNOWN_KID_INTERVAL);
            (select(&c.keys, header), c.generation, may_fetch)
        });
        if !found.is_empty() || !may_fetch {
            return found;
        }
        self.shared.fetch_once_after(generation).await;
        self.shared.read(|c| select(&c.keys, header))
    }

    /// Changes whenever a fetch completed (successful or not): what was verified with the
    /// keys read before may not verify with the keys now, so remembered verifications end.
    pub fn key_generation(&self) -> u64 {
        self.spawn_background();
        self.shared.read(|c| c.generation)
    }

    /// Starts the background refresh once, if there is a Tokio runtime to run it on.
    fn spawn_background(&self) {
        if self.shared.background.load(Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !self.shared.background.swap(true, Ordering::AcqRel) {
            runtime.spawn(refresh_in_background(Arc::downgrade(&self.shared)));
        }
    }
}

/// Fetches the key set whenever it is due; ends when the source is dropped.
async fn refresh_in_background(shared: Weak<Shared>) {
    loop {
        let Some((clock, due)) = shared.upgrade().map(|s| (s.clock.clone(), s.due())) else {
            return;
        };
        if let Some(due) = due {
            clock.sleep_until(due).await;
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared.due().is_none_or(|due| shared.clock.now() >= due) {
            let generation = shared.read(|c| c.generation);
            shared.fetch_once_after(generation).await;
        }
    }
}

impl Shared {
    fn read<T>(&self, f: impl FnOnce(&Cache) -> T) -> T {
        f(&self.cache.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn write<T>(&self, f: impl FnOnce(&mut Cache) -> T) -> T {
        f(&mut self.cache.write().unwrap_or_else(|e| e.into_inner()))
    }

    /// When the next background fetch is due (None: now).
    fn due(&self) -> Option<Instant> {
        self.read(|c| c.refresh_at)
    }

    /// Fetches unless a fetch completed since the caller read `generation` (the caller waited
    /// for that one instead). One fetch at a time.
    async fn fetch_once_after(&self, generation: u64) {
        let _one_at_a_time = self.fetch.lock().await;
        if self.read(|c| c.generation) != generation {
            return;
        }
        let started = self.clock.now();
        self.write(|c| c.attempted_at = Some(started));
        let result = self.fetch().await;
        let now = self.clock.now();
        self.write(|c| {
            c.generation += 1;
            match result {
                Ok(fetched) => {
                    tracing::info!(keys = fetched.keys.len(), jwks_uri = %fetched.jwks_uri, max_age_secs = fetched.max_age.as_secs(), "token signing keys fetched");
                    c.keys = fetched.keys;
                    c.jwks_uri = Some(fetched.jwks_uri);
                    c.failures = 0;
                    // Well before they expire: at three quarters of their lifetime.
                    c.refresh_at = Some(now + fetched.max_age * 3 / 4);
                }
                Err(e) => {
                    c.failures = c.failures.saturating_add(1);
                    let backoff = RETRY_MIN
                        .saturating_mul(1 << c.failures.min(10).saturating_sub(1))
                        .min(RETRY_MAX);
                    c.refresh_at = Some(now + backoff);
                    tracing::warn!(error = %format!("{e:#}"), cached_keys = c.keys.len(), retry_in_secs = backoff.as_secs(), "could not fetch the token signing keys; the cached keys keep verifying");
                }
            }
        });
    }

    async fn fetch(&self) -> anyhow::Result<Fetched> {
        let jwks_uri = match self.read(|c| c.jwks_uri.clone()) {
            Some(uri) => uri,
            None => self.discover().await?,
        };
        let response = self.http.get(&jwks_uri).send().await?.error_for_status()?;
        let max_age = max_age(response.headers());
        let body: Value = response.json().await?;
        let keys = from_jwks(&body)
            .ok_or_else(|| anyhow::anyhow!("the JWKS at {jwks_uri} has no keys array"))?;
        if keys.is_empty() {
            // A provider never rotates to no key at all; keep the keys we have.
            anyhow::bail!("the JWKS at {jwks_uri} holds no key this service can verify with");
        }
        Ok(Fetched {
            keys,
            jwks_uri,
            max_age,
        })
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
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow::anyhow!("the discovery document at {url} has no jwks_uri"))?;
        match reqwest::Url::parse(jwks_uri) {
            Ok(parsed) if is_secure(&parsed) => Ok(jwks_uri.to_owned()),
            _ => anyhow::bail!(
                "the discovery document at {url} names jwks_uri {jwks_uri:?}, which is not https:// (or http:// to a loopback address)"
            ),
        }
    }
}

struct Fetched {
    keys: Vec<VerificationKey>,
    jwks_uri: String,
    max_age: Duration,
}

/// The client for the identity provider: bounded in time, and following a redirect only to
/// another URL that is https:// (or http:// to a loopback address).
fn http_client() -> reqwest::Client {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 5 {
            attempt.error("too many redirects")
        } else if is_secure(attempt.url()) {
            attempt.follow()
        } else {
            attempt.error("a redirect to a URL that is not https://")
        }
    });
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(redirects)
        .build()
        .unwrap_or_default()
}

/// How long the response may be cached: `Cache-Control: max-age`, clamped to
/// [`MIN_MAX_AGE`, `MAX_MAX_AGE`]; `no-cache`/`no-store` mean the minimum; otherwise the
/// default.
fn max_age(headers: &HeaderMap) -> Duration {
    let mut age = None;
    for directive in headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
    {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return MIN_MAX_AGE;
        }
        if let Some(secs) = lower.strip_prefix("max-age=") {
            age = secs
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age.unwrap_or(DEFAULT_MAX_AGE)
        .clamp(MIN_MAX_AGE, MAX_MAX_AGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(CACHE_CONTROL, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn max_age_comes_from_cache_control_within_bounds() {
        let secs = |values: &[&str]| max_age(&headers(values)).as_secs();
        assert_eq!(secs(&[]), 600);
        assert_eq!(secs(&["public, max-age=3600"]), 3600);
        assert_eq!(secs(&["Max-Age=900, must-revalidate"]), 900);
        assert_eq!(secs(&["max-age=5"]), 60);
        assert_eq!(secs(&["max-age=99999999"]), 24 * 3600);
        assert_eq!(secs(&["no-cache"]), 60);
        assert_eq!(secs(&["public", "max-age=120"]), 120);
        assert_eq!(secs(&["max-age=soon"]), 600);
    }
}
