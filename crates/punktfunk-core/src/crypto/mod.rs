//! Per-packet authenticated encryption for the data plane.
//!
//! AES-128-GCM (aws-lc-rs, the same provider rustls uses in this project). Every datagram is sealed on its
//! own: nonce = 4-byte per-direction salt ‖ 8-byte big-endian packet sequence, the 48-byte header is the
//! associated data, the 16-byte tag trails the payload. A sliding replay window rejects repeats.

mod aead;
mod keys;
mod replay;

pub use aead::{MAX_DATAGRAM, Opener, Sealer, TAG_LEN};
pub use keys::{DirectionKey, SessionKeys};
pub use replay::{ReplayCheck, ReplayWindow};

/// Why key material could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// HKDF could not expand the secret into keys.
    #[error("key derivation failed")]
    KeyDerivation,
    /// AES-128-GCM did not accept the key.
    #[error("the AEAD rejected the key")]
    BadKey,
    /// The buffer has no room for the tag after the payload.
    #[error("buffer too small to seal in place")]
    BufferTooSmall,
    /// The 64-bit sequence counter is used up; a new session (new keys) is needed.
    #[error("packet sequence space exhausted; the session must rekey")]
    SequenceExhausted,
    /// AES-GCM sealing failed.
    #[error("sealing failed")]
    Seal,
}

/// Nonce for packet `seq` in a direction with `salt`.
fn nonce_bytes(salt: &[u8; 4], seq: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(salt);
    n[4..].copy_from_slice(&seq.to_be_bytes());
    n
}
