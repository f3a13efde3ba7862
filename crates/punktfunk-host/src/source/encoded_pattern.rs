//! The moving test pattern, encoded: what a real capture → encode pipeline produces, with every
//! picture carrying its frame number and capture time in a stamp the client reads back after decoding.

use super::FrameSource;
use super::stream_encoder::StreamEncoder;
use punktfunk_media::pattern::TestPattern;
use punktfunk_media::{PixelFormat, RawFrame, VideoCodec};

pub struct EncodedPattern {
    pattern: TestPattern,
    encoder: StreamEncoder,
    pixels: Vec<u8>,
}

impl EncodedPattern {
    pub fn open(
        codec: VideoCodec,
        width: u32,
        height: u32,
        refresh_mhz: u32,
        bitrate_kbps: u32,
    ) -> anyhow::Result<Self> {
        Ok(EncodedPattern {
            pattern: TestPattern::new(width, height),
            encoder: StreamEncoder::open(codec, width, height, refresh_mhz, bitrate_kbps)?,
            pixels: Vec::new(),
        })
    }
}

impl FrameSource for EncodedPattern {
    fn restart_encoder(&mut self, codec: VideoCodec, bitrate_kbps: u32) -> anyhow::Result<()> {
        self.encoder.restart(codec, bitrate_kbps)
    }

    fn describe(&self) -> String {
        format!("{} test pattern", self.encoder.name())
    }

    fn next_frame(
        &mut self,
        number: u64,
        capture_us: u64,
        keyframe: bool,
        bitrate_kbps: u32,
        out: &mut Vec<u8>,
    ) -> anyhow::Result<bool> {
        let stride = self
            .pattern
            .render(number, capture_us, PixelFormat::Bgrx, &mut self.pixels);
        let frame = RawFrame {
            format: PixelFormat::Bgrx,
            width: self.pattern.width,
            height: self.pattern.height,
            stride,
            data: &self.pixels,
            pts_us: capture_us,
        };
        self.encoder.encode(&frame, keyframe, bitrate_kbps, out)
    }
}
