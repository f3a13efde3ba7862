//! punktfunk native client library: loss models, the data-plane loss sweep, and (with the
//! punktfunk/1 control plane) the code behind `punktfunk-probe`.

pub mod atomic_file;
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
pub mod opus;
pub mod pair;
pub mod session;
pub mod tls;
