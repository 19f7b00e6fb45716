//! TLS: a handshake with SNI that records the chain, then two verdicts on it: against the public
//! (Mozilla) roots plus `--ca-file`, and against the OS store. Only the OS store trusting it means a
//! TLS-inspecting device; neither, an untrusted certificate.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::{Error, Location, Result};
use crate::plan::HostPlan;
use crate::remedy;
use crate::report::{Check, Kind, Reason, Status};
use crate::sanitize::for_terminal;

/// The roots a run trusts, built once.
pub(crate) struct Trust {
    provider: Arc<CryptoProvider>,
    public: Arc<WebPkiServerVerifier>,
    os: Option<Arc<WebPkiServerVerifier>>,
}

/// The largest `--ca-file` read: a bundle of every public root is about 250 KiB.
pub(crate) const MAX_CA_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads `--ca-file`: every certificate in a PEM file.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = crate::input::read_bytes(path, MAX_CA_FILE_BYTES, "a PEM file of CA certificates")?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::bad_input(
                Location::file(path),
                format!("not a PEM certificate file: {e}"),
            )
        })?;
    if certs.is_empty() {
        return Err(Error::bad_input(
            Location::file(path),
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certs)
}

fn verifier(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Option<Arc<WebPkiServerVerifier>> {
    if roots.is_empty() {
        return None;
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .ok()
}

impl Trust {
    /// The public roots (bundled Mozilla set plus `extra`), and the OS store as
    /// `rustls-native-certs` finds it (it honours `SSL_CERT_FILE` and `SSL_CERT_DIR`).
    pub(crate) fn load(extra: Vec<CertificateDer<'static>>) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut public = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let extra_roots = extra.len();
        let (added, _) = public.add_parsable_certificates(extra);
        if added < extra_roots {
            return Err(Error::usage(format!(
                "--ca-file: {} of its {extra_roots} certificates are not usable as trust anchors",
                extra_roots - added
            )));
        }
        let public = verifier(public, &provider)
            .ok_or_else(|| Error::usage("no public roots are usable"))?;
        let native = rustls_native_certs::load_native_certs();
        let mut os = RootCertStore::empty();
        os.add_parsable_certificates(native.certs);
        Ok(Self {
            os: verifier(os, &provider),
            provider,
            public,
        })
    }

    fn config(&self, recorder: Arc<Recorder>) -> rustls::ClientConfig {
        let mut config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("ring supports TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(recorder)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config
    }
}

/// What the verifier saw: the chain, and the two verdicts on it.
#[derive(Debug, Default)]
struct Seen {
    chain: Vec<CertificateDer<'static>>,
    public: Option<std::result::Result<(), rustls::Error>>,
    os: Option<std::result::Result<(), rustls::Error>>,
}

/// Accepts any chain so the handshake completes (nothing secret is ever sent), and records both
/// verdicts for the report. Signatures are still checked.
#[derive(Debug)]
struct Recorder {
    public: Arc<WebPkiServerVerifier>,
    os: Option<Arc<WebPkiServerVerifier>>,
    seen: Mutex<Seen>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let public = self
            .public
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            .map(drop);
        let os = match (&public, &self.os) {
            (Err(_), Some(os)) => Some(
                os.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
                    .map(drop),
            ),
            _ => None,
        };
        let mut seen = self.seen.lock().expect("not poisoned");
        seen.chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        seen.public = Some(public);
        seen.os = os;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.public.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.public.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.public.supported_verify_schemes()
    }
}

/// Why a handshake did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HandshakeFailure {
    /// The server speaks only TLS 1.1 or older.
    OldTls,
    /// The connection was cut or the peer sent an alert: often SNI filtering.
    Cut,
    /// The peer's handshake is not valid TLS, or its messages are past rustls's size limits (a
    /// certificate chain of tens of kilobytes): something other than the service answers.
    Malformed,
    /// The TCP connection opened, then the handshake got no answer in time.
    Timeout,
}

/// Classifies a handshake error: the `rustls::Error` inside the `io::Error`, else the I/O kind.
pub(crate) fn classify_handshake(error: &std::io::Error) -> HandshakeFailure {
    let inner = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::AlertReceived(AlertDescription::ProtocolVersion))
        | Some(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13
            | rustls::PeerIncompatible::SupportedVersionsExtensionRequired,
        )) => HandshakeFailure::OldTls,
        Some(
            rustls::Error::InvalidMessage(_)
            | rustls::Error::PeerMisbehaved(_)
            | rustls::Error::InappropriateHandshakeMessage { .. }
            | rustls::Error::InappropriateMessage { .. },
        ) => HandshakeFailure::Malformed,
        _ if error.kind() == std::io::ErrorKind::TimedOut => HandshakeFailure::Timeout,
        _ => HandshakeFailure::Cut,
    }
}

/// Why a chain is not trusted, from rustls's certificate errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Untrusted {
    Expired,
    WrongName,
    UnknownIssuer,
}

