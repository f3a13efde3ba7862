//! The moving test pattern, encoded: what a real capture → encode pipeline produces, with every
//! picture carrying its frame number and capture time in a stamp the client reads back after decoding.

use super::FrameSource;
use anyhow::Context;
use punktfunk_media::encode::Encoder;
use punktfunk_media::pattern::TestPattern;
use punktfunk_media::{ChromaFormat, ColorSpace, EncoderConfig, PixelFormat, RawFrame, VideoCodec};

pub struct EncodedPattern {
    pattern: TestPattern,
    encoder: Box<dyn Encoder>,
    pixels: Vec<u8>,
    bitrate_kbps: u32,
}

impl EncodedPattern {
    /// Opens an encoder for `codec` at the client's mode (auto-selected backend, software as the floor).
    pub fn open(
        codec: VideoCodec,
        width: u32,
        height: u32,
        refresh_mhz: u32,
        bitrate_kbps: u32,
    ) -> anyhow::Result<Self> {
        punktfunk_media::init()?;
        let config = EncoderConfig {
            codec,
            width,
            height,
            fps_num: refresh_mhz,
            fps_den: 1000,
            bitrate_kbps,
            chroma: ChromaFormat::Yuv420,
            color: ColorSpace::Bt709,
            full_range: false,
            hdr: None,
            intra_refresh: false,
        };
        let encoder = punktfunk_media::encode::open_encoder(&config, None)
            .with_context(|| format!("opening a {codec:?} encoder at {width}x{height}"))?;
        Ok(EncodedPattern {
            pattern: TestPattern::new(width, height),
            encoder,
            pixels: Vec::new(),
            bitrate_kbps,
        })
    }
}

impl FrameSource for EncodedPattern {
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
        if bitrate_kbps != self.bitrate_kbps {
            self.encoder.set_bitrate(bitrate_kbps)?;
            self.bitrate_kbps = bitrate_kbps;
        }
        if keyframe {
            self.encoder.request_keyframe();
        }
        let stride = self
            .pattern
            .render(number, capture_us, PixelFormat::Bgrx, &mut self.pixels);
        let config = self.encoder.config();
        let frame = RawFrame {
            format: PixelFormat::Bgrx,
            width: config.width,
            height: config.height,
            stride,
            data: &self.pixels,
            pts_us: capture_us,
        };
        let au = self.encoder.encode(&frame)?;
        out.clear();
        out.extend_from_slice(&au.data);
        Ok(au.keyframe)
    }
}
