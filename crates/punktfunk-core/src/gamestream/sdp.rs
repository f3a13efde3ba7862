//! The SDP-like bodies of RTSP: the host's DESCRIBE answer and the client's ANNOUNCE.
//!
//! Neither is real SDP. Moonlight only substring-searches the DESCRIBE answer, and its ANNOUNCE is a
//! list of `a=<name>:<value> ` lines from which the host takes the stream parameters. What the host
//! can do is one [`HostCapabilities`] value: it yields the DESCRIBE body, the `ServerCodecModeSupport`
//! bits of `/serverinfo`, and the check of what a client asked for. See `docs/gamestream.md`, "SDP".
//!
//! One concept, one file (longer than most): both SDP bodies and every attribute the host reads or
//! writes.

use crate::audio::layout::{Layout, MultistreamConfig};
use std::fmt::Write as _;

/// Encryption bits of `x-ss-general.encryption{Supported,Requested,Enabled}`.
pub const ENC_CONTROL_V2: u32 = 0x01;
/// Video packets are AES-GCM encrypted (Sunshine's `SS_ENC_VIDEO`).
pub const ENC_VIDEO: u32 = 0x02;
/// Audio packets are AES-CBC encrypted with the `rikey` (Sunshine's `SS_ENC_AUDIO`).
pub const ENC_AUDIO: u32 = 0x04;
/// `x-nv-general.featureFlags` bit by which older clients ask for audio encryption.
pub const NV_FF_AUDIO_ENCRYPTION: u32 = 0x20;
/// `x-ml-general.featureFlags`: the client reports per-frame FEC status (control 0x5502).
pub const ML_FF_FEC_STATUS: u32 = 0x01;
/// `x-ml-general.featureFlags`: the client echoes `X-SS-Ping-Payload` / `X-SS-Connect-Data`.
pub const ML_FF_SESSION_ID_V1: u32 = 0x02;
/// `x-ss-general.featureFlags`: pen and touch input.
pub const SS_FF_PEN_TOUCH: u32 = 0x01;
/// `x-ss-general.featureFlags`: controller touchpads and motion sensors.
pub const SS_FF_CONTROLLER_TOUCH: u32 = 0x02;

/// `ServerCodecModeSupport` bits.
pub mod codec_mode {
    /// H.264 8-bit 4:2:0, which every client assumes.
    pub const H264: u32 = 0x1;
    /// HEVC Main (8-bit 4:2:0).
    pub const HEVC: u32 = 0x100;
    /// HEVC Main10 (10-bit 4:2:0, HDR).
    pub const HEVC_MAIN10: u32 = 0x200;
    /// AV1 Main 8-bit 4:2:0.
    pub const AV1_MAIN8: u32 = 0x10000;
    /// AV1 Main 10-bit 4:2:0 (HDR).
    pub const AV1_MAIN10: u32 = 0x20000;
    /// H.264 High 4:4:4, 8-bit.
    pub const H264_444: u32 = 0x40000;
    /// HEVC Range Extensions 4:4:4, 8-bit.
    pub const HEVC_444: u32 = 0x80000;
    /// HEVC Range Extensions 4:4:4, 10-bit.
    pub const HEVC_444_10: u32 = 0x100000;
    /// AV1 High 4:4:4, 8-bit.
    pub const AV1_444: u32 = 0x200000;
    /// AV1 High 4:4:4, 10-bit.
    pub const AV1_444_10: u32 = 0x400000;
}

/// Largest ANNOUNCE body looked at (Moonlight's is about 2 KB).
pub const MAX_BODY: usize = 64 * 1024;
/// Most attribute lines looked at.
pub const MAX_ATTRIBUTES: usize = 512;

