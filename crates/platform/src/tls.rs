//! Optional TLS for the listeners (`<P>_TLS_CERT_FILE`, `<P>_TLS_KEY_FILE`): rustls with the
//! ring provider (the one reqwest already uses), ALPN `h2` and `http/1.1`, and the certificate
//! reloaded when either file changes. A reload that fails (a half-written file, a key that
//! does not match) keeps the current certificate and is logged at ERROR; the next change of
//! the files is tried again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the files' modification times are looked at.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// The certificate chain and private key files, both PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks the chain and key: both parse, and the key is the certificate's.
pub fn load(files: &TlsFiles) -> anyhow::Result<CertifiedKey> {
    let chain = read_chain(&files.cert)?;
    let key = read_key(&files.key)?;
    CertifiedKey::from_der(chain, key, &provider())
        .context("the private key does not match the certificate, or is of an unsupported type")
}

/// Reads the certificate chain, leaf first.
pub fn read_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", path.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{} holds no PEM certificate",
        path.display()
    );
    Ok(chain)
}

fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    PrivateKeyDer::from_pem_slice(&pem)
        .with_context(|| format!("{} holds no PEM private key", path.display()))
}

/// Hands every handshake the current certificate.
#[derive(Debug)]
struct Reloading {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// A rustls server configuration serving the certificate in `files`, and a task that reloads
/// it every `interval` when the files changed. The task ends when the configuration is
/// dropped. Fails when the files cannot be loaded now.
pub fn server_config(
    files: &TlsFiles,
    interval: Duration,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let stamp = stamps(files);
    let first = load(files)?;
    let resolver = Arc::new(Reloading {
        current: RwLock::new(Arc::new(first)),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("the TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tokio::spawn(reload(
        files.clone(),
        Arc::downgrade(&resolver),
        stamp,
        interval,
    ));
    Ok(Arc::new(config))
}

type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn stamps(files: &TlsFiles) -> (Stamp, Stamp) {
    (stamp(&files.cert), stamp(&files.key))
}

async fn reload(
    files: TlsFiles,
    resolver: Weak<Reloading>,
    mut seen: (Stamp, Stamp),
    interval: Duration,
) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(resolver) = resolver.upgrade() else {
            return;
        };
        let now = stamps(&files);
        if now == seen {
            continue;
        }
        seen = now;
        match load(&files) {
            Ok(key) => {
                *resolver.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
                tracing::info!(cert = %files.cert.display(), "reloaded the TLS certificate");
            }
            Err(e) => tracing::error!(
                error = format!("{e:#}"),
                cert = %files.cert.display(),
                "reloading the TLS certificate failed; still serving the previous one"
            ),
        }
    }
}
