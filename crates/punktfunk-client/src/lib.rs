//! punktfunk native client library: the punktfunk/1 session (control plane, data plane, receiver),
//! pairing, identity and known hosts, discovery, input and audio — the code behind `punktfunk-probe`,
//! whose own tools (netem relay, loss sweep, audio analysis) are in [`probe`].

/// Atomic state files are shared with the host.
pub use punktfunk_common::atomic_file;
pub mod audio;
pub mod client_dir;
pub mod discover;
pub mod identity;
pub mod input;
pub mod known_hosts;
/// The Opus wrapper lives in the media layer (the host uses it too).
pub use punktfunk_media::opus;
pub mod pair;
pub mod probe;
pub mod session;
pub mod tls;
