//! The stdout JSON line format.

use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use crate::context;

/// Writes each event as one JSON object on stdout.
pub struct JsonLines {
    pub service: &'static str,
}

impl<S: Subscriber> Layer<S> for JsonLines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = FieldMap(Map::new());
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert(
            "time".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        line.insert(
            "severity".into(),
            Value::String(severity(*event.metadata().level()).into()),
        );
        line.insert(
            "message".into(),
            fields
                .0
                .remove("message")
                .unwrap_or(Value::String(String::new())),
        );
        line.insert(
            "target".into(),
            Value::String(event.metadata().target().into()),
        );
        line.insert("service".into(), Value::String(self.service.into()));
        if let Some(ctx) = context::current() {
            line.insert("request_id".into(), Value::String(ctx.request_id));
            line.insert("trace_id".into(), Value::String(ctx.trace_id));
            line.insert("span_id".into(), Value::String(ctx.span_id));
        }
        if let Some(Value::String(raw)) = fields.0.remove("httpRequest") {
            if let Ok(object) = serde_json::from_str::<Value>(&raw) {
                line.insert("httpRequest".into(), object);
            }
        }
        for (k, v) in fields.0 {
            line.entry(k).or_insert(v);
        }
        let mut bytes = serde_json::to_vec(&Value::Object(line)).unwrap_or_default();
        bytes.push(b'\n');
        let _ = std::io::stdout().lock().write_all(&bytes);
    }
}

fn severity(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        _ => "DEBUG",
    }
}

struct FieldMap(Map<String, Value>);

impl Visit for FieldMap {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().into(), Value::String(value.into()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let chain = crate::problem::cause_chain(value);
        self.0.insert(field.name().into(), Value::String(chain));
    }
}