/// Why an ANNOUNCE body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The body exceeds [`MAX_BODY`] bytes.
    #[error("ANNOUNCE body larger than {MAX_BODY} bytes")]
    TooLarge,
    /// The body has more than [`MAX_ATTRIBUTES`] `a=` lines.
    #[error("more than {MAX_ATTRIBUTES} attributes")]
    TooManyAttributes,
    /// A required attribute is absent; carries its name.
    #[error("missing attribute {0}")]
    Missing(&'static str),
    /// An attribute's value is not a number or out of its range.
    #[error("attribute {name} is invalid: {reason}")]
    Invalid {
        /// Attribute name.
        name: &'static str,
        /// What was expected instead.
        reason: &'static str,
    },
}

/// Why a client's stream request cannot be served by this host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// The client asked for a codec the host cannot encode.
    #[error("codec {0:?} is not available")]
    Codec(VideoCodec),
    /// The client asked for 10-bit in a codec whose Main10 profile the host lacks.
    #[error("10-bit {0:?} is not available")]
    TenBit(VideoCodec),
    /// The client asked for 4:4:4 in a codec the host encodes only as 4:2:0.
    #[error("4:4:4 {0:?} is not available")]
    Yuv444(VideoCodec),
    /// The client asked for 10-bit 4:4:4, which the host does not encode in this codec.
    #[error("10-bit 4:4:4 {0:?} is not available")]
    Yuv444TenBit(VideoCodec),
    /// More audio channels than [`HostCapabilities::max_audio_channels`]; carries the count.
    #[error("{0} audio channels are more than this host offers")]
    AudioChannels(u8),
    /// The client enabled video encryption, which this host does not offer.
    #[error("video encryption is not available")]
    VideoEncryption,
    /// The host requires encryption the client did not enable (`require_encryption`).
    #[error(
        "the host requires encryption the client did not enable (wanted {required:#x}, got {enabled:#x})"
    )]
    EncryptionRequired {
        /// `ENC_*` bits the host requires.
        required: u32,
        /// `ENC_*` bits the client enabled.
        enabled: u32,
    },
}

/// Video codec as the ANNOUNCE's `bitStreamFormat` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264 / AVC (`bitStreamFormat` 0).
    H264,
    /// H.265 / HEVC (`bitStreamFormat` 1).
    Hevc,
    /// AV1 (`bitStreamFormat` 2).
    Av1,
}

/// YCbCr matrix of the stream (`encoderCscMode >> 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colorspace {
    /// BT.601 (SD) matrix, `encoderCscMode >> 1` = 0.
    Rec601,
    /// BT.709 (HD) matrix, `encoderCscMode >> 1` = 1.
    Rec709,
    /// BT.2020 (UHD/HDR) matrix, `encoderCscMode >> 1` = 2.
    Rec2020,
}

/// What the host's encoders can do for one codec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CodecCaps {
    /// The codec can be encoded at all (8-bit 4:2:0).
    pub supported: bool,
    /// 10-bit (HDR). GameStream has no 10-bit H.264, so this is ignored for H.264.
    pub main10: bool,
    /// 8-bit 4:4:4 chroma.
    pub yuv444: bool,
    /// 10-bit 4:4:4 chroma (a format of its own: a host may have both 10-bit 4:2:0 and 8-bit
    /// 4:4:4 without it).
    pub yuv444_ten_bit: bool,
}

/// Everything about the host that the client learns from `/serverinfo` and DESCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCapabilities {
    /// Clients assume H.264 always works; set `supported` anyway so the intent is explicit.
    pub h264: CodecCaps,
    /// HEVC encoders; `supported` = false hides HEVC from clients.
    pub hevc: CodecCaps,
    /// AV1 encoders; `supported` = false hides AV1 from clients.
    pub av1: CodecCaps,
    /// 2, 6 or 8: the largest Opus layout advertised.
    pub max_audio_channels: u8,
    /// The host can encrypt video (control and audio encryption are always offered: Moonlight
    /// wants both). Whatever is offered is also requested.
    pub video_encryption: bool,
    /// Refuse clients that do not enable video and audio encryption.
    pub require_encryption: bool,
    /// Only set when reference-frame invalidation is really honoured.
    pub reference_frame_invalidation: bool,
    /// [`SS_FF_PEN_TOUCH`] | [`SS_FF_CONTROLLER_TOUCH`] as far as input injection supports them.
    pub feature_flags: u32,
}

