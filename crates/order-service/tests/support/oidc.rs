//! Starts the real OpenID Connect provider of `tests/oidc` (npm's oidc-provider).
