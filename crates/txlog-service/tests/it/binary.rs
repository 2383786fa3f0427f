//! The `txlog-service` binary: `--help`, one-line configuration errors, `healthcheck`, an
//! idempotent `setup`, and a quiet start as the application user after `setup`.

use crate::common;

use std::process::Output;

use common::process::{command, ServiceProcess, BINARY};
use common::{Backend, TestDb};

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_lists_the_variables_and_commands() {
    let output = command("sqlite://unused.db")
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let (stdout, _) = text(&output);
    for var in [
        "TXLOG_LISTEN",
        "TXLOG_DATABASE_URL",
        "TXLOG_AUTH_ISSUER",
        "TXLOG_AUTH_AUDIENCE",
        "TXLOG_AUTH_HS256_SECRET",
        "TXLOG_SIGNING_KEY",
        "TXLOG_SIGNING_KEY_FILE",
        "TXLOG_LOG_ORIGIN",
        "TXLOG_CHECKPOINT_INTERVAL_MS",
        "TXLOG_CONSOLE_OIDC_CLIENT_ID",
        "TXLOG_CONSOLE_VERIFIER_KEY",
    ] {
        assert!(stdout.contains(var), "{var} missing from --help");
    }
    for sub in ["healthcheck", "setup", "keygen"] {
        assert!(stdout.contains(sub), "{sub} missing from --help");
    }
    let setup_help = command("sqlite://unused.db")
        .args(["setup", "--help"])
        .output()
        .unwrap();
    let (stdout, _) = text(&setup_help);
    assert!(stdout.contains("--app-user") && stdout.contains("--skip-role"));
}

#[test]
fn a_bad_signing_key_is_named_and_never_echoed() {
    let (private, _) = txlog_service::transparency::LogKey::generate("log").unwrap();
    // A real key with its id changed: every part but the id is secret material.
    let mut parts: Vec<&str> = private.splitn(5, '+').collect();
    parts[3] = "00000000";
    let broken = parts.join("+");
    let secret = parts[4];
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &broken).unwrap();
    for (var, value) in [
        ("TXLOG_SIGNING_KEY", broken.clone()),
        ("TXLOG_SIGNING_KEY_FILE", file.path().display().to_string()),
    ] {
        let mut cmd = command("sqlite://unused.db");
        cmd.env_remove("TXLOG_SIGNING_KEY").env(var, value);
        let output = cmd.output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{var}");
        let (stdout, stderr) = text(&output);
        assert!(stderr.contains(var), "{stderr}");
        assert!(
            !stderr.contains(secret) && !stdout.contains(secret),
            "{stderr}"
        );
    }
    let mut missing = command("sqlite://unused.db");
    missing.env_remove("TXLOG_SIGNING_KEY");
    let (_, stderr) = text(&missing.output().unwrap());
    assert!(stderr.contains("keygen"), "{stderr}");
}

#[test]
fn keygen_prints_a_pair_the_service_accepts() {
    let output = std::process::Command::new(BINARY)
        .args(["keygen", "--name", "audit.example/log"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let (private, verifier) = text(&output);
    let key = txlog_service::transparency::LogKey::parse(&private).unwrap();
    assert_eq!(key.verifier_key(), verifier.trim());
    assert!(verifier.starts_with("audit.example/log+"));
}

#[test]
fn configuration_errors_are_one_line_naming_the_variable() {
    for (var, value) in [
        ("TXLOG_DATABASE_URL", "postgres://db/txlog"),
        ("TXLOG_LISTEN", "nowhere"),
        ("TXLOG_AUTH_HS256_SECRET", "short"),
        // The console signs in at TXLOG_AUTH_ISSUER; HS256 has none.
        ("TXLOG_CONSOLE_OIDC_CLIENT_ID", "txlog-console"),
        ("TXLOG_CONSOLE_VERIFIER_KEY", "log+00000000+AAAA"),
    ] {
        let mut cmd = command("sqlite://unused.db");
        cmd.env(var, value);
        let output = cmd.output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{var}");
        let (_, stderr) = text(&output);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(var), "{stderr}");
    }
}

/// SPEC section 11: the audience is required whatever verifies tokens, and the identity
/// provider is reached over https:// (http:// only on loopback).
#[test]
fn token_settings_are_strict() {
    let mut no_audience = command("sqlite://unused.db");
    no_audience.env_remove("TXLOG_AUTH_AUDIENCE");
    let mut plain_http = command("sqlite://unused.db");
    plain_http
        .env_remove("TXLOG_AUTH_HS256_SECRET")
        .env("TXLOG_AUTH_ISSUER", "http://idp.example/realms/shop");
    for (var, mut cmd) in [
        ("TXLOG_AUTH_AUDIENCE", no_audience),
        ("TXLOG_AUTH_ISSUER", plain_http),
    ] {
        let output = cmd.output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{var}");
        let (_, stderr) = text(&output);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(var), "{stderr}");
    }
}

