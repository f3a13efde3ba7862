//! The lowest layer: state and plain services every other layer may use, with no platform code —
//! where the config dir is and how state files are written, settings and the stream limits they
//! set, the host identity and paired clients, per-address connection limits, the event bus and
//! the session model/registry behind the API, the game library, clocks and tickers.

pub mod clock;
pub mod config_dir;
pub mod events;
pub mod identity;
pub mod library;
pub mod memory;
pub mod paired;
pub mod per_ip;
pub mod session_info;
pub mod sessions;
pub mod settings;
pub mod status_line;
pub mod stream_limits;
pub mod ticker;