pub(crate) fn classify_certificate(error: &rustls::Error) -> Untrusted {
    match error {
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => Untrusted::Expired,
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => Untrusted::WrongName,
        _ => Untrusted::UnknownIssuer,
    }
}

/// How the chain stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Public,
    /// Only the OS store trusts it: a TLS-inspecting device.
    Intercepted,
    Untrusted(Untrusted),
}

/// Names read from one certificate, for evidence.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct CertInfo {
    pub subject: String,
    pub issuer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_organization: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    pub not_after: String,
    pub sha256: String,
}

/// Reads names and dates from a DER certificate; text from the network is bounded and sanitised.
pub(crate) fn cert_info(der: &[u8]) -> CertInfo {
    let sha256 = ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let clean = |s: &str| for_terminal(s, 200);
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => {
            let dns_names = cert
                .subject_alternative_name()
                .ok()
                .flatten()
                .map(|san| {
                    san.value
                        .general_names
                        .iter()
                        .filter_map(|n| match n {
                            x509_parser::extensions::GeneralName::DNSName(d) => Some(clean(d)),
                            _ => None,
                        })
                        .take(50)
                        .collect()
                })
                .unwrap_or_default();
            let issuer_organization = cert
                .issuer()
                .iter_organization()
                .next()
                .and_then(|o| o.as_str().ok())
                .map(clean);
            CertInfo {
                subject: clean(&cert.subject().to_string()),
                issuer: clean(&cert.issuer().to_string()),
                issuer_organization,
                dns_names,
                not_after: cert
                    .validity()
                    .not_after
                    .to_datetime()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                sha256,
            }
        }
        Err(_) => CertInfo {
            subject: "(unparsable certificate)".to_owned(),
            sha256,
            ..CertInfo::default()
        },
    }
}

/// The handshake's facts.
pub(crate) struct Handshake {
    pub stream: TlsStream<TcpStream>,
    pub version: String,
    pub cipher_suite: String,
    pub alpn: Option<String>,
    pub chain: Vec<CertInfo>,
    pub verdict: Verdict,
}

/// Runs a handshake with SNI `host` over `stream`, bounded by `limit`.
pub(crate) async fn handshake(
    trust: &Trust,
    host: &str,
    stream: TcpStream,
    limit: Duration,
) -> std::result::Result<Handshake, HandshakeFailure> {
    let recorder = Arc::new(Recorder {
        public: trust.public.clone(),
        os: trust.os.clone(),
        seen: Mutex::new(Seen::default()),
    });
    let connector = TlsConnector::from(Arc::new(trust.config(recorder.clone())));
    let name = ServerName::try_from(host.to_owned()).map_err(|_| HandshakeFailure::Cut)?;
    let stream = match tokio::time::timeout(limit, connector.connect(name, stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(classify_handshake(&e)),
        Err(_) => return Err(HandshakeFailure::Timeout),
    };
    let seen = std::mem::take(&mut *recorder.seen.lock().expect("not poisoned"));
    let verdict = match (&seen.public, &seen.os) {
        (Some(Ok(())), _) => Verdict::Public,
        (Some(Err(public)), os) => {
            let public_why = classify_certificate(public);
            match (public_why, os) {
                (Untrusted::UnknownIssuer, Some(Ok(()))) => Verdict::Intercepted,
                (Untrusted::UnknownIssuer, Some(Err(os))) => {
                    Verdict::Untrusted(classify_certificate(os))
                }
                (why, _) => Verdict::Untrusted(why),
            }
        }
        (None, _) => Verdict::Untrusted(Untrusted::UnknownIssuer),
    };
    let (_, conn) = stream.get_ref();
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_owned(),
        Some(other) => format!("{other:?}"),
        None => "unknown".to_owned(),
    };
    let cipher_suite = conn
        .negotiated_cipher_suite()
        .and_then(|s| s.suite().as_str())
        .unwrap_or("unknown")
        .to_owned();
    let alpn = conn
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    Ok(Handshake {
        stream,
        version,
        cipher_suite,
        alpn,
        chain: seen.chain.iter().map(|c| cert_info(c)).collect(),
        verdict,
    })
}

/// The CA a chain leads to, for people: `Inspect Root CA (Example Corp)`.
pub(crate) fn issuing_ca(chain: &[CertInfo]) -> String {
    chain
        .last()
        .map_or_else(String::new, |c| match &c.issuer_organization {
            Some(org) if !c.issuer.contains(org.as_str()) => format!("{} ({org})", c.issuer),
            _ => c.issuer.clone(),
        })
}