#[test]
fn healthcheck_reports_readiness() {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    let service = ServiceProcess::start(&db.url);
    let ok = command(&db.url)
        .env("TXLOG_LISTEN", service.addr.to_string())
        .arg("healthcheck")
        .status()
        .unwrap();
    assert_eq!(ok.code(), Some(0));
    let port = service.addr.port();
    drop(service);
    let down = command(&db.url)
        .env("TXLOG_LISTEN", format!("0.0.0.0:{port}"))
        .arg("healthcheck")
        .status()
        .unwrap();
    assert_eq!(down.code(), Some(1));
}

#[test]
fn sigterm_stops_the_service_cleanly() {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    let service = ServiceProcess::start(&db.url);
    let started = std::time::Instant::now();
    let status = service.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "an idle service stops at once"
    );
}

#[test]
fn setup_is_idempotent_on_sqlite() {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    for _ in 0..2 {
        let output = command(&db.url).arg("setup").output().unwrap();
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains("append-only triggers"), "{stdout}");
    }
    assert!(db.dir.path().join("data/txlog.db").is_file());
}

#[test]
fn setup_is_idempotent_on_mongodb_without_roles() {
    let Some(db) = TestDb::new(Backend::Mongo) else {
        return;
    };
    for _ in 0..2 {
        let output = command(&db.url)
            .args(["setup", "--skip-role"])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains("txlog.txlog_records"), "{stdout}");
        assert!(stdout.contains("skipped (--skip-role)"), "{stdout}");
    }
    let incomplete = command(&db.url)
        .args(["setup", "--app-user", "app"])
        .output()
        .unwrap();
    assert!(
        !incomplete.status.success(),
        "--app-user without a password file is refused"
    );
    assert!(std::path::Path::new(BINARY).is_file());
}

