//! The encoder half every encoded source shares: opened at the client's mode, following the session's
//! bitrate and keyframe requests, one access unit out per picture in.

use anyhow::Context;
use punktfunk_media::encode::Encoder;
use punktfunk_media::{ChromaFormat, ColorSpace, EncoderConfig, RawFrame, VideoCodec};

pub struct StreamEncoder {
    encoder: Box<dyn Encoder>,
    bitrate_kbps: u32,
    /// The mode it was opened at (a restart keeps it).
    mode: (u32, u32, u32),
}

impl StreamEncoder {
    /// Opens an encoder for `codec` at `width`×`height`@`refresh_mhz` (auto-selected backend,
    /// software as the floor; 8-bit 4:2:0 BT.709 until HDR/4:4:4 are negotiated).
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
        Ok(StreamEncoder {
            encoder,
            bitrate_kbps,
            mode: (width, height, refresh_mhz),
        })
    }

    /// Replaces the encoder with a fresh one for `codec` at the same mode: a new stream (a client
    /// resuming a running app) starts with new parameter sets and a keyframe, and may want another
    /// codec than the last one.
    pub fn restart(&mut self, codec: VideoCodec, bitrate_kbps: u32) -> anyhow::Result<()> {
        let (width, height, refresh_mhz) = self.mode;
        *self = StreamEncoder::open(codec, width, height, refresh_mhz, bitrate_kbps)?;
        Ok(())
    }

    pub fn name(&self) -> &str {
        self.encoder.name()
    }

    /// Encodes one picture into `out` and says whether it became a keyframe. `keyframe` and
    /// `bitrate_kbps` are the session's current wishes.
    pub fn encode(
        &mut self,
        frame: &RawFrame<'_>,
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
        let au = self.encoder.encode(frame)?;
        out.clear();
        out.extend_from_slice(&au.data);
        Ok(au.keyframe)
    }
}
