//! Encoders: one trait, FFmpeg backends, and run-time selection.

use crate::convert::{YuvLayout, YuvPicture};
use crate::{AccessUnit, EncodedFrame, EncoderConfig, MediaError, RawFrame};

/// A video encoder session. One access unit out per frame in: no lookahead, no B-frames, no reordering.
pub trait Encoder: Send {
    /// Backend name as FFmpeg calls it (`libx264`, `hevc_nvenc`, …).
    fn name(&self) -> &str;

    /// The configuration the encoder was opened with (with any adjustments the backend made).
    fn config(&self) -> &EncoderConfig;

    /// Encodes one frame and returns its access unit (colour conversion included).
    fn encode(&mut self, frame: &RawFrame<'_>) -> Result<AccessUnit, MediaError>;

    /// The YUV layout [`Encoder::encode_picture`] takes: build the capture side's
    /// [`Converter`](crate::convert::Converter) for it.
    fn input_layout(&self) -> YuvLayout;

    /// Encodes a picture converted elsewhere (the frame pipeline converts on its capture thread while
    /// the previous picture encodes). The access unit borrows the encoder until the next call, so
    /// the packetizer reads it where FFmpeg wrote it.
    fn encode_picture(&mut self, picture: &mut YuvPicture) -> Result<EncodedFrame<'_>, MediaError>;

    /// Makes the next access unit a keyframe (IDR) with parameter sets in-band.
    fn request_keyframe(&mut self);

    /// Changes the target bitrate from the next frame on, without a keyframe.
    fn set_bitrate(&mut self, kbps: u32) -> Result<(), MediaError>;

    /// Stops referencing frames `first..=last` (reference-picture invalidation). Returns `false` when
    /// the backend cannot, in which case the caller requests a keyframe instead.
    fn invalidate_references(&mut self, first: u64, last: u64) -> bool {
        let _ = (first, last);
        false
    }
}

mod backend;
pub mod bitstream;
mod ffmpeg_backend;
pub mod options;
pub mod probe;
mod select;
mod selftest;
#[cfg(test)]
mod tests;
mod vaapi;

pub use backend::{Backend, Family};
pub use ffmpeg_backend::{
    FfmpegEncoder, measure_throughput, open_backend, open_libaom_av1, open_libx264, open_libx265,
    open_nvenc, open_vaapi,
};
pub use probe::GpuInventory;
pub use select::{Attempt, Selection, open_encoder, open_encoder_with_report};
pub use selftest::{
    SelftestRow, encode_selftest, ffmpeg_video_encoders, live_fps, render_selftest_table,
};
