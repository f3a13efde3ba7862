//! The encoder backends punktfunk knows, and what each can do.

use crate::convert::YuvLayout;
use crate::{ChromaFormat, VideoCodec};

/// One FFmpeg encoder punktfunk can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    X264,
    X265,
    /// libaom in real-time mode: the AV1 software floor (synchronous, one packet per frame).
    AomAv1,
    /// SVT-AV1. Opens, but FFmpeg 5.1's wrapper hands each packet back only when the *next* frame is
    /// sent, so it cannot serve a live session; kept for the self-test and for newer FFmpeg.
    SvtAv1,
    NvencH264,
    NvencHevc,
    VaapiH264,
    VaapiHevc,
}

/// GPU API family of a hardware backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Software,
    Nvenc,
    Vaapi,
}

impl Backend {
    pub const ALL: [Backend; 8] = [
        Backend::NvencH264,
        Backend::NvencHevc,
        Backend::VaapiH264,
        Backend::VaapiHevc,
        Backend::X264,
        Backend::X265,
        Backend::AomAv1,
        Backend::SvtAv1,
    ];

    /// The encoder's name in FFmpeg (also what `--encoder` accepts).
    pub fn ffmpeg_name(self) -> &'static str {
        match self {
            Self::X264 => "libx264",
            Self::X265 => "libx265",
            Self::AomAv1 => "libaom-av1",
            Self::SvtAv1 => "libsvtav1",
            Self::NvencH264 => "h264_nvenc",
            Self::NvencHevc => "hevc_nvenc",
            Self::VaapiH264 => "h264_vaapi",
            Self::VaapiHevc => "hevc_vaapi",
        }
    }

    pub fn codec(self) -> VideoCodec {
        match self {
            Self::X264 | Self::NvencH264 | Self::VaapiH264 => VideoCodec::H264,
            Self::X265 | Self::NvencHevc | Self::VaapiHevc => VideoCodec::Hevc,
            Self::AomAv1 | Self::SvtAv1 => VideoCodec::Av1,
        }
    }

    pub fn family(self) -> Family {
        match self {
            Self::X264 | Self::X265 | Self::AomAv1 | Self::SvtAv1 => Family::Software,
            Self::NvencH264 | Self::NvencHevc => Family::Nvenc,
            Self::VaapiH264 | Self::VaapiHevc => Family::Vaapi,
        }
    }

    pub fn is_hardware(self) -> bool {
        self.family() != Family::Software
    }

    /// The live-capable backend of `family` for `codec`, if there is one.
    pub fn of(family: Family, codec: VideoCodec) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|b| b.family() == family && b.codec() == codec && b.live_limitation().is_none())
    }

    /// The software backend for `codec`.
    pub fn software_for(codec: VideoCodec) -> Self {
        match codec {
            VideoCodec::H264 => Self::X264,
            VideoCodec::Hevc => Self::X265,
            VideoCodec::Av1 => Self::AomAv1,
        }
    }

    /// Parses an FFmpeg encoder name (`libx264`, `hevc_nvenc`, …) or a short alias (`x264`, `svtav1`).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|b| b.ffmpeg_name() == name)
            .or(match name.as_str() {
                "x264" => Some(Self::X264),
                "x265" => Some(Self::X265),
                "aom" | "libaom" | "aom-av1" | "av1" => Some(Self::AomAv1),
                "svtav1" | "svt-av1" => Some(Self::SvtAv1),
                _ => None,
            })
    }

    /// Why this backend cannot encode `chroma`, or `None` if it can (as far as FFmpeg 5.1 goes).
    pub fn chroma_limitation(self, chroma: ChromaFormat) -> Option<&'static str> {
        match (self, chroma) {
            (Self::SvtAv1, ChromaFormat::Yuv444 | ChromaFormat::Yuv444TenBit) => {
                Some("SVT-AV1 encodes 4:2:0 only")
            }
            (Self::NvencH264, ChromaFormat::Yuv420TenBit | ChromaFormat::Yuv444TenBit) => {
                Some("NVENC H.264 has no 10-bit profile")
            }
            (Self::VaapiH264, ChromaFormat::Yuv420TenBit) => {
                Some("VAAPI H.264 has no 10-bit profile")
            }
            (
                Self::VaapiH264 | Self::VaapiHevc,
                ChromaFormat::Yuv444 | ChromaFormat::Yuv444TenBit,
            ) => Some("the VAAPI path uploads NV12/P010 only (no 4:4:4 surfaces)"),
            _ => None,
        }
    }

    /// Why this backend cannot serve a live session (one access unit back for every frame in), or `None`.
    pub fn live_limitation(self) -> Option<&'static str> {
        match self {
            Self::SvtAv1 => Some(
                "FFmpeg 5.1's libsvtav1 wrapper polls for a packet only when the next frame is sent, so every \
                 access unit arrives one frame late (use libaom-av1)",
            ),
            _ => None,
        }
    }

    /// The YUV layout frames are converted to before they go to this backend.
    pub fn input_layout(self, chroma: ChromaFormat) -> YuvLayout {
        if self.is_hardware() {
            YuvLayout::semi_planar_for(chroma)
        } else {
            YuvLayout::planar_for(chroma)
        }
    }

    /// Whether FFmpeg 5.1's wrapper honours a forced keyframe (`pict_type = I`) for this backend. Where it
    /// does not (libsvtav1), a keyframe is made by reopening the encoder.
    pub fn forces_keyframes(self) -> bool {
        self != Self::SvtAv1
    }

    /// Whether FFmpeg 5.1's wrapper re-reads `bit_rate`/`rc_max_rate`/`rc_buffer_size` on every frame and
    /// reconfigures the running encoder (libx264 via `x264_encoder_reconfig`; NVENC via
    /// `nvEncReconfigureEncoder` when the GPU supports dynamic bitrate). Elsewhere a bitrate change reopens
    /// the encoder, which costs a keyframe.
    pub fn live_bitrate(self) -> bool {
        matches!(self, Self::X264 | Self::NvencH264 | Self::NvencHevc)
    }

    /// Whether the encoder can hand its packet back on a worker thread's schedule (so `receive_packet` may
    /// say "again" for a short while even though nothing is buffered for reordering).
    pub fn asynchronous_output(self) -> bool {
        matches!(
            self,
            Self::SvtAv1 | Self::NvencH264 | Self::NvencHevc | Self::VaapiH264 | Self::VaapiHevc
        )
    }

    /// Whether this backend writes HDR10 metadata (SEI / metadata OBUs) itself from its options; otherwise
    /// punktfunk inserts it into keyframes.
    pub fn writes_hdr_metadata(self) -> bool {
        matches!(self, Self::X264 | Self::X265 | Self::SvtAv1)
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.ffmpeg_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for b in Backend::ALL {
            assert_eq!(Backend::from_name(b.ffmpeg_name()), Some(b));
            if b.live_limitation().is_none() {
                assert_eq!(Backend::of(b.family(), b.codec()), Some(b));
            }
        }
        assert_eq!(Backend::from_name(" X264 "), Some(Backend::X264));
        assert_eq!(Backend::from_name("av1_nvenc"), None);
        assert_eq!(Backend::of(Family::Nvenc, VideoCodec::Av1), None);
        assert_eq!(
            Backend::of(Family::Software, VideoCodec::Av1),
            Some(Backend::AomAv1)
        );
        assert_eq!(Backend::software_for(VideoCodec::Av1), Backend::AomAv1);
        assert!(Backend::SvtAv1.live_limitation().is_some());
    }

    #[test]
    fn capabilities() {
        assert!(
            Backend::SvtAv1
                .chroma_limitation(ChromaFormat::Yuv444)
                .is_some()
        );
        assert!(
            Backend::X265
                .chroma_limitation(ChromaFormat::Yuv444)
                .is_none()
        );
        assert_eq!(
            Backend::NvencHevc.input_layout(ChromaFormat::Yuv420TenBit),
            YuvLayout::P010
        );
        assert_eq!(
            Backend::X265.input_layout(ChromaFormat::Yuv420TenBit),
            YuvLayout::Yuv420p10
        );
    }
}
