//! The WebTransport endpoint's certificate. A browser reaches a self-signed host only through
//! `serverCertificateHashes`, which it honours for ECDSA P-256 certificates valid for at most 14
//! days; so the endpoint gets a fresh one at start and a new one every [`ROTATE_EVERY`], well
//! before the old one expires (a page fetches the current hash with its ticket).

use anyhow::{Context, Result};
use std::time::{Duration, SystemTime};

/// How long each certificate is valid: the browsers' limit.
const VALID_DAYS: u32 = 14;
/// When the next certificate replaces the current one.
pub(super) const ROTATE_EVERY: Duration = Duration::from_secs(7 * 86_400);

/// A certificate and key for the endpoint, and the SHA-256 of the certificate.
pub(super) struct EndpointCertificate {
    pub(super) identity: wtransport::Identity,
    pub(super) sha256: [u8; 32],
}

impl EndpointCertificate {
    pub(super) fn fresh(now: SystemTime) -> Result<EndpointCertificate> {
        let names = ["localhost".to_string()];
        let made = punktfunk_common::self_signed::new_short_lived_identity(&names, now, VALID_DAYS)
            .context("making the WebTransport certificate")?;
        let certificate = wtransport::tls::Certificate::from_der(made.cert_der)
            .context("the WebTransport certificate")?;
        let sha256 = *certificate.hash().as_ref();
        let key = wtransport::tls::PrivateKey::from_der_pkcs8(made.key_der);
        Ok(EndpointCertificate {
            identity: wtransport::Identity::new(
                wtransport::tls::CertificateChain::single(certificate),
                key,
            ),
            sha256,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_certificates_sha256() {
        let cert = EndpointCertificate::fresh(SystemTime::now()).unwrap();
        let chain = cert.identity.certificate_chain();
        assert_eq!(chain.as_slice().len(), 1);
        let der = chain.as_slice()[0].der();
        assert_eq!(
            punktfunk_core::hex::certificate_fingerprint(der),
            punktfunk_core::hex::encode(&cert.sha256)
        );
        let other = EndpointCertificate::fresh(SystemTime::now()).unwrap();
        assert_ne!(
            other.sha256, cert.sha256,
            "each rotation is a new certificate"
        );
    }
}
