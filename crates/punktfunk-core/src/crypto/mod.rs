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
    #[error("key derivation failed")]
    KeyDerivation,
    #[error("the AEAD rejected the key")]
    BadKey,
    #[error("buffer too small to seal in place")]
    BufferTooSmall,
    #[error("packet sequence space exhausted; the session must rekey")]
    SequenceExhausted,
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
