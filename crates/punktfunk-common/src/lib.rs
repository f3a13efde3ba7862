//! What punktfunk's host and clients share beyond the sans-IO protocol core: trusting a peer's
//! self-signed TLS certificate by its pinned fingerprint, and writing state files atomically.

pub mod atomic_file;
pub mod tls;
