//! Trust for punktfunk's TLS connections: the host's self-signed certificate is trusted by pinning the
//! SHA-256 fingerprint of its end-entity certificate (lowercase hex of the DER, no separators), or on
//! first use when no fingerprint is given. The handshake signatures are still verified with the
//! aws-lc-rs provider's algorithms, so a pinned certificate proves the host holds its private key.
//!
//! Clients (the probe, the host's own CLI commands against its running API) use [`PinnedVerifier`];
//! the host knows each client by its certificate's fingerprint ([`fingerprint_hex`]) once paired.
//!
//! Only the aws-lc-rs crypto provider is used (mixing rustls providers panics at run time).

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::{Mutex, PoisonError};

/// Server name the client presents (SNI); the host's certificate is pinned, not checked against it.
pub const SERVER_NAME: &str = "punktfunk";

pub use punktfunk_core::hex::certificate_fingerprint as fingerprint_hex;

/// Why a user-supplied fingerprint is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    #[error("fingerprint contains {0:?}, which is neither a hex digit nor a separator")]
    BadChar(char),
    #[error("fingerprint has {0} hex digits; a SHA-256 fingerprint has 64")]
    BadLength(usize),
}

/// Normalises a fingerprint as users paste it (`AB:CD:…`, `ab cd …`, `abcd…`) to 64 lowercase hex digits.
pub fn normalize_fingerprint(input: &str) -> Result<String, FingerprintError> {
    let mut out = String::with_capacity(64);
    for c in input.trim().chars() {
        match c {
            ':' | '-' | ' ' => {}
            c if c.is_ascii_hexdigit() => out.push(c.to_ascii_lowercase()),
            c => return Err(FingerprintError::BadChar(c)),
        }
    }
    if out.len() != 64 {
        return Err(FingerprintError::BadLength(out.len()));
    }
    Ok(out)
}

/// Verifies the host by fingerprint pinning (or trust on first use) and remembers what it saw.
#[derive(Debug)]
pub struct PinnedVerifier {
    expected: Option<String>,
    seen: Mutex<Option<String>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedVerifier {
    /// `expected`: a normalised fingerprint to pin, or `None` to accept any certificate (TOFU).
    pub fn new(expected: Option<String>) -> Self {
        PinnedVerifier {
            expected,
            seen: Mutex::new(None),
            algorithms: aws_lc_rs_provider().signature_verification_algorithms,
        }
    }

    pub fn expected(&self) -> Option<&str> {
        self.expected.as_deref()
    }

    /// Fingerprint of the certificate the host presented, once the handshake got that far.
    pub fn seen(&self) -> Option<String> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `(expected, got)` if the host presented a certificate other than the pinned one.
    pub fn mismatch(&self) -> Option<(String, String)> {
        let expected = self.expected.as_ref()?;
        let seen = self.seen()?;
        (*expected != seen).then(|| (expected.clone(), seen))
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = fingerprint_hex(end_entity.as_ref());
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(got.clone());
        match &self.expected {
            Some(expected) if *expected != got => {
                tracing::warn!(%expected, %got, "host certificate fingerprint mismatch");
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ))
            }
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    crate::handshake_signature_checks!();
}

/// The one crypto provider of every punktfunk crate.
pub fn aws_lc_rs_provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// The handshake-signature half of a rustls certificate verifier, the same for every verifier of
/// ours (the clients' pinning verifier, the host's self-signed client check): the peer's key must
/// have signed the handshake, checked with the `algorithms` field's (our one provider's)
/// algorithms. Expands to the three trait methods inside an `impl ServerCertVerifier` or
/// `impl ClientCertVerifier` block.
#[macro_export]
macro_rules! handshake_signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &::rustls::pki_types::CertificateDer<'_>,
            dss: &::rustls::DigitallySignedStruct,
        ) -> Result<::rustls::client::danger::HandshakeSignatureValid, ::rustls::Error> {
            ::rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &::rustls::pki_types::CertificateDer<'_>,
            dss: &::rustls::DigitallySignedStruct,
        ) -> Result<::rustls::client::danger::HandshakeSignatureValid, ::rustls::Error> {
            ::rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<::rustls::SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_normalised() {
        let hex = "ab".repeat(32);
        assert_eq!(normalize_fingerprint(&hex), Ok(hex.clone()));
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(normalize_fingerprint(&colons), Ok(hex.clone()));
        assert_eq!(
            normalize_fingerprint(&format!("  {}  ", "Ab".repeat(32))),
            Ok(hex)
        );
        assert_eq!(
            normalize_fingerprint("abc"),
            Err(FingerprintError::BadLength(3))
        );
        assert_eq!(
            normalize_fingerprint(&"zz".repeat(32)),
            Err(FingerprintError::BadChar('z'))
        );
    }

    #[test]
    fn fingerprint_is_sha256_of_der() {
        // SHA-256 of the empty string.
        assert_eq!(
            fingerprint_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn verifier_pins_and_reports_mismatch() {
        let der = CertificateDer::from(vec![1u8, 2, 3]);
        let name = ServerName::try_from(SERVER_NAME).unwrap();
        let good = fingerprint_hex(der.as_ref());
        let pinned = PinnedVerifier::new(Some(good.clone()));
        assert!(
            pinned
                .verify_server_cert(&der, &[], &name, &[], UnixTime::now())
                .is_ok()
        );
        assert_eq!(pinned.mismatch(), None);
        let wrong = PinnedVerifier::new(Some("00".repeat(32)));
        assert!(
            wrong
                .verify_server_cert(&der, &[], &name, &[], UnixTime::now())
                .is_err()
        );
        assert_eq!(wrong.mismatch(), Some(("00".repeat(32), good.clone())));
        let tofu = PinnedVerifier::new(None);
        assert!(
            tofu.verify_server_cert(&der, &[], &name, &[], UnixTime::now())
                .is_ok()
        );
        assert_eq!(tofu.seen(), Some(good));
        assert!(!tofu.supported_verify_schemes().is_empty());
    }
}
