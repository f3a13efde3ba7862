//! What this host can stream, as RTSP's DESCRIBE and `/serverinfo` tell Moonlight: H.264 always,
//! HEVC and AV1 only when an encoder for them opens here, and each codec's 10-bit and 4:4:4 formats
//! only when an encoder opens in them (probed once at start-up: offering a format that then fails
//! to open would break every launch that picks it).

use punktfunk_core::gamestream::sdp::{CodecCaps, HostCapabilities, SS_FF_CONTROLLER_TOUCH};
use punktfunk_media::{ChromaFormat, VideoCodec};

/// Which codecs and formats an encoder opens for on this machine.
#[derive(Clone, Copy, Debug)]
pub struct Codecs {
    pub h264: CodecCaps,
    pub hevc: CodecCaps,
    pub av1: CodecCaps,
}

impl Codecs {
    /// Tries each codec's encoder in each format. Blocking (opens encoders).
    pub fn probe() -> Codecs {
        let formats = |codec: VideoCodec, ten_bit: bool, yuv444: bool| {
            let supported = codec == VideoCodec::H264 || encoder_opens(codec, ChromaFormat::Yuv420);
            CodecCaps {
                supported,
                main10: supported && ten_bit && encoder_opens(codec, ChromaFormat::Yuv420TenBit),
                yuv444: supported && yuv444 && encoder_opens(codec, ChromaFormat::Yuv444),
                // Not produced: the media layer has no 10-bit 4:4:4 format.
                yuv444_ten_bit: false,
            }
        };
        Codecs {
            // GameStream has no 10-bit H.264.
            h264: formats(VideoCodec::H264, false, true),
            hevc: formats(VideoCodec::Hevc, true, true),
            av1: formats(VideoCodec::Av1, true, true),
        }
    }

    /// What this host can stream.
    pub fn capabilities(self) -> HostCapabilities {
        HostCapabilities {
            h264: self.h264,
            hevc: self.hevc,
            av1: self.av1,
            max_audio_channels: 8,
            video_encryption: true,
            require_encryption: false,
            reference_frame_invalidation: false,
            // DualSense touchpads are bridged to the pads. Touchscreen and pen stay off: with them
            // Moonlight would send pen strokes no sink here injects, while without them it turns
            // both into mouse input, which every display takes.
            feature_flags: SS_FF_CONTROLLER_TOUCH,
        }
    }
}

/// Whether an encoder for `codec` opens in `chroma` on this machine (checked once at a small
/// size). Blocking.
fn encoder_opens(codec: VideoCodec, chroma: ChromaFormat) -> bool {
    let config = punktfunk_media::EncoderConfig {
        codec,
        width: 320,
        height: 240,
        fps_num: 60,
        fps_den: 1,
        bitrate_kbps: 1000,
        chroma,
        color: punktfunk_media::ColorSpace::Bt709,
        full_range: false,
        hdr: None,
        intra_refresh: false,
    };
    let opened = punktfunk_media::init()
        .map_err(anyhow::Error::from)
        .and_then(|()| Ok(punktfunk_media::encode::open_encoder(&config, None)?));
    match opened {
        // libaom is the only AV1 encoder some FFmpeg builds have, and it is far from real time on
        // CPUs like this one; offering it would make clients that prefer AV1 stutter.
        Ok(encoder) if encoder.name() == "libaom-av1" => {
            tracing::info!(
                ?codec,
                ?chroma,
                "GameStream does not offer AV1: only libaom-av1 (not real-time)"
            );
            false
        }
        Ok(encoder) => {
            tracing::info!(
                ?codec,
                ?chroma,
                encoder = encoder.name(),
                "GameStream offers this format"
            );
            true
        }
        Err(e) => {
            tracing::info!(
                ?codec,
                ?chroma,
                "GameStream does not offer this format: {e}"
            );
            false
        }
    }
}
