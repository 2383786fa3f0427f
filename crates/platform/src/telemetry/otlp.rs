//! OTLP export of logs and traces, configured by the standard `OTEL_*` variables.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{LogExporter, SpanExporter};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{optional_env, ConfigError};

struct Providers {
    tracer: SdkTracerProvider,
    logger: SdkLoggerProvider,
}

static PROVIDERS: OnceLock<Providers> = OnceLock::new();

/// True when spans and logs leave the process by OTLP.
pub fn otlp_enabled() -> bool {
    PROVIDERS.get().is_some()
}

/// The longest the exit waits for buffered spans and logs to reach the collector: an absent
/// or unreachable collector (each export times out) must not hold a stopping process past its
/// orchestrator's grace period.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Exports what is still buffered, for at most [`FLUSH_TIMEOUT`]; call before the process
/// exits.
pub fn flush() {
    let Some(providers) = PROVIDERS.get() else {
        return;
    };
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = providers.tracer.force_flush();
        let _ = providers.logger.force_flush();
        let _ = done.send(());
    });
    if finished.recv_timeout(FLUSH_TIMEOUT).is_err() {
        // The log pipeline is what timed out, so this goes to stderr directly.
        eprintln!(
            "telemetry: the OTLP collector did not take the last spans and logs within {} s; \
             exiting without them",
            FLUSH_TIMEOUT.as_secs()
        );
    }
}

enum Protocol {
    Http,
    Grpc,
}

fn protocol() -> Result<Protocol, ConfigError> {
    match optional_env("OTEL_EXPORTER_OTLP_PROTOCOL")?.as_deref() {
        None | Some("http/protobuf") => Ok(Protocol::Http),
        Some("grpc") => Ok(Protocol::Grpc),
        Some(_) => Err(ConfigError::new(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "must be http/protobuf or grpc",
        )),
    }
}

fn wanted() -> Result<bool, ConfigError> {
    if optional_env("OTEL_SDK_DISABLED")?.as_deref() == Some("true") {
        return Ok(false);
    }
    for var in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    ] {
        if optional_env(var)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The OTLP layers, or none when no collector is configured. The exporters' own HTTP stacks
/// are never exported (no feedback loop); export runs on background threads with bounded
/// queues, so a slow or absent collector never blocks a request.
pub fn layers<S>(
    service: &'static str,
) -> Result<Option<Box<dyn Layer<S> + Send + Sync>>, ConfigError>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    if !wanted()? {
        return Ok(None);
    }
    let protocol = protocol()?;
    let providers = PROVIDERS.get_or_init(|| {
        build(service, &protocol).unwrap_or_else(|e| {
            eprintln!("invalid configuration: OTEL_EXPORTER_OTLP_ENDPOINT cannot be used: {e}");
            std::process::exit(2)
        })
    });
    crate::context::spans_exported();
    let own_stack = || {
        filter_fn(|m| {
            let t = m.target();
            !(t.starts_with("opentelemetry")
                || t.starts_with("hyper")
                || t.starts_with("h2")
                || t.starts_with("tonic")
                || t.starts_with("reqwest")
                || t.starts_with("tower"))
        })
    };
    let level = || {
        optional_env("RUST_LOG")
            .ok()
            .flatten()
            .and_then(|s| EnvFilter::try_new(s).ok())
            .unwrap_or_else(|| EnvFilter::new("info"))
    };
    // Spans are exported at INFO whatever RUST_LOG says of log lines.
    let traces = tracing_opentelemetry::layer()
        .with_tracer(providers.tracer.tracer(service))
        .with_filter(own_stack())
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let logs = OpenTelemetryTracingBridge::new(&providers.logger)
        .with_filter(own_stack())
        .with_filter(level());
    Ok(Some(traces.and_then(logs).boxed()))
}

fn build(service: &'static str, protocol: &Protocol) -> anyhow::Result<Providers> {
    let resource = Resource::builder()
        .with_service_name(service)
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let (spans, logs) = match protocol {
        Protocol::Http => (
            SpanExporter::builder().with_http().build()?,
            LogExporter::builder().with_http().build()?,
        ),
        Protocol::Grpc => (
            SpanExporter::builder().with_tonic().build()?,
            LogExporter::builder().with_tonic().build()?,
        ),
    };
    let tracer = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(spans)
        .build();
    let logger = SdkLoggerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(logs)
        .build();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    Ok(Providers { tracer, logger })
}
