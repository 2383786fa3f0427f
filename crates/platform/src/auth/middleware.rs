use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AuthError, Verifier};
use crate::rate_limit::{RateLimit, RateLimiter};
use crate::Problem;

/// What the authentication middleware needs: the verifier and the rate limits.
#[derive(Clone)]
pub struct AuthState {
    pub verifier: Arc<Verifier>,
    pub rate_limiter: Arc<RateLimiter>,
}

impl AuthState {
    /// Authentication without rate limits.
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Self {
            verifier,
            rate_limiter: RateLimiter::new(RateLimit::off()),
        }
    }

    /// The same, with `limits` applied to `/v1/` calls.
    pub fn with_rate_limit(self, limits: RateLimit) -> Self {
        Self {
            rate_limiter: RateLimiter::new(limits),
            ..self
        }
    }
}

/// Middleware for the API's router (`/v1/`): verifies the bearer token and stores the
/// [`Principal`] in the request extensions (handlers take it as a [`super::Caller`]); refuses
/// with 401 otherwise, and with 429 over the rate limit (a valid token counts against its
/// `sub`, a missing or invalid one against the client address).
pub async fn authenticate(
    State(state): State<AuthState>,
    mut request: Request,
    next: Next,
) -> Response {
    let realm = state.verifier.realm();
    let result = match bearer(&request) {
        None => Err(AuthError::Missing),
        Some(token) => state.verifier.verify(token).await,
    };
    if result.is_err() {
        if let Err(limited) = state.rate_limiter.check_anonymous(client_ip(&request)) {
            return limited.into_response();
        }
    }
    match result {
        Ok(principal) => {
            if let Err(limited) = state.rate_limiter.check_caller(&principal.sub) {
                let mut response = limited.into_response();
                // The call recorder names the caller of a refused call too.
                response.extensions_mut().insert(principal);
                return response;
            }
            request.extensions_mut().insert(principal.clone());
            let mut response = next.run(request).await;
            // Outer layers (call recording) learn who called from the response.
            response.extensions_mut().insert(principal);
            response
        }
        Err(AuthError::Missing) => {
            Problem::unauthorized(realm, None, "a bearer token is required").into_response()
        }
        Err(AuthError::Invalid(why)) => Problem::unauthorized(
            realm,
            Some("invalid_token"),
            format!("the bearer token was refused: {why}"),
        )
        .into_response(),
    }
}

/// The client address ([`crate::client_addr::client_addr`]: through trusted proxies),
/// unspecified when the server did not say.
fn client_ip(request: &Request) -> IpAddr {
    crate::client_addr::client_addr(request).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
