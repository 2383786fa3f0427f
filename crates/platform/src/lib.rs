//! What both ordersys services share: configuration helpers, JWT verification, RFC 9457
//! problem errors, request context (request id, trace context), the client address behind
//! trusted proxies, HTTP middleware, metrics, telemetry, graceful shutdown, and the hardened
//! server loop with its limits and TLS.

pub mod auth;
pub mod client_addr;
pub mod config;
pub mod context;
pub mod database;
pub mod health;
pub mod http;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod rate_limit;
pub mod server;
pub mod serving;
pub mod shutdown;
pub mod telemetry;
pub mod timeout;
pub mod tls;

pub use problem::{FieldError, Problem};
