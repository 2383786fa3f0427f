//! SPEC section 9 logs, traces and metrics, from the real binaries: an OTLP/HTTP receiver
//! started here gets the ERROR log of a failed delivery with its cause chain and one trace
//! with spans from both services; stdout is JSON lines; metrics move with the requests.

use crate::support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use serde_json::{json, Value};
use support::{token, System};

#[derive(Default)]
struct Received {
    /// (service.name, trace id hex, span name)
    spans: Vec<(String, String, String)>,
    /// (service.name, severity text, body, attributes)
    logs: Vec<(String, String, String, HashMap<String, String>)>,
}

type Shared = Arc<Mutex<Received>>;

fn text(kv: &[KeyValue], key: &str) -> Option<String> {
    kv.iter()
        .find(|a| a.key == key)
        .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
            Any::StringValue(s) => Some(s.clone()),
            other => Some(format!("{other:?}")),
        })
}

async fn traces(State(received): State<Shared>, body: Bytes) -> &'static str {
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("traces decode: {e}");
            return "";
        }
    };
    let mut received = received.lock().unwrap();
    for rs in request.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| text(&r.attributes, "service.name"))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for span in ss.spans {
                let trace: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                received
                    .spans
                    .push((service.clone(), trace, span.name.clone()));
            }
        }
    }
    ""
}

async fn logs(State(received): State<Shared>, body: Bytes) -> &'static str {
    let request = ExportLogsServiceRequest::decode(body).expect("OTLP logs decode");
    let mut received = received.lock().unwrap();
    for rl in request.resource_logs {
        let service = rl
            .resource
            .as_ref()
            .and_then(|r| text(&r.attributes, "service.name"))
            .unwrap_or_default();
        for sl in rl.scope_logs {
            for record in sl.log_records {
                let body = match record.body.and_then(|b| b.value) {
                    Some(Any::StringValue(s)) => s,
                    other => format!("{other:?}"),
                };
                let attributes = record
                    .attributes
                    .iter()
                    .filter_map(|a| Some((a.key.clone(), text(std::slice::from_ref(a), &a.key)?)))
                    .collect();
                received.logs.push((
                    service.clone(),
                    record.severity_text.clone(),
                    body,
                    attributes,
                ));
            }
        }
    }
    ""
}

async fn collector() -> (String, Shared) {
    let received = Shared::default();
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..150 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_receives_error_logs_and_one_trace_across_both_services() {
    let (endpoint, received) = collector().await;
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "200"),
    ];
    let mut system = System::start_with(&env).await;
    let http = reqwest::Client::new();
    let alice = token("alice", "orders:read orders:write");

    // A delivery failure: the log is down while a call waits in the outbox.
    system.txlog.stop();
    let r = http
        .get(format!("{}/v1/orders", system.orders.base))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    eventually("an ERROR log of the failed delivery", || {
        received
            .lock()
            .unwrap()
            .logs
            .iter()
            .any(|(service, severity, body, attrs)| {
                service == "order-service"
                    && severity == "ERROR"
                    && body.contains("delivering business transactions failed")
                    && attrs
                        .get("error")
                        .is_some_and(|e| e.contains("POST ") && e.contains(": "))
            })
    })
    .await;
    system.txlog.restart().await;
    system.wait_for_records(1).await;

    // One trace: the caller's traceparent → order service → relay → transaction log.
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let r = http
        .post(format!("{}/v1/orders", system.orders.base))
        .bearer_auth(&alice)
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .json(&json!({"currency": "EUR", "items": [{"sku": "A", "quantity": 1, "unit_price": 5}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.headers()["traceparent"].to_str().unwrap().contains(trace));
    let hops = [
        "POST /v1/orders",
        "deliver business transactions",
        "POST /v1/transactions",
        "append to the chain",
    ];
    eventually(
        "spans of every hop of the trace, from both services",
        || {
            let received = received.lock().unwrap();
            let spans: Vec<&(String, String, String)> = received
                .spans
                .iter()
                .filter(|(_, t, _)| t == trace)
                .collect();
            let both = ["order-service", "txlog-service"]
                .iter()
                .all(|s| spans.iter().any(|(svc, _, _)| svc == s));
            let done = both
                && hops
                    .iter()
                    .all(|hop| spans.iter().any(|(_, _, name)| name == hop));
            done
        },
    )
    .await;
    let records = system.records().await;
    let recorded = records
        .iter()
        .find(|r| r["trace_id"] == trace)
        .expect("the record carries the trace id");
    assert_eq!(recorded["operation"], "order.create");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_is_json_lines_and_metrics_move() {
    let system = System::start_with(&[("RUST_LOG", "info")]).await;
    let http = reqwest::Client::new();
    let alice = token("alice", "orders:read orders:write");
    let metrics_url = format!("{}/metrics", system.orders.base);
    let count = |text: &str| -> f64 {
        parse_metrics(text)
            .into_iter()
            .filter(|(name, labels, _)| {
                name == "http_requests_total"
                    && labels.contains("route=\"/v1/orders\"")
                    && labels.contains("status=\"200\"")
            })
            .map(|(_, _, v)| v)
            .sum()
    };
    let before = count(
        &http
            .get(&metrics_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    for i in 0..3 {
        let r = http
            .get(format!("{}/v1/orders", system.orders.base))
            .bearer_auth(&alice)
            .header("x-request-id", format!("obs-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let text = http
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        count(&text) - before,
        3.0,
        "the counter moved with the requests"
    );
    for name in [
        "http_request_duration_seconds_bucket",
        "outbox_backlog",
        "outbox_oldest_age_seconds",
        "db_pool_connections",
    ] {
        assert!(
            parse_metrics(&text).iter().any(|(n, _, _)| n == name),
            "{name} is exposed"
        );
    }

    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(&system.orders.log).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        for field in ["time", "severity", "message", "target"] {
            assert!(line[field].is_string(), "{field} missing in {line}");
        }
        assert!(["DEBUG", "INFO", "WARNING", "ERROR"].contains(&line["severity"].as_str().unwrap()));
    }
    for i in 0..3 {
        let access = lines
            .iter()
            .find(|l| l["request_id"] == format!("obs-{i}"))
            .expect("an access line per request");
        assert_eq!(access["httpRequest"]["status"], 200);
        assert_eq!(access["httpRequest"]["requestMethod"], "GET");
        assert_eq!(access["trace_id"].as_str().unwrap().len(), 32);
    }
}

/// Prometheus text exposition: (name, labels, value) of every sample; panics on a bad line.
fn parse_metrics(text: &str) -> Vec<(String, String, f64)> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad sample: {line}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((n, l)) => (n.to_owned(), l.trim_end_matches('}').to_owned()),
                None => (series.to_owned(), String::new()),
            };
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "bad name: {line}"
            );
            (name, labels, value)
        })
        .collect()
}
