//! The authenticated caller of a `/v1/` request and its scope checks.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use platform::auth::{require_scope, Principal};
use platform::Problem;

use super::AppState;

pub const SCOPE_WRITE: &str = "txlog:write";
pub const SCOPE_READ: &str = "txlog:read";

/// The principal stored by the authentication middleware.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| {
                Problem::unauthorized(state.verifier.realm(), None, "a bearer token is required")
            })
    }
}

impl Caller {
    /// 403 `insufficient_scope` unless the caller holds `scope`.
    pub fn require(&self, state: &AppState, scope: &str) -> Result<(), Problem> {
        require_scope(&self.0, state.verifier.realm(), scope)
    }
}