impl HostCapabilities {
    /// `ServerCodecModeSupport` for `/serverinfo`.
    pub fn codec_mode_support(&self) -> u32 {
        use codec_mode::*;
        let mut bits = H264;
        if self.h264.yuv444 {
            bits |= H264_444;
        }
        for (caps, base, ten, yuv444, yuv444_10) in [
            (self.hevc, HEVC, HEVC_MAIN10, HEVC_444, HEVC_444_10),
            (self.av1, AV1_MAIN8, AV1_MAIN10, AV1_444, AV1_444_10),
        ] {
            if !caps.supported {
                continue;
            }
            bits |= base;
            if caps.main10 {
                bits |= ten;
            }
            if caps.yuv444 {
                bits |= yuv444;
            }
            if caps.yuv444_ten_bit {
                bits |= yuv444_10;
            }
        }
        bits
    }

    /// `ENC_*` bits for `x-ss-general.encryptionSupported`: control and audio always, video when the host can.
    pub fn encryption_supported(&self) -> u32 {
        ENC_CONTROL_V2 | ENC_AUDIO | if self.video_encryption { ENC_VIDEO } else { 0 }
    }

    /// Everything the host supports is requested: a client then encrypts video and audio even when
    /// its own settings would not ask (Moonlight leaves video in the clear on a LAN by default),
    /// so nobody on the LAN watches or injects into the stream of any client able to encrypt.
    pub fn encryption_requested(&self) -> u32 {
        self.encryption_supported()
            | if self.require_encryption {
                ENC_VIDEO | ENC_AUDIO
            } else {
                0
            }
    }

    fn codec(&self, codec: VideoCodec) -> CodecCaps {
        match codec {
            VideoCodec::H264 => CodecCaps {
                main10: false,
                yuv444_ten_bit: false,
                ..self.h264
            },
            VideoCodec::Hevc => self.hevc,
            VideoCodec::Av1 => self.av1,
        }
    }

    /// The DESCRIBE body. Only what the host honours appears: the client enables HEVC, AV1 and RFI
    /// merely because their marker strings are present.
    pub fn describe_body(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "a=x-ss-general.featureFlags:{}", self.feature_flags);
        let _ = writeln!(
            out,
            "a=x-ss-general.encryptionSupported:{}",
            self.encryption_supported()
        );
        let _ = writeln!(
            out,
            "a=x-ss-general.encryptionRequested:{}",
            self.encryption_requested()
        );
        if self.reference_frame_invalidation {
            out.push_str("a=x-nv-video[0].refPicInvalidation:1\n");
        }
        if self.hevc.supported {
            // The base64 start of an HEVC VPS NAL unit: Moonlight's HEVC marker.
            out.push_str("sprop-parameter-sets=AAAAAU\n");
        }
        if self.av1.supported {
            out.push_str("a=rtpmap:98 AV1/90000\n");
        }
        for channels in [2u8, 6, 8] {
            if channels > self.max_audio_channels {
                continue;
            }
            // Normal quality first, high quality second: the client takes the first match as normal.
            for high_quality in [false, true] {
                if let Some(layout) = OpusLayout::for_channels(channels, high_quality) {
                    let _ = writeln!(
                        out,
                        "a=fmtp:97 surround-params={}",
                        layout.surround_params()
                    );
                }
            }
        }
        out
    }

    /// Whether this host can serve what the client's ANNOUNCE asks for.
    pub fn check(&self, params: &StreamParams) -> Result<(), Unsupported> {
        let codec = self.codec(params.codec);
        if !codec.supported && params.codec != VideoCodec::H264 {
            return Err(Unsupported::Codec(params.codec));
        }
        if params.hdr && !codec.main10 {
            return Err(Unsupported::TenBit(params.codec));
        }
        if params.yuv444 && !codec.yuv444 {
            return Err(Unsupported::Yuv444(params.codec));
        }
        if params.yuv444 && params.hdr && !codec.yuv444_ten_bit {
            return Err(Unsupported::Yuv444TenBit(params.codec));
        }
        if params.audio.channels > self.max_audio_channels {
            return Err(Unsupported::AudioChannels(params.audio.channels));
        }
        if params.encryption & ENC_VIDEO != 0 && !self.video_encryption {
            return Err(Unsupported::VideoEncryption);
        }
        let required = if self.require_encryption {
            ENC_VIDEO | ENC_AUDIO
        } else {
            0
        };
        if params.encryption & required != required {
            return Err(Unsupported::EncryptionRequired {
                required,
                enabled: params.encryption,
            });
        }
        Ok(())
    }
}

