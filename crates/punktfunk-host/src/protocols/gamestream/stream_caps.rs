//! What this host can stream, as RTSP's DESCRIBE and `/serverinfo` tell Moonlight: H.264 always,
//! HEVC and AV1 only when an encoder for them opens here, and each codec's 10-bit and 4:4:4 formats
//! only when an encoder opens in them (probed once at start-up: offering a format that then fails
//! to open would break every launch that picks it). AV1 is measured too: a software AV1 encoder
//! keeps up with small modes only, so each launch's DESCRIBE offers AV1 only when the measured rate
//! covers that launch's mode (Moonlight takes a codec only when DESCRIBE names it).

use punktfunk_core::gamestream::sdp::{CodecCaps, HostCapabilities, SS_FF_CONTROLLER_TOUCH};
use punktfunk_media::{ChromaFormat, VideoCodec};

/// Which codecs and formats an encoder opens for on this machine.
#[derive(Clone, Copy, Debug)]
pub struct Codecs {
    pub h264: CodecCaps,
    pub hevc: CodecCaps,
    pub av1: CodecCaps,
    /// Pixels per second the AV1 encoder kept up with, live, at start-up.
    pub av1_pixel_rate: f64,
}

/// The mode AV1 is measured at.
const AV1_PROBE: (u32, u32) = (1280, 720);
const AV1_PROBE_FRAMES: u32 = 60;
/// The smallest mode AV1 must keep up with to be offered at all (per launch it is offered only
/// for modes the measured rate covers).
const AV1_LEAST_MODE: (u32, u32, u32) = (640, 360, 30);
/// A launch's mode is offered AV1 when the measured rate covers it with this much to spare (the
/// desktop, sway and the audio encoder share the cores).
const AV1_HEADROOM: f64 = 1.25;

impl Codecs {
    /// Tries each codec's encoder in each format. Blocking (opens encoders).
    pub fn probe() -> Codecs {
        let formats = |codec: VideoCodec, ten_bit: bool, yuv444: bool| {
            let supported = codec == VideoCodec::H264 || encoder_opens(codec, ChromaFormat::Yuv420);
            CodecCaps {
                supported,
                main10: supported && ten_bit && encoder_opens(codec, ChromaFormat::Yuv420TenBit),
                yuv444: supported && yuv444 && encoder_opens(codec, ChromaFormat::Yuv444),
                yuv444_ten_bit: supported
                    && ten_bit
                    && yuv444
                    && encoder_opens(codec, ChromaFormat::Yuv444TenBit),
            }
        };
        let (av1, av1_pixel_rate) = probe_av1();
        Codecs {
            // GameStream has no 10-bit H.264.
            h264: formats(VideoCodec::H264, false, true),
            hevc: formats(VideoCodec::Hevc, true, true),
            av1,
            av1_pixel_rate,
        }
    }

    /// What this host can stream for a launch at `width`×`height`@`fps`: AV1 only when the
    /// encoder kept up with that many pixels per second.
    pub fn capabilities_for(self, width: u32, height: u32, fps: u32) -> HostCapabilities {
        let mut caps = self.capabilities();
        let needed = f64::from(width) * f64::from(height) * f64::from(fps) * AV1_HEADROOM;
        if caps.av1.supported && needed > self.av1_pixel_rate {
            tracing::info!(
                mode = format!("{width}x{height}@{fps}"),
                needed_mpx_s = needed / 1e6,
                measured_mpx_s = self.av1_pixel_rate / 1e6,
                "AV1 not offered for this launch: the encoder does not keep up with its mode"
            );
            caps.av1.supported = false;
        }
        caps
    }

    /// What this host can stream at all (`/serverinfo`).
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

/// AV1 8-bit 4:2:0 when its encoder, measured at [`AV1_PROBE`], keeps up with at least
/// [`AV1_LEAST_MODE`], and the pixel rate it kept up with. 10-bit and 4:4:4 AV1 are not offered: the AV1 encoder software hosts have
/// (libaom) is slower still in them. Blocking (encodes a second of moving content).
fn probe_av1() -> (CodecCaps, f64) {
    let (width, height) = AV1_PROBE;
    let config = punktfunk_media::EncoderConfig {
        codec: VideoCodec::Av1,
        width,
        height,
        fps_num: 60,
        fps_den: 1,
        bitrate_kbps: 10_000,
        chroma: ChromaFormat::Yuv420,
        color: punktfunk_media::ColorSpace::Bt709,
        full_range: false,
        hdr: None,
        intra_refresh: false,
    };
    match punktfunk_media::encode::live_fps(&config, AV1_PROBE_FRAMES) {
        Ok((encoder, fps)) => {
            let rate = fps * f64::from(width) * f64::from(height);
            let (w, h, least_fps) = AV1_LEAST_MODE;
            let offered = rate >= f64::from(w) * f64::from(h) * f64::from(least_fps) * AV1_HEADROOM;
            tracing::info!(
                encoder,
                fps_720p = format!("{fps:.1}"),
                offered,
                "GameStream AV1: measured live at 1280x720 (offered per launch where it keeps up)"
            );
            let caps = CodecCaps {
                supported: offered,
                ..CodecCaps::default()
            };
            (caps, rate)
        }
        Err(e) => {
            tracing::info!("GameStream does not offer AV1: {e}");
            (CodecCaps::default(), 0.0)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn av1_is_offered_only_to_launches_its_encoder_keeps_up_with() {
        let supported = CodecCaps {
            supported: true,
            ..CodecCaps::default()
        };
        // libaom here: about 51 fps at 720p, so 47 Mpx/s.
        let codecs = Codecs {
            h264: supported,
            hevc: supported,
            av1: supported,
            av1_pixel_rate: 51.0 * 1280.0 * 720.0,
        };
        assert!(codecs.capabilities().av1.supported, "/serverinfo names it");
        assert!(codecs.capabilities_for(640, 360, 30).av1.supported);
        assert!(codecs.capabilities_for(1280, 720, 30).av1.supported);
        assert!(!codecs.capabilities_for(1280, 720, 60).av1.supported);
        assert!(!codecs.capabilities_for(1920, 1080, 60).av1.supported);
        let launch = codecs.capabilities_for(1920, 1080, 60);
        assert!(
            launch.hevc.supported && launch.h264.supported,
            "other codecs stay"
        );
        assert!(!launch.describe_body().contains("AV1/90000"));
        assert!(
            codecs
                .capabilities_for(640, 360, 30)
                .describe_body()
                .contains("AV1/90000")
        );
    }
}
