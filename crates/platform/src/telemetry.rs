//! Logs and traces set up in one place: JSON lines with Google Cloud Logging field names on
//! stdout (`time`, `severity`, `message`, `target`, `request_id`, `trace_id`, `httpRequest`),
//! or pretty lines on a terminal; `RUST_LOG` filters (default `info`); and, when the standard
//! `OTEL_EXPORTER_OTLP_*` variables name a collector, logs and traces exported by OTLP.

mod json;
mod otlp;

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{optional_env, ConfigError};

pub use json::JsonLines;
pub use otlp::{flush, otlp_enabled};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl LogFormat {
    /// `LOG_FORMAT`, defaulting to pretty on a terminal and JSON otherwise.
    pub fn from_env() -> Result<Self, ConfigError> {
        match optional_env("LOG_FORMAT")?.as_deref() {
            None if std::io::stdout().is_terminal() => Ok(Self::Pretty),
            None => Ok(Self::Json),
            Some("json") => Ok(Self::Json),
            Some("pretty") => Ok(Self::Pretty),
            Some(_) => Err(ConfigError::new("LOG_FORMAT", "must be json or pretty")),
        }
    }
}

/// Installs the global subscriber for `service` (`service.name` in OTLP). Call [`flush`]
/// before the process exits. Calling it twice is harmless (tests).
pub fn init(service: &'static str) -> Result<(), ConfigError> {
    let format = LogFormat::from_env()?;
    let filter = || match optional_env("RUST_LOG") {
        Ok(Some(spec)) => EnvFilter::try_new(spec)
            .map_err(|_| ConfigError::new("RUST_LOG", "is not a valid log filter")),
        Ok(None) => Ok(EnvFilter::new("info")),
        Err(e) => Err(e),
    };
    let stdout = match format {
        LogFormat::Json => JsonLines { service }.boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().compact().boxed(),
    };
    let export = otlp::layers(service)?;
    let _ = tracing_subscriber::registry()
        .with(stdout.with_filter(filter()?))
        .with(export)
        .try_init();
    Ok(())
}