/// One Opus multistream layout as host encoder and client decoder must both use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusLayout {
    /// Channel count: 2, 6 (5.1) or 8 (7.1).
    pub channels: u8,
    /// Opus streams in the multistream packet.
    pub streams: u8,
    /// How many of those streams are coupled (stereo) pairs; the rest are mono.
    pub coupled_streams: u8,
    /// Encoder channel mapping; the first `channels` entries are used. Channel order is Moonlight's:
    /// FL FR C LFE RL RR SL SR.
    pub mapping: [u8; 8],
    /// Bits per second (CBR).
    pub bitrate: u32,
    /// High quality: one stream per channel at a much higher bitrate (Moonlight's "high-quality surround").
    pub high_quality: bool,
}

impl OpusLayout {
    const IDENTITY: [u8; 8] = [0, 1, 2, 3, 4, 5, 6, 7];

    /// Normal quality splits the channels as punktfunk's own layouts do — the left/right pairs
    /// as coupled streams, centre and LFE as mono ones (`Layout::multistream`, the split GameStream
    /// hosts have always used) — and high quality codes every surround channel as a stream of its
    /// own at a much higher bitrate. The host's encoder uses exactly this split.
    pub fn for_channels(channels: u8, high_quality: bool) -> Option<Self> {
        let bitrate = match (channels, high_quality) {
            (2, false) => 96_000,
            (2, true) => 512_000,
            (6, false) => 256_000,
            (6, true) => 1_536_000,
            (8, false) => 450_000,
            (8, true) => 2_048_000,
            _ => return None,
        };
        let (streams, coupled_streams, mapping) = if high_quality && channels > 2 {
            (channels, 0, Self::IDENTITY)
        } else {
            let split = Layout::from_channels(channels)?.multistream();
            let mut mapping = Self::IDENTITY;
            mapping[..split.mapping.len()].copy_from_slice(&split.mapping);
            (split.streams, split.coupled, mapping)
        };
        Some(OpusLayout {
            channels,
            streams,
            coupled_streams,
            mapping,
            bitrate,
            high_quality,
        })
    }

    /// The stream split as the Opus encoder takes it.
    pub fn multistream(&self) -> MultistreamConfig {
        MultistreamConfig {
            streams: self.streams,
            coupled: self.coupled_streams,
            mapping: self.mapping().to_vec(),
        }
    }

    /// Decoded-channel index for each output channel, `channels` entries long.
    pub fn mapping(&self) -> &[u8] {
        &self.mapping[..usize::from(self.channels).min(8)]
    }

    /// The `surround-params` digits: channels, streams, coupled streams, then the mapping. GFE
    /// advertised normal-quality 5.1/7.1 mappings in another order, so Moonlight moves the last entry
    /// to index 3 for those; entries 3.. are rotated left by one here so that the client ends up
    /// with exactly [`OpusLayout::mapping`].
    pub fn surround_params(&self) -> String {
        let mut mapping = self.mapping().to_vec();
        if !self.high_quality
            && matches!(self.channels, 6 | 8)
            && let Some(tail) = mapping.get_mut(3..)
        {
            tail.rotate_left(1);
        }
        let mut out = format!("{}{}{}", self.channels, self.streams, self.coupled_streams);
        for m in mapping {
            let _ = write!(out, "{m}");
        }
        out
    }
}

