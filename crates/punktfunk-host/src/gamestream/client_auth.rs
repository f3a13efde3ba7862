//! TLS client authentication the way GameStream needs it: every Moonlight client presents a
//! self-signed certificate that no CA vouches for, and embedded clients have clocks so wrong that
//! validity dates mean nothing. So the handshake accepts any certificate whose key really signed the
//! handshake (proof of possession, checked by rustls with our one crypto provider), and *whether that
//! certificate is paired* is decided afterwards, per request, by [`super::clients::PairedClients`]. An
//! unpaired client thus gets a readable XML 401 instead of a TLS alert it would show as "network error".

use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};

#[derive(Debug)]
pub struct AnyClientCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AnyClientCert {
    pub fn new(provider: &CryptoProvider) -> Self {
        AnyClientCert {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    /// Not mandatory: a client without a certificate may still read `/serverinfo` (unpaired).
    fn client_auth_mandatory(&self) -> bool {
        false
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
        // It must at least parse as a certificate with a usable key; the signature check below then
        // proves the client holds that key. Issuer, chain and dates are deliberately ignored.
        rustls::server::ParsedCertificate::try_from(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
