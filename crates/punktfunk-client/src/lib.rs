//! punktfunk native client library: loss models, the data-plane loss sweep, and (with the
//! punktfunk/1 control plane) the code behind `punktfunk-probe`.

/// Atomic state files are shared with the host.
pub use punktfunk_common::atomic_file;
pub mod audio;
pub mod audio_analysis;
pub mod client_dir;
pub mod discover;
pub mod identity;
pub mod impair;
pub mod input;
pub mod known_hosts;
pub mod loss_sweep;
pub mod netem;
/// The Opus wrapper lives in the media layer (the host uses it too).
pub use punktfunk_media::opus;
pub mod pair;
pub mod session;
pub mod tls;
