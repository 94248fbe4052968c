//! Which agents the manager trusts with a cluster's token: each agent's certificate is pinned by
//! its SHA-256 fingerprint when the host is first trusted (`cluster add`, or `cluster update
//! --repin HOST`), and every later TLS handshake must present exactly that certificate before
//! anything, least of all the token, is sent.
//!
//! First use is a TLS handshake of its own ([`fetch_fingerprint`]): the certificate is captured and
//! the connection closed without a request. The pinned client ([`PinVerifier`]) then refuses any
//! other certificate, and a host without a pin, with a [`TrustError`] naming the host, both
//! fingerprints and what to do. Handshake signatures are checked as usual, so presenting a copy of
//! the certificate without its key fails too.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, OtherError, SignatureScheme,
};

/// How long the first-use handshake may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an agent's certificate is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The host has no pinned certificate: it was not part of the cluster when it was added.
    #[error(
        "{host} is not a trusted agent of this cluster (its certificate SHA-256 {presented} is not pinned), so the manager does not send it the token; if {host} is a node of the cluster, trust its certificate with `cairn cluster update -c CLUSTER --repin {host}`"
    )]
    NotPinned {
        /// The agent's host.
        host: String,
        /// Fingerprint of the certificate it presented.
        presented: String,
    },
    /// The host presented another certificate than the one pinned.
    #[error(
        "the certificate of the agent at {host} changed: pinned SHA-256 {pinned}, presented SHA-256 {presented}; the token was not sent. If the agent's certificate was replaced on purpose, trust the new one with `cairn cluster update -c CLUSTER --repin {host}`; otherwise something else answers at {host}"
    )]
    Changed {
        /// The agent's host.
        host: String,
        /// Fingerprint pinned.
        pinned: String,
        /// Fingerprint presented.
        presented: String,
    },
    /// The first-use handshake failed.
    #[error("cannot read the TLS certificate of the agent at {host}: {reason}")]
    Probe {
        /// The agent's host.
        host: String,
        /// What failed.
        reason: String,
    },
}

/// The SHA-256 fingerprint of a DER certificate, as 64 lowercase hex digits.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The pin of `host` in `pins`: the same string, or the same IP address written otherwise.
fn pin_of<'a>(pins: &'a BTreeMap<String, String>, host: &str) -> Option<&'a String> {
    pins.get(host).or_else(|| {
        let ip: IpAddr = host.parse().ok()?;
        pins.iter()
            .find(|(h, _)| h.parse::<IpAddr>().ok() == Some(ip))
            .map(|(_, p)| p)
    })
}

/// The host a TLS server name stands for.
fn host_of(name: &ServerName<'_>) -> String {
    match name {
        ServerName::IpAddress(ip) => IpAddr::from(*ip).to_string(),
        ServerName::DnsName(d) => d.as_ref().to_string(),
        other => format!("{other:?}"),
    }
}

/// The crypto provider of every agent connection.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Checks the agent's certificate against the pins; `None` pins accept any certificate (the
/// first-use handshake, which sends nothing).
#[derive(Debug)]
pub struct PinVerifier {
    /// Fingerprint by host; `None` when capturing.
    pins: Option<Arc<BTreeMap<String, String>>>,
    /// Checks the handshake signatures.
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(pins) = &self.pins else {
            return Ok(ServerCertVerified::assertion());
        };
        let host = host_of(server_name);
        let presented = fingerprint(end_entity.as_ref());
        let refusal = match pin_of(pins, &host) {
            Some(pinned) if *pinned == presented => return Ok(ServerCertVerified::assertion()),
            Some(pinned) => TrustError::Changed {
                host,
                pinned: pinned.clone(),
                presented,
            },
            None => TrustError::NotPinned { host, presented },
        };
        tracing::warn!(error = %refusal, "agent certificate refused");
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(refusal)),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS client configuration that trusts exactly the pinned certificates (`None`: any, for the
/// first-use handshake only).
pub fn client_config(
    pins: Option<Arc<BTreeMap<String, String>>>,
) -> Result<ClientConfig, rustls::Error> {
    let provider = provider();
    Ok(ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinVerifier { pins, provider }))
        .with_no_client_auth())
}

/// The refusal inside a failed connection's error, if a certificate check refused it: searched
/// through the causes and the errors I/O errors carry inside (which their `source` skips).
pub fn refusal_in(e: &(dyn std::error::Error + 'static)) -> Option<TrustError> {
    let mut pending: Vec<&(dyn std::error::Error + 'static)> = vec![e];
    // Error chains are short; the bound only guards against a cycle.
    for _ in 0..64 {
        let c = pending.pop()?;
        if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(other))) =
            c.downcast_ref::<rustls::Error>()
            && let Some(t) = other.0.downcast_ref::<TrustError>()
        {
            return Some(t.clone());
        }
        if let Some(t) = c.downcast_ref::<TrustError>() {
            return Some(t.clone());
        }
        if let Some(inner) = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            pending.push(inner);
        }
        if let Some(next) = c.source() {
            pending.push(next);
        }
    }
    None
}

/// Connects to the agent at `host:port`, completes a TLS handshake and answers the SHA-256
/// fingerprint of its certificate. Nothing is sent over the connection: this is how a host is
/// trusted on first use without handing it the token.
pub async fn fetch_fingerprint(host: &str, port: u16) -> Result<String, TrustError> {
    let failed = |reason: String| TrustError::Probe {
        host: host.to_string(),
        reason,
    };
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| failed(format!("not a host name or address: {e}")))?;
    let config = client_config(None).map_err(|e| failed(e.to_string()))?;
    let connector = TlsConnector::from(Arc::new(config));
    let handshake = async {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| failed(format!("cannot connect to port {port}: {e}")))?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| failed(format!("TLS handshake failed: {e}")))?;
        let (_, conn) = tls.get_ref();
        conn.peer_certificates()
            .and_then(|c| c.first())
            .map(|c| fingerprint(c.as_ref()))
            .ok_or_else(|| failed("it presented no certificate".into()))
    };
    tokio::time::timeout(PROBE_TIMEOUT, handshake)
        .await
        .map_err(|_| failed(format!("no TLS handshake within {PROBE_TIMEOUT:?}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_found_by_host_or_by_the_same_address() {
        let pins: BTreeMap<String, String> = [
            ("10.0.0.1".to_string(), "aa".to_string()),
            ("node-b".to_string(), "bb".to_string()),
            ("::1".to_string(), "cc".to_string()),
        ]
        .into_iter()
        .collect();
        assert_eq!(pin_of(&pins, "10.0.0.1").map(String::as_str), Some("aa"));
        assert_eq!(pin_of(&pins, "node-b").map(String::as_str), Some("bb"));
        assert_eq!(
            pin_of(&pins, "0:0:0:0:0:0:0:1").map(String::as_str),
            Some("cc")
        );
        assert_eq!(pin_of(&pins, "10.0.0.2"), None);
    }

    #[test]
    fn fingerprints_are_sha256_hex() {
        assert_eq!(
            fingerprint(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn messages_name_the_host_both_fingerprints_and_the_fix() {
        let e = TrustError::Changed {
            host: "10.0.0.7".into(),
            pinned: "aa".into(),
            presented: "bb".into(),
        }
        .to_string();
        for needle in [
            "10.0.0.7",
            "pinned SHA-256 aa",
            "presented SHA-256 bb",
            "--repin 10.0.0.7",
        ] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }
}
