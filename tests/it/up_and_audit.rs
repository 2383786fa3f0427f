//! `ordersys up` as a developer runs it, then `ordersys audit` exactly as it prints: the log's
//! key is created once in the data directory, the audit passes on the honest log (and again,
//! consistent, after more calls), and its exit codes say what went wrong.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{bin, free_port, tempdir};

struct Up {
    child: Child,
    orders: String,
    token: String,
    auditor: String,
    verifier_key: String,
    /// The printed `audit` arguments, `$AUDITOR` filled in.
    audit: Vec<String>,
    /// The printed address of the auditor console.
    console: String,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn up(data: &std::path::Path) -> Up {
    let (orders_port, txlog_port) = (free_port(), free_port());
    let mut child = Command::new(bin("ordersys"))
        .arg("up")
        .arg("--data-dir")
        .arg(data)
        .args(["--orders-listen", &format!("127.0.0.1:{orders_port}")])
        .args(["--txlog-listen", &format!("127.0.0.1:{txlog_port}")])
        .env("RUST_LOG", "warn")
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut token, mut auditor, mut verifier_key, mut audit) = (None, None, None, None);
    let mut console = None;
    while console.is_none() {
        let line = lines
            .next()
            .expect("ordersys up printed its walkthrough")
            .unwrap();
        let line = line.trim();
        if let Some(t) = line.strip_prefix("export TOKEN=") {
            token = Some(t.to_owned());
        } else if let Some(t) = line.strip_prefix("export AUDITOR=") {
            auditor = Some(t.to_owned());
        } else if line.starts_with("localhost/ordersys/") {
            verifier_key = Some(line.to_owned());
        } else if let Some(command) = line.strip_prefix("cargo run --release -- ") {
            audit = Some(command.to_owned());
        } else if line.starts_with("http://") && line.ends_with("/console/") {
            console = Some(line.to_owned());
        }
    }
    let auditor = auditor.expect("an auditor token");
    let audit = audit
        .unwrap()
        .replace("\"$AUDITOR\"", &auditor)
        .split_whitespace()
        .map(|a| a.trim_matches('\'').to_owned())
        .collect();
    std::thread::spawn(move || lines.for_each(drop));
    Up {
        child,
        orders: format!("http://127.0.0.1:{orders_port}"),
        token: token.expect("a customer token"),
        auditor,
        verifier_key: verifier_key.expect("the verifier key"),
        audit,
        console: console.unwrap(),
    }
}

fn audit(args: &[String]) -> Output {
    Command::new(bin("ordersys")).args(args).output().unwrap()
}

/// Runs the audit until the checkpoint covers `calls` recorded calls (the relay and the
/// checkpoint loop run on their own), then returns its output.
fn audit_after(up: &Up, calls: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let output = audit(&up.audit);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "audit failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let size: u64 = stdout
            .split(" size ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        if size >= calls {
            return stdout;
        }
        assert!(
            Instant::now() < deadline,
            "the log never reached {calls}: {stdout}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

async fn create_order(up: &Up) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/orders", up.orders))
        .bearer_auth(&up.token)
        .json(&serde_json::json!({"currency": "EUR", "items": [
            {"sku": "SKU-1", "name": "Widget", "quantity": 2, "unit_price": 1250}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn the_printed_audit_command_checks_the_log() {
    let data = tempdir();
    let first = up(&data);
    assert_eq!(first.audit[0], "audit");
    // The console checks proofs with the printed key; the token is pasted.
    let config: serde_json::Value = reqwest::get(format!("{}config.json", first.console))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config,
        serde_json::json!({"oidc": null, "verifier_key": first.verifier_key})
    );
    create_order(&first).await;
    let report = audit_after(&first, 1);
    assert!(report.contains("signature verified"), "{report}");
    assert!(report.contains("records: "), "{report}");
    assert!(report.trim_end().ends_with("audit passed"), "{report}");
    // The key is named after the log's origin (C2SP tlog-checkpoint), unique to this directory.
    let key_name = first.verifier_key.split('+').next().unwrap();
    assert!(
        report.starts_with(&format!("checkpoint: {key_name} size ")),
        "{report}"
    );
    let other_dir = tempdir();
    let other = up(&other_dir);
    assert_ne!(other.verifier_key.split('+').next(), Some(key_name));
    drop(other);
    let _ = std::fs::remove_dir_all(&other_dir);

    create_order(&first).await;
    let report = audit_after(&first, 2);
    assert!(report.contains("consistency from size "), "{report}");

    // Another key: exit 1, naming the signature.
    let (_, other) = txlog_service::transparency::LogKey::generate("ordersys-dev").unwrap();
    let mut args = first.audit.clone();
    let key = args.iter().position(|a| a == "--key").unwrap() + 1;
    args[key] = other;
    let output = audit(&args);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("FAILED: signature: "));

    // Not on a terminal, a passing audit writes nothing to stderr (no progress bar), and its
    // summary line either way.
    let output = audit(&first.audit);
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("records: ") && l.contains("checked")),
        "{stdout}"
    );

    // No log there, or no token: exit 2.
    let mut args = first.audit.clone();
    let log = args.iter().position(|a| a == "--log").unwrap() + 1;
    args[log] = format!("http://127.0.0.1:{}", free_port());
    assert_eq!(audit(&args).status.code(), Some(2));
    let args: Vec<String> = first
        .audit
        .iter()
        .filter(|a| **a != first.auditor && *a != "--token")
        .cloned()
        .collect();
    assert_eq!(audit(&args).status.code(), Some(2));

    // The key was created once, owner-only, and is used again by the next `up`.
    let key_file = data.join("txlog-signing-key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let verifier_key = first.verifier_key.clone();
    drop(first);
    let second = up(&data);
    assert_eq!(second.verifier_key, verifier_key);
    let _ = std::fs::remove_dir_all(&data);
}

/// A truncated dev signing key (a crash of an older version, a hand edit) is refused with a
/// message naming the file, rather than letting anyone who guesses it mint tokens.
#[test]
fn a_truncated_dev_key_is_refused() {
    let data = tempdir();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("dev-signing-key"), "0123456789abcdef\n").unwrap();
    let output = Command::new(bin("ordersys"))
        .arg("up")
        .arg("--data-dir")
        .arg(&data)
        .args(["--orders-listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--txlog-listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("dev-signing-key"), "{stderr}");
    assert!(stderr.contains("fewer than the 32"), "{stderr}");
    assert!(
        !stderr.contains("0123456789abcdef"),
        "the key is never echoed: {stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("dev-signing-key")).unwrap(),
        "0123456789abcdef\n",
        "the file is left for the developer to look at"
    );
}
