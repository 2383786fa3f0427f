//! The order service's integration tests, one binary (one link of the service) for all of
//! them: a module for each subject, and `support` shared by them.

// Declared first: `#[macro_use]` puts its `on_both_backends!` in scope of the modules below.
#[macro_use]
mod support;

mod api;
mod auth;
mod concurrency;
mod oidc;
mod prop_cursor;
mod prop_domain;
mod rate_limit;
mod recording;
mod store_conformance;
mod timeouts;
