//! TLS client authentication for self-signed client certificates, shared by punktfunk/1 and
//! GameStream. No CA vouches for a client and embedded clients' clocks are often wrong, so the
//! handshake accepts any certificate that parses and whose key really signed the handshake (proof of
//! possession, checked by rustls with our one crypto provider). Whether that certificate is *paired*
//! is each protocol's decision afterwards: punktfunk/1 refuses with a reason on the control stream,
//! GameStream answers a readable XML 401 instead of a TLS alert clients would show as "network error".

use rustls::DistinguishedName;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};

#[derive(Debug)]
pub struct SelfSignedClientAuth {
    algorithms: WebPkiSupportedAlgorithms,
    mandatory: bool,
}

impl SelfSignedClientAuth {
    /// Every client must present a certificate (punktfunk/1: the certificate is the client's id).
    pub fn required(provider: &CryptoProvider) -> Self {
        SelfSignedClientAuth {
            algorithms: provider.signature_verification_algorithms,
            mandatory: true,
        }
    }

    /// Clients without one are let through (GameStream: an unpaired client may read `/serverinfo`).
    pub fn optional(provider: &CryptoProvider) -> Self {
        SelfSignedClientAuth {
            mandatory: false,
            ..Self::required(provider)
        }
    }
}

impl ClientCertVerifier for SelfSignedClientAuth {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    /// No hints: an empty list tells clients to send whatever certificate they have.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // It must parse as a certificate with a usable key; the handshake signature check then
        // proves the client holds that key. Issuer, chain and dates are deliberately ignored.
        rustls::server::ParsedCertificate::try_from(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    punktfunk_common::handshake_signature_checks!();
}
