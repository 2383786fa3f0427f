//! The transaction log service: receives business transactions, stores them append-only in a
//! SHA-256 hash chain (SQLite embedded, MongoDB in production) and lets auditors query and
//! verify them. See `docs/TXLOG.md`.

pub mod api;
mod app;
pub mod chain;
pub mod config;
pub mod console;
pub mod ids;
pub mod metrics;
pub mod setup;
pub mod store;
pub mod transparency;

pub use app::Application;
pub use config::Config;
