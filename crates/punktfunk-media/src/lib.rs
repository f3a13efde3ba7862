//! punktfunk-media: the video layer between capture and the transport.
//!
//! - [`encode`]: the [`Encoder`](encode::Encoder) trait and its FFmpeg backends (libx264, libx265,
//!   libsvtav1 as the software floor; h264/hevc NVENC and VAAPI where a GPU offers them), chosen at run
//!   time by probing what actually opens.
//! - [`decode`]: the client-side decoder producing RGB frames (and reporting colour properties).
//! - [`convert`]: pixel-format conversion from what capture delivers (BGRx/RGBx) to what encoders take.
//! - [`pattern`]: a moving test pattern whose frames carry their number and timestamp in a
//!   machine-readable region, for end-to-end checks through lossy codecs.

pub mod convert;
pub mod decode;
pub mod encode;
pub mod opus;
pub mod pattern;
pub mod pattern_hdr;
pub mod types;

pub use types::*;

/// Initialises FFmpeg once (idempotent) and routes its log level to warnings only.
pub fn init() -> Result<(), MediaError> {
    static INIT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INIT.get_or_init(|| {
        ffmpeg_next::init().map_err(|e| e.to_string())?;
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
        Ok(())
    })
    .clone()
    .map_err(MediaError::Init)
}
