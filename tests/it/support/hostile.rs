//! Helpers for the adversarial tests (`tests/it/hostile.rs`): raw HTTP over TCP, a ledger of
//! every call made, and the audit that follows each adversarial run.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{token, System};

pub const ADMIN: &str = "orders:read orders:write orders:admin";

/// A response read off a raw connection.
#[derive(Debug, Clone)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `host:port` of a base URL.
pub fn authority(base: &str) -> &str {
    base.trim_start_matches("http://")
}

/// Parses one HTTP/1.1 response from `bytes` (`None` when there is no complete head).
pub fn parse_response(bytes: &[u8]) -> Option<Raw> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &bytes[end + 4..];
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(rest.len());
    Some(Raw {
        status,
        headers,
        body: rest[..length.min(rest.len())].to_vec(),
    })
}

/// Reads from `stream` until a whole response has arrived, the peer closes, or `wait` passes.
/// `Err` says how the connection ended without a response.
pub async fn read_response(stream: &mut TcpStream, wait: Duration) -> Result<Raw, String> {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let mut chunk = [0u8; 16 * 1024];
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await;
        match read {
            Err(_) => return Err(format!("no response within {wait:?}")),
            Ok(Err(e)) => {
                return parse_response(&buf).ok_or_else(|| format!("connection error: {e}"))
            }
            Ok(Ok(0)) => return parse_response(&buf).ok_or_else(|| "closed".to_owned()),
            Ok(Ok(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                if let Some(raw) = parse_response(&buf) {
                    let complete = raw
                        .header("content-length")
                        .and_then(|v| v.parse::<usize>().ok())
                        .is_some_and(|len| raw.body.len() >= len);
                    if complete {
                        return Ok(raw);
                    }
                }
            }
        }
    }
}

/// Sends `request` as is on a new connection and reads the answer.
pub async fn raw(base: &str, request: &[u8], wait: Duration) -> Result<Raw, String> {
    let mut stream = TcpStream::connect(authority(base))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    if let Err(e) = stream.write_all(request).await {
        // The server may answer and close before reading everything (e.g. 431).
        return read_response(&mut stream, wait)
            .await
            .map_err(|_| format!("write: {e}"));
    }
    read_response(&mut stream, wait).await
}

/// One call of an adversarial run and what came back.
#[derive(Debug, Clone)]
pub struct Call {
    pub label: String,
    pub request_id: String,
    /// None: the connection ended without a response.
    pub status: Option<u16>,
    /// The response carried our `X-Request-Id`: it reached the application.
    pub echoed: bool,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Every call of a run.
#[derive(Default)]
pub struct Ledger {
    calls: Mutex<Vec<Call>>,
    next: Mutex<u64>,
}

impl Ledger {
    /// A fresh, valid request id for `label`.
    pub fn request_id(&self, label: &str) -> String {
        let mut next = self.next.lock().unwrap();
        *next += 1;
        let clean: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(40)
            .collect();
        format!("h{}-{clean}-{}", *next, uuid::Uuid::now_v7().simple())
    }

    pub fn add_raw(&self, label: &str, request_id: &str, result: &Result<Raw, String>) -> Call {
        let call = match result {
            Ok(raw) => Call {
                label: label.to_owned(),
                request_id: request_id.to_owned(),
                status: Some(raw.status),
                echoed: raw.header("x-request-id") == Some(request_id),
                content_type: raw.header("content-type").map(str::to_owned),
                body: raw.body.clone(),
            },
            Err(_) => Call {
                label: label.to_owned(),
                request_id: request_id.to_owned(),
                status: None,
                echoed: false,
                content_type: None,
                body: Vec::new(),
            },
        };
        self.calls.lock().unwrap().push(call.clone());
        call
    }

    /// Sends a reqwest request with a fresh `X-Request-Id` and notes the result.
    pub async fn send(&self, label: &str, builder: reqwest::RequestBuilder) -> Call {
        let request_id = self.request_id(label);
        let result = builder
            .header("x-request-id", &request_id)
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        let call = match result {
            Ok(r) => {
                let status = r.status().as_u16();
                let echoed = r
                    .headers()
                    .get("x-request-id")
                    .is_some_and(|v| v.as_bytes() == request_id.as_bytes());
                let content_type = r
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                Call {
                    label: label.to_owned(),
                    request_id,
                    status: Some(status),
                    echoed,
                    content_type,
                    body,
                }
            }
            Err(_) => Call {
                label: label.to_owned(),
                request_id,
                status: None,
                echoed: false,
                content_type: None,
                body: Vec::new(),
            },
        };
        self.calls.lock().unwrap().push(call.clone());
        call
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

/// A 4xx answer from the application: problem+json whose `status` and `request_id` match.
pub fn assert_problem(call: &Call, expected: &[u16]) {
    let status = call
        .status
        .unwrap_or_else(|| panic!("{}: no response", call.label));
    assert!(
        expected.contains(&status),
        "{}: status {status}, expected one of {expected:?}; body {}",
        call.label,
        String::from_utf8_lossy(&call.body)
    );
    assert!(
        call.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/problem+json")),
        "{}: content type {:?}",
        call.label,
        call.content_type
    );
    let body: Value = serde_json::from_slice(&call.body)
        .unwrap_or_else(|e| panic!("{}: problem body is not JSON: {e}", call.label));
    assert_eq!(body["status"], status, "{}: {body}", call.label);
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("/problems/")),
        "{}: {body}",
        call.label
    );
    assert_eq!(body["request_id"], call.request_id, "{}", call.label);
    assert!(call.echoed, "{}: X-Request-Id not echoed", call.label);
}

/// A transport-level refusal: a 4xx without a body from the HTTP layer, or a closed
/// connection; never a 5xx.
pub fn assert_refused(call: &Call) {
    if let Some(status) = call.status {
        assert!(
            (400..500).contains(&status),
            "{}: status {status}",
            call.label
        );
    }
}

/// Every order visible to an admin, newest first.
pub async fn all_orders(system: &System) -> Vec<Value> {
    let http = reqwest::Client::new();
    let admin = token("auditor-admin", ADMIN);
    let mut orders = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "200".to_owned())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let page: Value = http
            .get(format!("{}/v1/orders", system.orders.base))
            .query(&query)
            .bearer_auth(&admin)
            .header(
                "x-request-id",
                format!("audit-{}", uuid::Uuid::now_v7().simple()),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        orders.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return orders,
        }
    }
}

