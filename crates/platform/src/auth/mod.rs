//! JWT verification (SPEC section 4): HS256 secret, public-key PEM, JWKS URL or OIDC discovery.

mod claims;
mod config;
pub mod dev;
mod jwks;
mod keys;
mod middleware;

pub use claims::Principal;
pub use config::{AuthConfig, KeyConfig};
pub use jwks::JwksSource;
pub use keys::Verifier;
pub use middleware::{authenticate, require_scope, AuthState};

/// Why a token was refused. The detail is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a bearer token is required")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
}
