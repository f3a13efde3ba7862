//! The punktfunk/1 client's TLS: the host is trusted through [`PinnedVerifier`] (its certificate's
//! pinned fingerprint, or on first use), and the client presents its own persistent self-signed
//! certificate ([`ClientIdentity`]); the host knows it by that certificate's fingerprint once paired.
//!
//! Only the aws-lc-rs crypto provider is used (mixing rustls providers panics at run time).

use crate::identity::ClientIdentity;
pub use punktfunk_common::tls::{
    FingerprintError, PinnedVerifier, SERVER_NAME, aws_lc_rs_provider, fingerprint_hex,
    normalize_fingerprint,
};
use std::sync::Arc;

/// Why the QUIC client configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("QUIC TLS configuration: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
}

/// A quinn client configuration speaking punktfunk/1 (TLS 1.3, ALPN `pkf1`) that trusts the host
/// through `verifier` and presents `identity` as the client certificate (hosts refuse clients
/// without one; `None` is for tests against hosts that do not ask).
pub fn quic_client_config(
    verifier: Arc<PinnedVerifier>,
    identity: Option<&ClientIdentity>,
) -> Result<quinn::ClientConfig, TlsConfigError> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(aws_lc_rs_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut tls = match identity {
        Some(id) => builder.with_client_auth_cert(vec![id.cert.clone()], id.key_der())?,
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![punktfunk_core::control::ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    Ok(quinn::ClientConfig::new(Arc::new(quic)))
}
