//! An identity provider behind a private CA (issue 14): the JWKS is served over HTTPS with a
//! certificate signed by a test CA. The key cache trusts it when `SSL_CERT_FILE` names the CA,
//! and refuses it otherwise.
//!
//! `SSL_CERT_FILE` is read when an HTTP client is built, and the environment is shared by the
//! whole process, so the verifying side runs in a child process: this test binary again, running
//! the same test with `PRIVATE_CA_EXPECT` set, which makes it the child.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::auth::{AuthConfig, KeyConfig, Verifier};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const AUDIENCE: &str = "urn:ordersys:private-ca-test";
/// Its full name in the `it` binary, which runs it again as the child (`--exact`).
const TEST: &str = "private_ca::a_jwks_behind_a_private_ca_is_trusted_through_ssl_cert_file";

struct TestCa {
    ca_pem: String,
    server_cert: CertificateDer<'static>,
    server_key: PrivateKeyDer<'static>,
}

/// A CA, and a certificate it signed for `localhost` and 127.0.0.1.
fn test_ca() -> TestCa {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ordersys test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "identity provider");
    let server_cert = params.signed_by(&server_key, &issuer).unwrap();
    TestCa {
        ca_pem: ca_cert.pem(),
        server_cert: server_cert.der().clone(),
        server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
    }
}

/// Serves `body` as JSON over HTTPS to every request, one request per connection; returns the
/// port.
async fn https_server(ca: &TestCa, body: String) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ca.server_cert.clone()], ca.server_key.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let body = body.clone();
            tokio::spawn(async move {
                // A client that does not trust the CA aborts the handshake: nothing to serve.
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                tls.write_all(response.as_bytes()).await.ok();
                tls.shutdown().await.ok();
            });
        }
    });
    port
}

/// Runs the child test with `SSL_CERT_FILE` (or without it); its exit status.
fn run_child(jwks_url: &str, token: &str, ca_file: Option<&Path>, expect: &str) -> bool {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([TEST, "--exact", "--nocapture"])
        .env("PRIVATE_CA_JWKS_URL", jwks_url)
        .env("PRIVATE_CA_TOKEN", token)
        .env("PRIVATE_CA_EXPECT", expect)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    if let Some(file) = ca_file {
        command.env("SSL_CERT_FILE", file);
    }
    let output = command.output().unwrap();
    eprintln!(
        "child ({expect}):\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output.status.success() && String::from_utf8_lossy(&output.stdout).contains("1 passed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_behind_a_private_ca_is_trusted_through_ssl_cert_file() {
    if std::env::var_os("PRIVATE_CA_EXPECT").is_some() {
        return child_verifies_through_https().await;
    }
    let ca = test_ca();
    // The identity provider's signing key (ES256) and its JWKS.
    let signing = KeyPair::generate().unwrap();
    let point = signing.public_key_raw();
    assert_eq!(point.len(), 65, "an uncompressed P-256 point");
    let jwks = json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "ca-test", "alg": "ES256", "use": "sig",
        "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..]),
    }]});
    let port = https_server(&ca, jwks.to_string()).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = jsonwebtoken::encode(
        &Header {
            kid: Some("ca-test".into()),
            ..Header::new(Algorithm::ES256)
        },
        &json!({"sub": "alice", "aud": AUDIENCE, "exp": now + 600}),
        &EncodingKey::from_ec_pem(signing.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();

    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{port}/jwks");
        assert!(
            run_child(&url, &token, Some(&ca_file), "accepted"),
            "{host}: with SSL_CERT_FILE naming the CA, the token verifies"
        );
    }
    let url = format!("https://127.0.0.1:{port}/jwks");
    assert!(
        run_child(&url, &token, None, "refused"),
        "without SSL_CERT_FILE the private CA is not trusted"
    );
}

/// The verifying side, in its own process (see the module documentation).
async fn child_verifies_through_https() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let config = AuthConfig::new(
        "PRIVATE_CA",
        "test",
        KeyConfig::JwksUrl(var("PRIVATE_CA_JWKS_URL")),
        AUDIENCE,
    );
    let verifier = Verifier::new(&config).unwrap();
    tokio::time::timeout(Duration::from_secs(20), verifier.warm_up())
        .await
        .expect("the first fetch ends");
    let result = verifier.verify(&var("PRIVATE_CA_TOKEN")).await;
    match var("PRIVATE_CA_EXPECT").as_str() {
        "accepted" => assert_eq!(result.unwrap().sub, "alice"),
        _ => assert!(result.is_err(), "{result:?}"),
    }
}
