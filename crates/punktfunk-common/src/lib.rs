//! What punktfunk's host and clients share beyond the sans-IO protocol core: trusting a peer's
//! self-signed TLS certificate by its pinned fingerprint, making such an identity, and writing
//! state files atomically.

pub mod atomic_file;
pub mod self_signed;
pub mod tls;
