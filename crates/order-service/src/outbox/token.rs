use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

/// How the relay authenticates to the transaction log.
#[derive(Clone)]
pub enum TxlogAuth {
    Static(String),
    ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: String,
        scope: Option<String>,
    },
}

impl std::fmt::Debug for TxlogAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Static(_) => f.write_str("Static(redacted)"),
            Self::ClientCredentials {
                token_url,
                client_id,
                scope,
                ..
            } => f
                .debug_struct("ClientCredentials")
                .field("token_url", token_url)
                .field("client_id", client_id)
                .field("client_secret", &"redacted")
                .field("scope", scope)
                .finish(),
        }
    }
}

/// Renew a cached token this long before it expires.
const RENEW_MARGIN: Duration = Duration::from_secs(30);

/// Bearer tokens for delivery: a static one, or OAuth2 client credentials cached until
/// shortly before they expire.
pub struct TokenSource {
    auth: TxlogAuth,
    http: reqwest::Client,
    cached: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

impl TokenSource {
    pub fn new(auth: TxlogAuth, http: reqwest::Client) -> Self {
        Self {
            auth,
            http,
            cached: Mutex::new(None),
        }
    }

    pub async fn token(&self) -> anyhow::Result<String> {
        let (token_url, client_id, client_secret, scope) = match &self.auth {
            TxlogAuth::Static(token) => return Ok(token.clone()),
            TxlogAuth::ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            } => (token_url, client_id, client_secret, scope),
        };
        let mut cached = self.cached.lock().await;
        if let Some((token, renew_at)) = cached.as_ref() {
            if Instant::now() < *renew_at {
                return Ok(token.clone());
            }
        }
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let response = self
            .http
            .post(token_url)
            .basic_auth(client_id, Some(client_secret))
            .form(&form)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("token request to {token_url} failed: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("token request to {token_url} answered {status}");
        }
        let body: TokenResponse = response.json().await?;
        let lifetime = Duration::from_secs(body.expires_in.unwrap_or(300));
        let renew_at = Instant::now() + lifetime.saturating_sub(RENEW_MARGIN).max(lifetime / 2);
        *cached = Some((body.access_token.clone(), renew_at));
        Ok(body.access_token)
    }

    /// Forgets the cached token (after the transaction log refused it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}
