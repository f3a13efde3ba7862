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

/// Makes an identity for a browser's WebTransport connection: a browser accepts a self-signed
/// certificate by its SHA-256 (`serverCertificateHashes`) only when it is ECDSA P-256 and valid for
/// at most 14 days. Valid from an hour before `now` (clocks differ a little) for `days` days.
pub fn new_short_lived_identity(
    subject_alt_names: &[String],
    now: std::time::SystemTime,
    days: u32,
) -> Result<NewIdentity, rcgen::Error> {
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::new(subject_alt_names.to_vec())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "punktfunk host (browser)");
    let now = time::OffsetDateTime::from(now);
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(i64::from(days)) - time::Duration::hours(1);
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
    fn a_short_lived_identity_lasts_no_longer_than_asked() {
        let now = std::time::SystemTime::now();
        let id = new_short_lived_identity(&["localhost".into()], now, 14).unwrap();
        let cert = rustls::pki_types::CertificateDer::from(id.cert_der.as_slice());
        rustls::server::ParsedCertificate::try_from(&cert).expect("a usable certificate");
        // Browsers refuse hashes of certificates valid for more than 14 days.
        let span = validity_seconds(&id.cert_der);
        assert!(span <= 14 * 86_400, "valid for {span} s");
        assert!(span >= 13 * 86_400, "valid for {span} s");
    }

    /// notAfter − notBefore of a DER certificate, read from its two UTCTime values.
    fn validity_seconds(der: &[u8]) -> i64 {
        // UTCTime: tag 0x17, length 13, "YYMMDDHHMMSSZ".
        let times: Vec<time::PrimitiveDateTime> = der
            .windows(15)
            .filter(|w| w[0] == 0x17 && w[1] == 13 && w[14] == b'Z')
            .map(|w| {
                let d = |i: usize| i32::from(w[2 + i] - b'0') * 10 + i32::from(w[3 + i] - b'0');
                let date = time::Date::from_calendar_date(
                    2000 + d(0),
                    time::Month::try_from(d(2) as u8).unwrap(),
                    d(4) as u8,
                )
                .unwrap();
                date.with_hms(d(6) as u8, d(8) as u8, d(10) as u8).unwrap()
            })
            .collect();
        assert_eq!(times.len(), 2, "notBefore and notAfter");
        (times[1] - times[0]).whole_seconds()
    }

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
