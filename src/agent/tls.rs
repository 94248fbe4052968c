//! HTTPS for the agent's API: the configured certificate, or a self-signed one, made at the
//! first start and kept in `state_directory` (the manager pins each agent's certificate, so it
//! must outlive a restart), or made at every start when there is no such directory.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types};
use tokio_util::sync::CancellationToken;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or parsed.
    #[error("{key}: {path} {reason}")]
    File {
        /// The configuration key naming the file.
        key: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The certificate and key do not make a usable TLS configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// A TLS acceptor from PEM files, or from a new self-signed certificate for `names`.
pub fn acceptor(
    cert: Option<&Path>,
    key: Option<&Path>,
    names: Vec<String>,
) -> Result<TlsAcceptor, TlsError> {
    use pki_types::pem::PemObject;
    let (chain, key) = match (cert, key) {
        (Some(cert), Some(key)) => {
            let file_err = |k: &'static str, p: &Path, what: &'static str| {
                let path = p.display().to_string();
                move |e: pki_types::pem::Error| TlsError::File {
                    key: k,
                    path,
                    reason: match e {
                        pki_types::pem::Error::NoItemsFound => format!("holds no PEM {what}"),
                        pki_types::pem::Error::Io(e) => format!("cannot be read: {e}"),
                        other => format!("holds no valid PEM {what}: {other}"),
                    },
                }
            };
            let what = "certificate";
            let chain = pki_types::CertificateDer::pem_file_iter(cert)
                .map_err(file_err("tls_cert_file", cert, what))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(file_err("tls_cert_file", cert, what))?;
            if chain.is_empty() {
                return Err(file_err("tls_cert_file", cert, what)(
                    pki_types::pem::Error::NoItemsFound,
                ));
            }
            let key = pki_types::PrivateKeyDer::from_pem_file(key).map_err(file_err(
                "tls_key_file",
                key,
                "private key",
            ))?;
            (chain, key)
        }
        _ => {
            let made = rcgen::generate_simple_self_signed(names)
                .map_err(|e| TlsError::Config(e.to_string()))?;
            let key = pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
            (vec![made.cert.der().clone()], key)
        }
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The self-signed certificate kept in `state_directory`.
const KEPT_CERT: &str = "agent-self-signed.crt";
/// Its private key (mode 0600).
const KEPT_KEY: &str = "agent-self-signed.key";

/// A TLS acceptor from the self-signed certificate kept in `dir`: made for `names` and written
/// there at the first start (the directory 0700, the key 0600), read back at every later one.
pub fn kept_self_signed(dir: &Path, names: Vec<String>) -> Result<TlsAcceptor, TlsError> {
    let (cert, key) = (dir.join(KEPT_CERT), dir.join(KEPT_KEY));
    if !(cert.is_file() && key.is_file()) {
        write_self_signed(dir, &cert, &key, names)?;
        tracing::info!(cert = %cert.display(), "made a self-signed certificate and kept it");
    }
    acceptor(Some(&cert), Some(&key), Vec::new()).map_err(|e| match e {
        TlsError::File { path, reason, .. } => TlsError::File {
            key: "state_directory",
            path,
            reason,
        },
        other => other,
    })
}

/// Makes a self-signed pair and writes it into `dir`, the key first and the certificate last,
/// each through a temporary file renamed into place, so both present means both whole.
fn write_self_signed(
    dir: &Path,
    cert: &Path,
    key: &Path,
    names: Vec<String>,
) -> Result<(), TlsError> {
    let unwritable = |p: &Path| {
        let path = p.display().to_string();
        move |e: std::io::Error| TlsError::File {
            key: "state_directory",
            path,
            reason: format!("cannot be written: {e}"),
        }
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(unwritable(dir))?;
    let made =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Config(e.to_string()))?;
    for (path, pem, mode) in [
        (key, made.signing_key.serialize_pem(), 0o600),
        (cert, made.cert.pem(), 0o644),
    ] {
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(unwritable(&tmp))?;
        file.write_all(pem.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(unwritable(&tmp))?;
        std::fs::rename(&tmp, path).map_err(unwritable(path))?;
    }
    Ok(())
}

/// Serves `router` over TLS on `listener` until `stop` is cancelled.
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    stop: CancellationToken,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = stop.cancelled() => return,
        };
        let (acceptor, router, stop) = (acceptor.clone(), router.clone(), stop.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let service = TowerToHyperService::new(router);
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            tokio::select! {
                r = conn => if let Err(e) = r { tracing::debug!(%peer, error = %e, "connection ended with an error") },
                _ = stop.cancelled() => {}
            }
        });
    }
}
