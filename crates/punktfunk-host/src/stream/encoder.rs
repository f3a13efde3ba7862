//! The encoder stage: one access unit per picture, following the session's bitrate and keyframe
//! wishes. [`VideoEncoder`] is the real one (a media-layer encoder, hardware where present, software as
//! the floor); [`TestFrames`] builds raw test frames the client byte-checks.

use super::feed::PictureFormat;
use anyhow::Context;
use punktfunk_core::testsrc::TestFrame;
use punktfunk_media::convert::YuvPicture;
use punktfunk_media::encode::Encoder;
use punktfunk_media::{
    ChromaFormat, ColorSpace, EncodedFrame, EncoderConfig, HdrMetadata, VideoCodec,
};
use std::time::Duration;

/// What the pipeline asks of one frame.
#[derive(Clone, Copy, Debug)]
pub struct FrameRequest {
    /// Frames encoded so far in this stream.
    pub number: u64,
    /// When the picture was presented (wall clock, µs).
    pub presented_us: u64,
    pub keyframe: bool,
    pub bitrate_kbps: u32,
}

pub trait FrameEncoder: Send {
    fn describe(&self) -> String;

    /// What pictures must be converted to before [`FrameEncoder::encode`].
    fn picture_format(&self) -> PictureFormat;

    /// Encodes `picture` (`None` for sources without pixels). The access unit borrows the encoder
    /// until the next call.
    fn encode(
        &mut self,
        picture: Option<&mut YuvPicture>,
        request: &FrameRequest,
    ) -> anyhow::Result<EncodedFrame<'_>>;

    /// A fresh encoder for `codec` at the same mode: a resumed stream starts with new parameter
    /// sets and a keyframe, and may want another codec than the last one.
    fn restart(&mut self, codec: VideoCodec, bitrate_kbps: u32) -> anyhow::Result<()>;
}

/// A media-layer encoder opened at the client's mode.
pub struct VideoEncoder {
    encoder: Box<dyn Encoder>,
    bitrate_kbps: u32,
    /// The mode it was opened at (a restart keeps it).
    mode: (u32, u32, u32),
    /// Bit depth and chroma it was opened with (a restart keeps them).
    chroma: ChromaFormat,
    /// HDR10 metadata it was opened with (a restart keeps it).
    hdr: Option<HdrMetadata>,
}

impl VideoEncoder {
    /// Opens an encoder for `codec` in `chroma` at `width`×`height`@`refresh_mhz` (auto-selected
    /// backend, software as the floor). Without `hdr` the stream is BT.709 SDR, as the host's
    /// desktops are captured; with it (a 10-bit `chroma` only) BT.2020 PQ carrying that metadata.
    pub fn open(
        codec: VideoCodec,
        chroma: ChromaFormat,
        hdr: Option<HdrMetadata>,
        width: u32,
        height: u32,
        refresh_mhz: u32,
        bitrate_kbps: u32,
    ) -> anyhow::Result<Self> {
        punktfunk_media::init()?;
        anyhow::ensure!(
            hdr.is_none() || chroma.is_ten_bit(),
            "HDR10 needs a 10-bit format, not {chroma:?}"
        );
        let config = EncoderConfig {
            codec,
            width,
            height,
            fps_num: refresh_mhz,
            fps_den: 1000,
            bitrate_kbps,
            chroma,
            color: if hdr.is_some() {
                ColorSpace::Bt2020Pq
            } else {
                ColorSpace::Bt709
            },
            full_range: false,
            hdr,
            intra_refresh: false,
        };
        let encoder = punktfunk_media::encode::open_encoder(&config, None).with_context(|| {
            format!("opening a {codec:?} {chroma:?} encoder at {width}x{height}")
        })?;
        Ok(VideoEncoder {
            encoder,
            bitrate_kbps,
            mode: (width, height, refresh_mhz),
            chroma,
            hdr,
        })
    }
}

impl FrameEncoder for VideoEncoder {
    fn describe(&self) -> String {
        self.encoder.name().to_string()
    }

    fn picture_format(&self) -> PictureFormat {
        let config = self.encoder.config();
        PictureFormat {
            layout: Some(self.encoder.input_layout()),
            color: config.color,
            full_range: config.full_range,
        }
    }

    fn encode(
        &mut self,
        picture: Option<&mut YuvPicture>,
        request: &FrameRequest,
    ) -> anyhow::Result<EncodedFrame<'_>> {
        let picture = picture.context("an encoder needs a picture")?;
        if request.bitrate_kbps != self.bitrate_kbps {
            self.encoder.set_bitrate(request.bitrate_kbps)?;
            self.bitrate_kbps = request.bitrate_kbps;
        }
        if request.keyframe {
            self.encoder.request_keyframe();
        }
        Ok(self.encoder.encode_picture(picture)?)
    }

    fn restart(&mut self, codec: VideoCodec, bitrate_kbps: u32) -> anyhow::Result<()> {
        let (width, height, refresh_mhz) = self.mode;
        *self = VideoEncoder::open(
            codec,
            self.chroma,
            self.hdr,
            width,
            height,
            refresh_mhz,
            bitrate_kbps,
        )?;
        Ok(())
    }
}

/// Synthetic access units at the client's mode and bitrate, each a [`TestFrame`] carrying its
/// frame number and capture time so the client can check every byte and measure latency. Sizes
/// follow the bitrate (keyframes four times a P-frame, ±20 % variation).
pub struct TestFrames {
    width: u16,
    height: u16,
    refresh_mhz: u32,
    variation: u64,
    buf: Vec<u8>,
}

impl TestFrames {
    pub fn new(width: u32, height: u32, refresh_mhz: u32) -> Self {
        TestFrames {
            width: width.min(u32::from(u16::MAX)) as u16,
            height: height.min(u32::from(u16::MAX)) as u16,
            refresh_mhz,
            variation: 0x1234_5678,
            buf: Vec::new(),
        }
    }
}

impl FrameEncoder for TestFrames {
    fn describe(&self) -> String {
        "raw test frames".into()
    }

    fn picture_format(&self) -> PictureFormat {
        PictureFormat {
            layout: None,
            color: ColorSpace::Bt709,
            full_range: false,
        }
    }

    fn encode(
        &mut self,
        _picture: Option<&mut YuvPicture>,
        request: &FrameRequest,
    ) -> anyhow::Result<EncodedFrame<'_>> {
        let fps = f64::from(self.refresh_mhz.max(1000)) / 1000.0;
        let mean = f64::from(request.bitrate_kbps) * 1000.0 / 8.0 / fps;
        self.variation ^= self.variation << 13;
        self.variation ^= self.variation >> 7;
        self.variation ^= self.variation << 17;
        let jitter = 0.8 + 0.4 * (self.variation % 1000) as f64 / 1000.0;
        let scale = if request.keyframe { 4.0 } else { jitter };
        let len = ((mean * scale) as u32).clamp(64, 16 * 1024 * 1024);
        TestFrame {
            keyframe: request.keyframe,
            width: self.width,
            height: self.height,
            refresh_mhz: self.refresh_mhz,
            frame_number: request.number,
            capture_us: request.presented_us,
            len,
        }
        .build(&mut self.buf);
        Ok(EncodedFrame {
            data: &self.buf,
            keyframe: request.keyframe,
            encode_time: Duration::ZERO,
        })
    }

    fn restart(&mut self, _codec: VideoCodec, _bitrate_kbps: u32) -> anyhow::Result<()> {
        Ok(())
    }
}