/// Audio part of the ANNOUNCE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioParams {
    /// 2, 6 or 8.
    pub channels: u8,
    /// Speaker mask the client asked for (`x-nv-audio.surround.channelMask`).
    pub channel_mask: u32,
    /// `x-nv-audio.surround.AudioQuality`; see [`AudioParams::high_quality_with_host`] for stereo.
    pub high_quality: bool,
    /// 5 or 10.
    pub packet_duration_ms: u8,
}

impl AudioParams {
    /// For stereo the quality rides on the ANNOUNCE's `Host` header instead: Moonlight sends
    /// `0.0.0.0` when it wants normal quality.
    pub fn high_quality_with_host(&self, host_header: Option<&str>) -> bool {
        match (self.channels, host_header) {
            (2, Some(host)) => !host.contains("0.0.0.0"),
            _ => self.high_quality,
        }
    }

    /// The Opus layout to encode for this request, `None` for an unsupported channel count.
    pub fn layout(&self, host_header: Option<&str>) -> Option<OpusLayout> {
        OpusLayout::for_channels(self.channels, self.high_quality_with_host(host_header))
    }
}

/// The stream parameters a client's ANNOUNCE asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamParams {
    /// `clientViewportWd`: stream width in pixels, 1..=16384.
    pub width: u32,
    /// `clientViewportHt`: stream height in pixels, 1..=16384.
    pub height: u32,
    /// `maxFPS`: frames per second, 1..=1000.
    pub fps: u32,
    /// `clientRefreshRateX100`, when sent and non-zero.
    pub refresh_rate_x100: Option<u32>,
    /// `P`: video payload bytes per datagram (already reduced when video is encrypted).
    pub packet_size: u32,
    /// `x-nv-vqos[0].bw.maximumBitrateKbps` (the client's bitrate minus its FEC/audio allowance).
    pub max_bitrate_kbps: u32,
    /// `x-ml-video.configuredBitrateKbps`: what the user picked, when sent and non-zero.
    pub configured_bitrate_kbps: Option<u32>,
    /// `bitStreamFormat`: the codec the client picked from what DESCRIBE offered.
    pub codec: VideoCodec,
    /// 10-bit / HDR (`dynamicRangeMode` 1).
    pub hdr: bool,
    /// `chromaSamplingType` 1: the client wants 4:4:4 chroma.
    pub yuv444: bool,
    /// YCbCr matrix from `encoderCscMode`.
    pub colorspace: Colorspace,
    /// Full-range (0..255) rather than limited-range (16..235) video, bit 0 of `encoderCscMode`.
    pub full_range: bool,
    /// `videoEncoderSlicesPerFrame`: slices each frame is split into, 0..=255.
    pub slices_per_frame: u8,
    /// 0 = any number the codec allows.
    pub max_reference_frames: u32,
    /// `intraRefresh`: the client wants gradual intra refresh instead of IDR frames.
    pub intra_refresh: bool,
    /// `fec.minRequiredFecPackets`: parity packets per FEC block the client wants at least.
    pub min_required_fec_packets: u8,
    /// Channels, quality and packet duration of the audio stream.
    pub audio: AudioParams,
    /// Final `ENC_*` bits: `x-ss-general.encryptionEnabled`, plus [`ENC_AUDIO`] when the NV feature
    /// flags ask for audio encryption.
    pub encryption: u32,
    /// `x-nv-general.featureFlags` as sent (0x87 when absent).
    pub nv_feature_flags: u32,
    /// `x-ml-general.featureFlags` (`ML_FF_*` bits) as sent, 0 when absent.
    pub ml_feature_flags: u32,
    /// `x-nv-general.useReliableUdp` (13 = encrypted control v2).
    pub control_protocol: u32,
    /// `x-nv-vqos[0].qosTrafficType`: QoS traffic class code the client sent for video packets.
    pub video_qos_type: u32,
    /// `x-nv-aqos.qosTrafficType`: QoS traffic class code the client sent for audio packets.
    pub audio_qos_type: u32,
}