/// After an adversarial run: no 5xx anywhere; the chain verifies; every call that reached
/// the order API's `/v1/` paths is recorded exactly once with the status it got; and the
/// orders in the database are exactly those created with a 201, each readable.
pub async fn audit(system: &System, ledger: &Ledger, api_prefix: &str) {
    let calls = ledger.calls();
    for call in &calls {
        if let Some(status) = call.status {
            assert!(status < 500, "{}: answered {status}", call.label);
        }
    }
    let expected: Vec<&Call> = calls
        .iter()
        .filter(|c| c.echoed && c.label.starts_with(api_prefix))
        .collect();
    let wanted: HashSet<&str> = expected.iter().map(|c| c.request_id.as_str()).collect();
    let mut records = Vec::new();
    for _ in 0..300 {
        records = system.records().await;
        let seen: HashSet<&str> = records
            .iter()
            .filter_map(|r| r["request"]["request_id"].as_str())
            .collect();
        if wanted.iter().all(|w| seen.contains(w)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut by_request: HashMap<&str, Vec<&Value>> = HashMap::new();
    for r in &records {
        if let Some(id) = r["request"]["request_id"].as_str() {
            by_request.entry(id).or_default().push(r);
        }
    }
    for call in &expected {
        let found = by_request
            .get(call.request_id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert_eq!(
            found.len(),
            1,
            "{}: recorded {} times (request id {})",
            call.label,
            found.len(),
            call.request_id
        );
        assert_eq!(
            found[0]["response"]["status"],
            call.status.unwrap(),
            "{}: recorded status",
            call.label
        );
    }
    for (id, found) in &by_request {
        assert_eq!(
            found.len(),
            1,
            "request id {id} recorded {} times",
            found.len()
        );
    }
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["seq"], i as u64, "seq has no gaps");
    }
    let verify = system.verify().await;
    assert_eq!(verify["valid"], true, "{verify}");
    assert_eq!(verify["checked"], records.len() as u64, "{verify}");

    let created: HashSet<String> = calls
        .iter()
        .filter(|c| c.status == Some(201) && c.label.starts_with(api_prefix))
        .map(|c| {
            let body: Value = serde_json::from_slice(&c.body).unwrap();
            body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let stored: HashSet<String> = all_orders(system)
        .await
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        stored, created,
        "the orders stored are exactly those created"
    );
    let http = reqwest::Client::new();
    let admin = token("auditor-admin", ADMIN);
    for id in &created {
        let r = http
            .get(format!("{}/v1/orders/{id}", system.orders.base))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "order {id} is readable");
    }
}

/// The soft limit on open files of this process (Linux), if known.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Sends `count` requests with distinct made-up methods to `path`, pipelined on ten
/// keep-alive connections; returns how many responses came back.
pub async fn odd_methods(base: &str, path: &str, count: usize) -> usize {
    let per_connection = count.div_ceil(10);
    let tasks = (0..10).map(|c| {
        let addr = authority(base).to_owned();
        let path = path.to_owned();
        tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let (mut reader, mut writer) = stream.into_split();
            let writing = tokio::spawn(async move {
                for i in 0..per_connection {
                    let close = if i + 1 == per_connection {
                        "Connection: close\r\n"
                    } else {
                        ""
                    };
                    let request = format!("XM{c}N{i} {path} HTTP/1.1\r\nHost: x\r\n{close}\r\n");
                    writer.write_all(request.as_bytes()).await.unwrap();
                }
                writer
            });
            let mut answers = Vec::new();
            tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut answers))
                .await
                .expect("pipelined answers")
                .unwrap();
            drop(writing.await.unwrap());
            answers.windows(9).filter(|w| w == b"HTTP/1.1 ").count()
        })
    });
    let mut answered = 0;
    for task in tasks {
        answered += task.await.unwrap();
    }
    answered
}

/// The `http_requests_total` series a service exposes on `/metrics`.
pub async fn request_series(metrics_base: &str) -> Vec<String> {
    reqwest::get(format!("{metrics_base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .map(|l| {
            l.rsplit_once(' ')
                .map_or(l, |(series, _)| series)
                .to_owned()
        })
        .collect()
}

/// Reads until the peer closes the connection; false when it is still open at `deadline`.
pub async fn closed_by(stream: &mut TcpStream, deadline: tokio::time::Instant) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}