/// The TLS step's check from a handshake result.
pub(crate) fn judge(
    plan: &HostPlan,
    via: &str,
    result: &std::result::Result<Handshake, HandshakeFailure>,
) -> Check {
    let host = &plan.host;
    let port = plan.port;
    let base = |status, reason, detail: String| {
        plan.check(
            format!("tls/{host}:{port}"),
            Kind::Tls,
            status,
            reason,
            detail,
            via,
        )
    };
    let h = match result {
        Err(HandshakeFailure::OldTls) => {
            return base(
                Status::Fail,
                Reason::OldTls,
                format!(
                    "the TLS handshake with {host} ({via}) fails: only TLS 1.1 or older is offered"
                ),
            )
            .remedy(remedy::old_tls(host, &plan.allowlist));
        }
        Err(HandshakeFailure::Timeout) => {
            return base(
                Status::Fail,
                Reason::Stalled,
                format!(
                    "the connection to {host} ({via}) opened, but the TLS handshake got no answer in time"
                ),
            )
            .remedy(remedy::stalled(
                host,
                "the TLS handshake",
                via,
                &plan.allowlist,
            ))
            .evidence("stage", "tls_handshake");
        }
        Err(HandshakeFailure::Malformed) => {
            return base(
                Status::Fail,
                Reason::BadResponse,
                format!(
                    "the TLS handshake with {host} ({via}) failed: the answer is not valid TLS, or its messages are larger than any real server sends"
                ),
            )
            .remedy(remedy::bad_tls(host, port, &plan.allowlist));
        }
        Err(HandshakeFailure::Cut) => {
            return base(
                Status::Fail,
                Reason::HandshakeFailed,
                format!("the TLS handshake with {host} ({via}) was cut off"),
            )
            .remedy(remedy::handshake_failed(host, port, &plan.allowlist));
        }
        Ok(h) => h,
    };
    let leaf = h.chain.first().cloned().unwrap_or_default();
    let ca = issuing_ca(&h.chain);
    let check = match h.verdict {
        Verdict::Public => base(
            Status::Pass,
            Reason::Ok,
            format!("{} with {host} ({via}); the certificate is trusted, issued by {ca}", h.version),
        ),
        Verdict::Intercepted => base(
            Status::Warn,
            Reason::Intercepted,
            format!(
                "TLS to {host} ({via}) is inspected: the certificate is issued by {ca}, trusted only by this workstation's certificate store"
            ),
        )
        .remedy(remedy::intercepted(&plan.allowlist, &ca)),
        Verdict::Untrusted(Untrusted::UnknownIssuer) => base(
            Status::Fail,
            Reason::UntrustedCertificate,
            format!("the certificate for {host} ({via}) is issued by {ca}, which no trusted root signs"),
        )
        .remedy(remedy::untrusted(&plan.allowlist, &ca)),
        Verdict::Untrusted(Untrusted::WrongName) => {
            let names = if leaf.dns_names.is_empty() {
                leaf.subject.clone()
            } else {
                leaf.dns_names.join(", ")
            };
            base(
                Status::Fail,
                Reason::HostnameMismatch,
                format!("the certificate served for {host} ({via}) names {names}, not {host}"),
            )
            .remedy(remedy::hostname_mismatch(host, &plan.allowlist, &names))
        }
        Verdict::Untrusted(Untrusted::Expired) => base(
            Status::Fail,
            Reason::ExpiredCertificate,
            format!(
                "the certificate served for {host} ({via}) is outside its validity (not after {})",
                leaf.not_after
            ),
        )
        .remedy(remedy::expired(host, &plan.allowlist, &leaf.not_after)),
    };
    check
        .evidence("version", &h.version)
        .evidence("cipher_suite", &h.cipher_suite)
        .evidence("alpn", &h.alpn)
        .evidence("issuing_ca", &ca)
        .evidence("chain", &h.chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_are_classified_from_the_enum() {
        let table = [
            (CertificateError::Expired, Untrusted::Expired),
            (CertificateError::NotValidYet, Untrusted::Expired),
            (CertificateError::NotValidForName, Untrusted::WrongName),
            (CertificateError::UnknownIssuer, Untrusted::UnknownIssuer),
            (CertificateError::BadSignature, Untrusted::UnknownIssuer),
        ];
        for (error, expected) in table {
            assert_eq!(
                classify_certificate(&rustls::Error::InvalidCertificate(error.clone())),
                expected,
                "{error:?}"
            );
        }
    }

    #[test]
    fn a_protocol_version_alert_means_old_tls() {
        let io = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        assert_eq!(
            classify_handshake(&io(rustls::Error::AlertReceived(
                AlertDescription::ProtocolVersion
            ))),
            HandshakeFailure::OldTls
        );
        assert_eq!(
            classify_handshake(&io(rustls::Error::AlertReceived(
                AlertDescription::HandshakeFailure
            ))),
            HandshakeFailure::Cut
        );
        assert_eq!(
            classify_handshake(&std::io::Error::from(std::io::ErrorKind::UnexpectedEof)),
            HandshakeFailure::Cut
        );
        // An oversized or garbled handshake is the peer's doing, not a server-name filter.
        assert_eq!(
            classify_handshake(&io(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::MessageTooLarge
            ))),
            HandshakeFailure::Malformed
        );
    }
}