/// The attribute lines of an ANNOUNCE body, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes<'a> {
    entries: Vec<(&'a str, &'a [u8])>,
}

impl<'a> Attributes<'a> {
    /// Splits `a=name:value` lines (CR and/or LF separated; other lines ignored). Values stay bytes:
    /// old clients put binary words in some attributes.
    pub fn parse(body: &'a [u8]) -> Result<Self, SdpError> {
        if body.len() > MAX_BODY {
            return Err(SdpError::TooLarge);
        }
        let mut entries = Vec::new();
        for line in body.split(|&b| b == b'\r' || b == b'\n') {
            let Some(rest) = line.strip_prefix(b"a=") else {
                continue;
            };
            let Some(colon) = rest.iter().position(|&b| b == b':') else {
                continue;
            };
            let Ok(name) = std::str::from_utf8(&rest[..colon]) else {
                continue;
            };
            if entries.len() == MAX_ATTRIBUTES {
                return Err(SdpError::TooManyAttributes);
            }
            let mut value = &rest[colon + 1..];
            while let Some((last, init)) = value.split_last() {
                if *last != b' ' && *last != b'\t' {
                    break;
                }
                value = init;
            }
            entries.push((name, value));
        }
        Ok(Attributes { entries })
    }

    /// The first attribute of that name (a repeat is ignored, as GameStream hosts do).
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.entries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// Every `(name, value)` pair in body order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + '_ {
        self.entries.iter().copied()
    }

    fn number(&self, name: &'static str) -> Result<Option<u32>, SdpError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let invalid = |reason| SdpError::Invalid { name, reason };
        if value.is_empty() || value.len() > 10 || !value.iter().all(u8::is_ascii_digit) {
            return Err(invalid("not a decimal number"));
        }
        std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or(invalid("number out of range"))
    }

    fn required(&self, name: &'static str) -> Result<u32, SdpError> {
        self.number(name)?.ok_or(SdpError::Missing(name))
    }

    fn or(&self, name: &'static str, default: u32) -> Result<u32, SdpError> {
        Ok(self.number(name)?.unwrap_or(default))
    }
}

fn in_range(
    name: &'static str,
    value: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, SdpError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(SdpError::Invalid {
            name,
            reason: "out of range",
        })
    }
}

fn flag(name: &'static str, value: u32) -> Result<bool, SdpError> {
    Ok(in_range(name, value, 0..=1)? == 1)
}

fn small(name: &'static str, value: u32) -> Result<u8, SdpError> {
    u8::try_from(value).map_err(|_| SdpError::Invalid {
        name,
        reason: "out of range",
    })
}

mod names {
    pub(super) const WIDTH: &str = "x-nv-video[0].clientViewportWd";
    pub(super) const HEIGHT: &str = "x-nv-video[0].clientViewportHt";
    pub(super) const FPS: &str = "x-nv-video[0].maxFPS";
    pub(super) const REFRESH_X100: &str = "x-nv-video[0].clientRefreshRateX100";
    pub(super) const PACKET_SIZE: &str = "x-nv-video[0].packetSize";
    pub(super) const MAX_BITRATE: &str = "x-nv-vqos[0].bw.maximumBitrateKbps";
    pub(super) const CONFIGURED_BITRATE: &str = "x-ml-video.configuredBitrateKbps";
    pub(super) const CODEC: &str = "x-nv-vqos[0].bitStreamFormat";
    pub(super) const DYNAMIC_RANGE: &str = "x-nv-video[0].dynamicRangeMode";
    pub(super) const CHROMA: &str = "x-ss-video[0].chromaSamplingType";
    pub(super) const CSC: &str = "x-nv-video[0].encoderCscMode";
    pub(super) const SLICES: &str = "x-nv-video[0].videoEncoderSlicesPerFrame";
    pub(super) const REF_FRAMES: &str = "x-nv-video[0].maxNumReferenceFrames";
    pub(super) const INTRA_REFRESH: &str = "x-ss-video[0].intraRefresh";
    pub(super) const MIN_FEC: &str = "x-nv-vqos[0].fec.minRequiredFecPackets";
    pub(super) const CHANNELS: &str = "x-nv-audio.surround.numChannels";
    pub(super) const CHANNEL_MASK: &str = "x-nv-audio.surround.channelMask";
    pub(super) const AUDIO_QUALITY: &str = "x-nv-audio.surround.AudioQuality";
    pub(super) const PACKET_DURATION: &str = "x-nv-aqos.packetDuration";
    pub(super) const ENCRYPTION: &str = "x-ss-general.encryptionEnabled";
    pub(super) const NV_FLAGS: &str = "x-nv-general.featureFlags";
    pub(super) const ML_FLAGS: &str = "x-ml-general.featureFlags";
    pub(super) const CONTROL_PROTOCOL: &str = "x-nv-general.useReliableUdp";
    pub(super) const VIDEO_QOS: &str = "x-nv-vqos[0].qosTrafficType";
    pub(super) const AUDIO_QOS: &str = "x-nv-aqos.qosTrafficType";
}

