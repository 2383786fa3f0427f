use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AuthError, Principal, Verifier};
use crate::Problem;

/// What the authentication middleware needs.
#[derive(Clone)]
pub struct AuthState {
    pub verifier: Arc<Verifier>,
}

/// Middleware for `/v1/` paths: verifies the bearer token and stores the [`Principal`] in the
/// request extensions; refuses with 401 otherwise. Other paths pass untouched.
pub async fn authenticate(
    State(state): State<AuthState>,
    mut request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with("/v1/") {
        return next.run(request).await;
    }
    let realm = state.verifier.realm();
    let result = match bearer(&request) {
        None => Err(AuthError::Missing),
        Some(token) => state.verifier.verify(token).await,
    };
    match result {
        Ok(principal) => {
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

fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// 403 `insufficient_scope` unless the caller holds `scope`.
pub fn require_scope(principal: &Principal, realm: &str, scope: &str) -> Result<(), Problem> {
    if principal.has(scope) {
        Ok(())
    } else {
        Err(Problem::insufficient_scope(realm, scope))
    }
}
