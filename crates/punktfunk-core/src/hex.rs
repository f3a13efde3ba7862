//! Hex text of bytes, the one codec every crate uses: lowercase for what punktfunk shows and stores
//! (fingerprints, identities), uppercase where GameStream expects it, either case accepted.

use std::fmt::Write as _;

/// Lowercase hex: `[0xab, 0x01]` → `"ab01"`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Uppercase hex, as GameStream hosts emit it: `[0xab, 0x01]` → `"AB01"`.
pub fn encode_upper(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// Hex of either case and even length back to bytes; `None` for anything else.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some((digit(pair[0])? << 4) | digit(pair[1])?))
        .collect()
}

/// One hex digit of either case.
pub(crate) fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lowercase hex SHA-256 of a certificate's DER encoding: the fingerprint clients pin and hosts
/// list paired devices by.
pub fn certificate_fingerprint(cert_der: &[u8]) -> String {
    encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert_der).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(encode(&[0xab, 0x01]), "ab01");
        assert_eq!(encode_upper(&[0xab, 0x01]), "AB01");
        assert_eq!(decode("aB01"), Some(vec![0xab, 0x01]));
        assert_eq!(decode("abc"), None);
        assert_eq!(decode("zz"), None);
        assert_eq!(decode("+1"), None);
        assert_eq!(
            certificate_fingerprint(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(decode(&encode(&bytes)), Some(bytes.clone()));
            prop_assert_eq!(decode(&encode_upper(&bytes)), Some(bytes));
        }

        #[test]
        fn any_text_decodes_or_is_refused(text in "\\PC{0,40}") {
            let _ = decode(&text);
        }
    }
}
