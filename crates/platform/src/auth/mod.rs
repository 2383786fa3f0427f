//! JWT verification (SPEC section 4): HS256 secret, public-key PEM, JWKS URL or OIDC discovery.
//!
//! `key` is one verification key; `jwks` fetches and caches remote keys; `verifier` checks a
//! token against either; `middleware` applies it (and the rate limits) to the requests of the
//! router it is layered on; `caller` hands the verified caller to handlers.

mod caller;
mod claims;
mod clock;
mod config;
pub mod dev;
mod jwks;
mod key;
mod middleware;
mod token_cache;
mod verifier;

pub use caller::{Caller, Realm, Scope};
pub use claims::Principal;
pub use clock::Clock;
pub use config::{AuthConfig, KeyConfig};
pub use jwks::{JwksSource, UNKNOWN_KID_INTERVAL};
pub use key::VerificationKey;
pub use middleware::{authenticate, AuthState};
pub use token_cache::TokenCache;
pub use verifier::{Verifier, LEEWAY_SECS};

/// Why a token was refused. The detail is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a bearer token is required")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
}