impl StreamParams {
    /// Reads an ANNOUNCE body. Attributes every Moonlight sends are required; the rest default as
    /// GameStream hosts default them.
    pub fn from_announce(body: &[u8]) -> Result<Self, SdpError> {
        use names::*;
        let a = Attributes::parse(body)?;
        let codec = match a.or(CODEC, 0)? {
            0 => VideoCodec::H264,
            1 => VideoCodec::Hevc,
            2 => VideoCodec::Av1,
            _ => {
                return Err(SdpError::Invalid {
                    name: CODEC,
                    reason: "unknown codec",
                });
            }
        };
        let csc = a.or(CSC, 0)?;
        let colorspace = match csc >> 1 {
            0 => Colorspace::Rec601,
            1 => Colorspace::Rec709,
            2 => Colorspace::Rec2020,
            _ => {
                return Err(SdpError::Invalid {
                    name: CSC,
                    reason: "unknown colorspace",
                });
            }
        };
        let channels = a.required(CHANNELS)?;
        if !matches!(channels, 2 | 6 | 8) {
            return Err(SdpError::Invalid {
                name: CHANNELS,
                reason: "not 2, 6 or 8",
            });
        }
        let packet_duration = a.or(PACKET_DURATION, 5)?;
        if !matches!(packet_duration, 5 | 10) {
            return Err(SdpError::Invalid {
                name: PACKET_DURATION,
                reason: "not 5 or 10",
            });
        }
        let nv_feature_flags = a.or(NV_FLAGS, 0x87)?;
        let mut encryption = a.or(ENCRYPTION, 0)?;
        if nv_feature_flags & NV_FF_AUDIO_ENCRYPTION != 0 {
            encryption |= ENC_AUDIO;
        }
        Ok(StreamParams {
            width: in_range(WIDTH, a.required(WIDTH)?, 1..=16_384)?,
            height: in_range(HEIGHT, a.required(HEIGHT)?, 1..=16_384)?,
            fps: in_range(FPS, a.required(FPS)?, 1..=1_000)?,
            refresh_rate_x100: a.number(REFRESH_X100)?.filter(|&r| r > 0),
            packet_size: in_range(PACKET_SIZE, a.required(PACKET_SIZE)?, 128..=65_000)?,
            max_bitrate_kbps: in_range(MAX_BITRATE, a.required(MAX_BITRATE)?, 1..=u32::MAX)?,
            configured_bitrate_kbps: a.number(CONFIGURED_BITRATE)?.filter(|&b| b > 0),
            codec,
            hdr: flag(DYNAMIC_RANGE, a.or(DYNAMIC_RANGE, 0)?)?,
            yuv444: flag(CHROMA, a.or(CHROMA, 0)?)?,
            colorspace,
            full_range: csc & 1 == 1,
            slices_per_frame: small(SLICES, a.required(SLICES)?)?,
            max_reference_frames: a.required(REF_FRAMES)?,
            intra_refresh: flag(INTRA_REFRESH, a.or(INTRA_REFRESH, 0)?)?,
            min_required_fec_packets: small(MIN_FEC, a.or(MIN_FEC, 0)?)?,
            audio: AudioParams {
                channels: channels as u8,
                channel_mask: a.required(CHANNEL_MASK)?,
                high_quality: flag(AUDIO_QUALITY, a.required(AUDIO_QUALITY)?)?,
                packet_duration_ms: packet_duration as u8,
            },
            encryption,
            nv_feature_flags,
            ml_feature_flags: a.or(ML_FLAGS, 0)?,
            control_protocol: a.or(CONTROL_PROTOCOL, 1)?,
            video_qos_type: a.or(VIDEO_QOS, 5)?,
            audio_qos_type: a.or(AUDIO_QOS, 4)?,
        })
    }

