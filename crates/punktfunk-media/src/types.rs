//! Types shared by the encoders, the decoder and their callers.

use std::time::Duration;

/// Video codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    H264,
    Hevc,
    Av1,
}

/// Bit depth and chroma subsampling of the encoded stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChromaFormat {
    /// 8-bit 4:2:0 (NV12 / YUV420P in).
    Yuv420,
    /// 10-bit 4:2:0 (P010 / YUV420P10 in) — HEVC Main10, AV1 10-bit.
    Yuv420TenBit,
    /// 8-bit 4:4:4 — HEVC RExt / H.264 High 4:4:4.
    Yuv444,
    /// 10-bit 4:4:4 — HEVC RExt Main 4:4:4 10, AV1 High 10-bit.
    Yuv444TenBit,
}

impl ChromaFormat {
    /// Whether the chroma planes are full resolution (4:4:4).
    pub fn is_444(self) -> bool {
        matches!(self, Self::Yuv444 | Self::Yuv444TenBit)
    }

    /// Whether samples are 10-bit.
    pub fn is_ten_bit(self) -> bool {
        matches!(self, Self::Yuv420TenBit | Self::Yuv444TenBit)
    }
}

/// Colour description of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColorSpace {
    /// BT.709 primaries and transfer (SDR).
    Bt709,
    /// BT.2020 primaries with the PQ (SMPTE ST 2084) transfer — HDR10.
    Bt2020Pq,
}

/// HDR10 static metadata (SMPTE ST 2086 mastering display + CTA-861.3 content light level): the
/// protocol core's type, so what the encoder writes and what the Welcome says are one value.
pub use punktfunk_core::control::color::HdrMetadata;

/// Everything an encoder is opened with.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    pub codec: VideoCodec,
    pub width: u32,
    pub height: u32,
    /// Frames per second as a rational (e.g. 60/1, 60000/1001).
    pub fps_num: u32,
    pub fps_den: u32,
    pub bitrate_kbps: u32,
    pub chroma: ChromaFormat,
    pub color: ColorSpace,
    /// Full-range (0–255) instead of limited/TV range.
    pub full_range: bool,
    pub hdr: Option<HdrMetadata>,
    /// Refresh the picture with a rolling intra wave instead of periodic keyframes.
    pub intra_refresh: bool,
}

/// Raw frames as capture delivers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// 32-bit B, G, R, X in memory order (most Wayland shm buffers).
    Bgrx,
    /// 32-bit R, G, B, X in memory order.
    Rgbx,
}

/// One captured picture in system memory.
#[derive(Debug, Clone, Copy)]
pub struct RawFrame<'a> {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    /// Bytes per row (≥ width × 4).
    pub stride: usize,
    pub data: &'a [u8],
    /// Capture timestamp (µs, the host clock the transport uses).
    pub pts_us: u64,
}

/// One encoded access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// Annex-B (H.264/HEVC) or an OBU temporal unit (AV1); parameter sets in-band on keyframes.
    pub data: Vec<u8>,
    pub keyframe: bool,
    pub pts_us: u64,
    /// Time spent inside the encoder for this frame.
    pub encode_time: Duration,
}

/// One encoded access unit, borrowed from the encoder that made it (valid until its next call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodedFrame<'a> {
    /// Annex-B (H.264/HEVC) or an OBU temporal unit (AV1); parameter sets in-band on keyframes.
    pub data: &'a [u8],
    pub keyframe: bool,
    /// Time spent inside the encoder for this frame.
    pub encode_time: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("FFmpeg initialisation failed: {0}")]
    Init(String),
    #[error("no encoder named {0} in this FFmpeg build")]
    EncoderMissing(String),
    #[error("encoder {name} could not be opened: {reason}")]
    EncoderOpen { name: String, reason: String },
    #[error("no encoder could be opened for {codec:?} {chroma:?}; tried: {tried}")]
    NoEncoder {
        codec: VideoCodec,
        chroma: ChromaFormat,
        tried: String,
    },
    #[error("frame {got_w}x{got_h} does not match the encoder's {want_w}x{want_h}")]
    FrameSize {
        got_w: u32,
        got_h: u32,
        want_w: u32,
        want_h: u32,
    },
    #[error("buffer too small for a {width}x{height} frame with stride {stride}")]
    BufferTooSmall {
        width: u32,
        height: u32,
        stride: usize,
    },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("FFmpeg: {0}")]
    Ffmpeg(#[from] ffmpeg_next::Error),
}
