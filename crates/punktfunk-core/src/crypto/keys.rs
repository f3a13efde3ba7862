//! Key schedule: one AES-128 key and nonce salt per direction, derived with HKDF-SHA256 from a shared
//! secret (on punktfunk/1, the QUIC connection's TLS keying-material exporter), so no key crosses the wire.

use super::CryptoError;
use crate::wire::StreamKind;
use aws_lc_rs::hkdf;

/// Key and nonce salt for one direction of one session.
#[derive(Clone, PartialEq, Eq)]
pub struct DirectionKey {
    /// AES-128-GCM key.
    pub key: [u8; 16],
    /// Salt that fills the first 4 bytes of every nonce (the other 8 are the big-endian sequence number).
    pub salt: [u8; 4],
}

impl std::fmt::Debug for DirectionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectionKey(..)")
    }
}

/// Both directions' keys of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// Key of the stream's host → client datagrams (e.g. video, audio).
    pub host_to_client: DirectionKey,
    /// Key of the stream's client → host datagrams (e.g. registrations, microphone).
    pub client_to_host: DirectionKey,
}

const EXTRACT_SALT: &[u8] = b"punktfunk/1 data plane v1";

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl SessionKeys {
    /// Derives both directions' keys for `session_id` from `secret` (at least 16 bytes of entropy).
    ///
    /// These are the video stream's keys (`derive_stream(secret, session_id, StreamKind::Video)`);
    /// client registrations travel under its client → host key.
    pub fn derive(secret: &[u8], session_id: u32) -> Result<SessionKeys, CryptoError> {
        Self::derive_stream(secret, session_id, StreamKind::Video)
    }

    /// Derives both directions' keys of one stream. Every stream has its own keys because every
    /// sender numbers its packets (the nonce counter) from zero: two streams under one key would
    /// reuse nonces and trip each other's replay windows.
    pub fn derive_stream(
        secret: &[u8],
        session_id: u32,
        stream: StreamKind,
    ) -> Result<SessionKeys, CryptoError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, EXTRACT_SALT).extract(secret);
        let direction = |label: &[u8]| -> Result<DirectionKey, CryptoError> {
            let sid = session_id.to_le_bytes();
            let kind = [stream as u8];
            let video: [&[u8]; 2] = [label, &sid];
            let other: [&[u8]; 3] = [label, &sid, &kind];
            // Video's info is `label ‖ session id`; other streams append their kind byte.
            let info: &[&[u8]] = if stream == StreamKind::Video {
                &video
            } else {
                &other
            };
            let mut okm = [0u8; 20];
            prk.expand(info, Len(okm.len()))
                .and_then(|o| o.fill(&mut okm))
                .map_err(|_| CryptoError::KeyDerivation)?;
            let mut key = [0u8; 16];
            let mut salt = [0u8; 4];
            key.copy_from_slice(&okm[..16]);
            salt.copy_from_slice(&okm[16..]);
            Ok(DirectionKey { key, salt })
        };
        Ok(SessionKeys {
            host_to_client: direction(b"pkf1 host->client")?,
            client_to_host: direction(b"pkf1 client->host")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_and_sessions_get_distinct_keys() {
        let a = SessionKeys::derive(b"0123456789abcdef0123456789abcdef", 1).unwrap();
        let b = SessionKeys::derive(b"0123456789abcdef0123456789abcdef", 2).unwrap();
        let again = SessionKeys::derive(b"0123456789abcdef0123456789abcdef", 1).unwrap();
        assert_eq!(a, again);
        assert_ne!(a.host_to_client, a.client_to_host);
        assert_ne!(a.host_to_client, b.host_to_client);
        let audio =
            SessionKeys::derive_stream(b"0123456789abcdef0123456789abcdef", 1, StreamKind::Audio);
        assert_ne!(audio.unwrap().host_to_client, a.host_to_client);
    }
}