    /// The ANNOUNCE body a Moonlight client would send for these parameters (`a=name:value ` lines
    /// between the `v=`/`o=`/`s=` head and the `t=`/`m=` tail). For clients and tests.
    pub fn to_announce(&self) -> String {
        use names::*;
        let mut attrs: Vec<(&str, String)> = vec![
            (ML_FLAGS, self.ml_feature_flags.to_string()),
            (ENCRYPTION, self.encryption.to_string()),
            (CHROMA, u8::from(self.yuv444).to_string()),
            (WIDTH, self.width.to_string()),
            (HEIGHT, self.height.to_string()),
            (FPS, self.fps.to_string()),
            (PACKET_SIZE, self.packet_size.to_string()),
            ("x-nv-video[0].rateControlMode", "4".into()),
            (
                "x-nv-video[0].initialBitrateKbps",
                self.max_bitrate_kbps.to_string(),
            ),
            (MAX_BITRATE, self.max_bitrate_kbps.to_string()),
        ];
        if let Some(b) = self.configured_bitrate_kbps {
            attrs.push((CONFIGURED_BITRATE, b.to_string()));
        }
        attrs.extend([
            ("x-nv-vqos[0].fec.enable", "1".to_string()),
            (VIDEO_QOS, self.video_qos_type.to_string()),
            (AUDIO_QOS, self.audio_qos_type.to_string()),
            (NV_FLAGS, self.nv_feature_flags.to_string()),
            (CONTROL_PROTOCOL, self.control_protocol.to_string()),
            (MIN_FEC, self.min_required_fec_packets.to_string()),
            (SLICES, self.slices_per_frame.to_string()),
            (
                CODEC,
                match self.codec {
                    VideoCodec::H264 => "0",
                    VideoCodec::Hevc => "1",
                    VideoCodec::Av1 => "2",
                }
                .to_string(),
            ),
            (DYNAMIC_RANGE, u8::from(self.hdr).to_string()),
            (REF_FRAMES, self.max_reference_frames.to_string()),
            (
                REFRESH_X100,
                self.refresh_rate_x100.unwrap_or(0).to_string(),
            ),
            (INTRA_REFRESH, u8::from(self.intra_refresh).to_string()),
            (CHANNELS, self.audio.channels.to_string()),
            (CHANNEL_MASK, self.audio.channel_mask.to_string()),
            (AUDIO_QUALITY, u8::from(self.audio.high_quality).to_string()),
            (PACKET_DURATION, self.audio.packet_duration_ms.to_string()),
            (
                CSC,
                ((colorspace_code(self.colorspace) << 1) | u32::from(self.full_range)).to_string(),
            ),
        ]);
        let mut out =
            String::from("v=0\r\no=android 0 14 IN IPv4 10.0.0.2\r\ns=NVIDIA Streaming Client\r\n");
        for (name, value) in attrs {
            let _ = write!(out, "a={name}:{value} \r\n");
        }
        out.push_str("t=0 0\r\nm=video 47998  \r\n");
        out
    }
}

fn colorspace_code(colorspace: Colorspace) -> u32 {
    match colorspace {
        Colorspace::Rec601 => 0,
        Colorspace::Rec709 => 1,
        Colorspace::Rec2020 => 2,
    }
}

#[cfg(test)]
mod tests;
