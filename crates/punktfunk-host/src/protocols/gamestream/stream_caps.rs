//! What this host can stream, as RTSP's DESCRIBE and `/serverinfo` tell Moonlight: H.264 always,
//! HEVC and AV1 only when an encoder for them opens here (probed once at start-up: offering a codec
//! that then fails to open would break every launch that picks it).

use punktfunk_core::gamestream::sdp::{CodecCaps, HostCapabilities, SS_FF_CONTROLLER_TOUCH};

/// Which optional codecs an encoder opens for on this machine.
#[derive(Clone, Copy, Debug)]
pub struct Codecs {
    pub hevc: bool,
    pub av1: bool,
}

impl Codecs {
    /// Tries the HEVC and AV1 encoders. Blocking (opens encoders).
    pub fn probe() -> Codecs {
        Codecs {
            hevc: encoder_opens(punktfunk_media::VideoCodec::Hevc),
            av1: encoder_opens(punktfunk_media::VideoCodec::Av1),
        }
    }

    /// What this host can stream: H.264 always, HEVC and AV1 when an encoder for them opens here.
    pub fn capabilities(self) -> HostCapabilities {
        let codec = |supported| CodecCaps {
            supported,
            main10: false,
            yuv444: false,
        };
        HostCapabilities {
            h264: codec(true),
            hevc: codec(self.hevc),
            av1: codec(self.av1),
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

/// Whether an encoder for `codec` opens on this machine (checked once at a small size). Blocking.
fn encoder_opens(codec: punktfunk_media::VideoCodec) -> bool {
    let config = punktfunk_media::EncoderConfig {
        codec,
        width: 320,
        height: 240,
        fps_num: 60,
        fps_den: 1,
        bitrate_kbps: 1000,
        chroma: punktfunk_media::ChromaFormat::Yuv420,
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
                "GameStream does not offer AV1: only libaom-av1 (not real-time)"
            );
            false
        }
        Ok(encoder) => {
            tracing::info!(
                ?codec,
                encoder = encoder.name(),
                "GameStream offers this codec"
            );
            true
        }
        Err(e) => {
            tracing::info!(?codec, "GameStream does not offer this codec: {e}");
            false
        }
    }
}