/// The operator's order: `setup`, then the service. The service finds every index and starts
/// without a warning (tests/it/mongo_indexes.rs shows it only lists them).
#[test]
fn after_setup_the_service_starts_without_a_warning() {
    let Some(db) = TestDb::new(Backend::Mongo) else {
        return;
    };
    let mut child = command(&db.url)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let mut complaints = Vec::new();
    let mut listening = false;
    for line in lines.map_while(Result::ok) {
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if entry["severity"] == "WARNING" || entry["severity"] == "ERROR" {
            complaints.push(line.clone());
        }
        if entry["address"].is_string() {
            listening = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening, "the service did not start listening");
    assert!(complaints.is_empty(), "{complaints:#?}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA and a `localhost` certificate it signed, written as PEM files in `dir`: (CA
/// certificate PEM, cert file, key file).
fn tls_files(dir: &std::path::Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let (cert_file, key_file) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (ca.pem(), cert_file, key_file)
}

#[test]
fn listener_settings_are_checked_with_one_line_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = tls_files(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not pem").unwrap();
    let cert = cert.display().to_string();
    let key = key.display().to_string();
    let garbage = garbage.display().to_string();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("TXLOG_SHUTDOWN_DELAY", "5")], "TXLOG_SHUTDOWN_DELAY"),
        (
            vec![("TXLOG_SHUTDOWN_DELAY", "-1s")],
            "TXLOG_SHUTDOWN_DELAY",
        ),
        (vec![("TXLOG_SHUTDOWN_DELAY", "1h")], "TXLOG_SHUTDOWN_DELAY"),
        (
            vec![("TXLOG_METRICS_LISTEN", "nowhere")],
            "TXLOG_METRICS_LISTEN",
        ),
        (
            vec![
                ("TXLOG_LISTEN", "127.0.0.1:9464"),
                ("TXLOG_METRICS_LISTEN", "127.0.0.1:9464"),
            ],
            "TXLOG_METRICS_LISTEN",
        ),
        (vec![("TXLOG_TLS_CERT_FILE", &cert)], "TXLOG_TLS_KEY_FILE"),
        (vec![("TXLOG_TLS_KEY_FILE", &key)], "TXLOG_TLS_CERT_FILE"),
        (
            vec![
                ("TXLOG_TLS_CERT_FILE", "/nonexistent.pem"),
                ("TXLOG_TLS_KEY_FILE", &key),
            ],
            "TXLOG_TLS_CERT_FILE",
        ),
        (
            vec![
                ("TXLOG_TLS_CERT_FILE", &garbage),
                ("TXLOG_TLS_KEY_FILE", &key),
            ],
            "TXLOG_TLS_CERT_FILE",
        ),
        (
            vec![
                ("TXLOG_TLS_CERT_FILE", &cert),
                ("TXLOG_TLS_KEY_FILE", &garbage),
            ],
            "TXLOG_TLS_KEY_FILE",
        ),
    ];
    for (env, var) in cases {
        let mut cmd = command("sqlite://unused.db");
        cmd.envs(env.iter().copied());
        let output = cmd.output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{env:?}");
        let (_, stderr) = text(&output);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(var), "{env:?}: {stderr}");
    }
}

#[tokio::test]
async fn metrics_on_their_own_port_and_https_on_the_main_one() {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(dir.path());
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = command(&db.url);
    cmd.env("TXLOG_METRICS_LISTEN", &metrics_addr)
        .env("TXLOG_TLS_CERT_FILE", &cert)
        .env("TXLOG_TLS_KEY_FILE", &key);
    let service = ServiceProcess::start_command(cmd);
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .build()
        .unwrap();
    let main = format!("https://localhost:{}", service.addr.port());
    let ready = https.get(format!("{main}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.version(), reqwest::Version::HTTP_11);
    let hidden = https.get(format!("{main}/metrics")).send().await.unwrap();
    assert_eq!(hidden.status(), 404);
    // Plain HTTP on the TLS port gets no answer.
    assert!(reqwest::get(service.url("/readyz")).await.is_err());
    let metrics = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    let other = reqwest::get(format!("http://{metrics_addr}/readyz"))
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn after_sigterm_readyz_is_503_and_requests_are_served_for_the_delay() {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    let mut cmd = command(&db.url);
    cmd.env("TXLOG_SHUTDOWN_DELAY", "2s");
    let service = ServiceProcess::start_command(cmd);
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(service.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let signalled = std::time::Instant::now();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &service.pid().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let mut saw_503 = false;
    while signalled.elapsed() < std::time::Duration::from_millis(1500) {
        // A new connection each time: the listener still accepts.
        let fresh = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let ready = fresh.get(service.url("/readyz")).send().await.unwrap();
        if ready.status() == 503 {
            saw_503 = true;
            let list = fresh
                .get(service.url("/v1/transactions?limit=1"))
                .bearer_auth(common::token("auditor", common::READ))
                .send()
                .await
                .unwrap();
            assert_eq!(list.status(), 200);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(saw_503, "/readyz never answered 503 after SIGTERM");
    let status = tokio::task::spawn_blocking(move || service.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    let took = signalled.elapsed();
    assert!(
        took >= std::time::Duration::from_secs(2) && took < std::time::Duration::from_secs(10),
        "stopped after {took:?}"
    );
}
