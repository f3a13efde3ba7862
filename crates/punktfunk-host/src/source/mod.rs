//! Where a session's access units come from: the client's own virtual display, captured and encoded
//! ([`DisplaySource`]), or one of two test sources — raw test frames the client byte-checks, and a
//! moving test pattern encoded by the media layer that the client decodes and reads back.

mod display;
mod encoded_pattern;
mod stream_encoder;
mod virtual_source;

pub use display::DisplaySource;
pub use encoded_pattern::EncodedPattern;
pub use virtual_source::VirtualSource;

/// Produces one access unit per frame interval.
pub trait FrameSource: Send {
    /// Short description for logs (e.g. `raw test frames`, `libx264 test pattern`).
    fn describe(&self) -> String;

    /// Builds frame `number`, captured at `capture_us`, into `out`. `keyframe` asks for a keyframe;
    /// `bitrate_kbps` is the current target. Returns whether the access unit is a keyframe.
    fn next_frame(
        &mut self,
        number: u64,
        capture_us: u64,
        keyframe: bool,
        bitrate_kbps: u32,
        out: &mut Vec<u8>,
    ) -> anyhow::Result<bool>;

    /// When the picture of the frame just built was captured (wall clock, µs), if the source knows
    /// better than "when `next_frame` was called" — e.g. the compositor's presentation time.
    fn last_capture_us(&self) -> Option<u64> {
        None
    }

    /// The virtual display this source captures, if it is one.
    fn display(&self) -> Option<crate::sessions::DisplayInfo> {
        None
    }

    /// An input sink for the display this source captures (`None` for test sources).
    fn input_sink(&self) -> Option<anyhow::Result<Box<dyn crate::inject::InputSink>>> {
        None
    }

    /// Starts a new encoded stream on the same picture source: a fresh encoder for `codec`
    /// (a client resuming a running app reconnects with new parameters).
    fn restart_encoder(
        &mut self,
        codec: punktfunk_media::VideoCodec,
        bitrate_kbps: u32,
    ) -> anyhow::Result<()> {
        let _ = (codec, bitrate_kbps);
        anyhow::bail!("{} cannot restart its encoder", self.describe())
    }
}
