//! A new long-lived identity for a host or a client: a self-signed ECDSA P-256 certificate (what
//! peers pin by fingerprint; no CA is involved, so its names and dates only label it) and its key.

/// A fresh identity: the certificate's DER and the PKCS#8 DER of its private key.
pub struct NewIdentity {
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

/// Makes an identity whose certificate names `subject_alt_name` and `common_name`, valid until
/// 2100 (pinning, not dates, is what makes it trusted; a clock that is off must not break it).
pub fn new_identity(
    subject_alt_name: &str,
    common_name: &str,
) -> Result<NewIdentity, rcgen::Error> {
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::new(vec![subject_alt_name.to_string()])?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    let cert = params.self_signed(&key_pair)?;
    Ok(NewIdentity {
        cert_der: cert.der().to_vec(),
        key_der: key_pair.serialize_der(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_identity_is_new_and_parses() {
        let a = new_identity("punktfunk", "punktfunk host").unwrap();
        let b = new_identity("punktfunk", "punktfunk host").unwrap();
        assert_ne!(a.key_der, b.key_der);
        assert_ne!(a.cert_der, b.cert_der);
        let cert = rustls::pki_types::CertificateDer::from(a.cert_der.as_slice());
        rustls::server::ParsedCertificate::try_from(&cert).expect("a usable certificate");
    }
}
