//! What a client may ask a stream to be: display size, refresh rate, pixel rate and bitrate. One
//! check for both protocols (punktfunk/1 `Hello`, GameStream `/launch`), made before anything is
//! created, so that a paired client asking for 16384×16384 at 500 Hz and 5 Gbit/s (about 1 GiB per
//! raw frame) gets a clear refusal instead of a host that allocates, then falls over.
//!
//! Two layers: fixed ceilings that no encoder backend of this host goes beyond (and that settings
//! cannot raise), and the operator's caps from the settings (`max_width`, `max_height`,
//! `max_refresh_hz`, `max_bitrate_kbps`) below them.

/// Widest and tallest display any setting may allow: NVENC and VAAPI encode at most 8192 pixels a
/// side, and no H.264/HEVC/AV1 level allows a larger side at a sensible aspect ratio.
pub const CEILING_SIDE: u32 = 8192;
/// Largest picture in pixels: the luma-sample limit of the top levels of H.264 (6.2: 139 264
/// macroblocks), HEVC (6.2) and AV1 (6.x) alike; every encoder refuses bigger pictures.
pub const CEILING_FRAME_PIXELS: u64 = 35_651_584;
/// Highest refresh rate any setting may allow (Hz).
pub const CEILING_REFRESH_HZ: u32 = 500;
/// Most pixels per second: 8K at 60 Hz, or 4K at 240 Hz — beyond what the fastest hardware encoder
/// here sustains, and far beyond software encoding.
pub const CEILING_PIXEL_RATE: u64 = 7680 * 4320 * 60;
/// Highest bitrate any setting may allow (kbit/s): 1 Gbit/s, more than a gigabit LAN carries.
pub const CEILING_BITRATE_KBPS: u32 = 1_000_000;
/// Smallest display side, refresh rate (Hz) and bitrate (kbit/s) a stream may have.
pub const MIN_SIDE: u32 = 16;
pub const MIN_REFRESH_HZ: u32 = 1;
pub const MIN_BITRATE_KBPS: u32 = 100;

/// What a client asks for, in the units both protocols can express.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamRequest {
    pub width: u32,
    pub height: u32,
    /// Refresh rate in millihertz (GameStream's whole fps × 1000).
    pub refresh_mhz: u32,
    pub bitrate_kbps: u32,
}

/// The operator's caps (see [`StreamLimits::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    pub max_width: u32,
    pub max_height: u32,
    pub max_refresh_hz: u32,
    pub max_bitrate_kbps: u32,
}

/// Why a stream request was refused; the text is what the client is told.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StreamLimitError {
    #[error("display size {width}x{height} is below the minimum of {MIN_SIDE}x{MIN_SIDE}")]
    TooSmall { width: u32, height: u32 },
    #[error(
        "display size {width}x{height} is larger than this host allows ({max_width}x{max_height}; settings max_width / max_height)"
    )]
    TooLarge {
        width: u32,
        height: u32,
        max_width: u32,
        max_height: u32,
    },
    #[error(
        "display size {width}x{height} has more pixels than any video encoder accepts ({CEILING_FRAME_PIXELS})"
    )]
    TooManyPixels { width: u32, height: u32 },
    #[error(
        "refresh rate {hz:.3} Hz is outside what this host allows ({MIN_REFRESH_HZ} to {max_hz} Hz; setting max_refresh_hz)"
    )]
    Refresh { hz: f64, max_hz: u32 },
    #[error(
        "{width}x{height} at {hz:.3} Hz is more pixels per second than this host can encode (at most 7680x4320 at 60 Hz or 3840x2160 at 240 Hz)"
    )]
    PixelRate { width: u32, height: u32, hz: f64 },
    #[error(
        "bitrate {kbps} kbit/s is outside what this host allows ({MIN_BITRATE_KBPS} to {max_kbps} kbit/s; setting max_bitrate_kbps)"
    )]
    Bitrate { kbps: u32, max_kbps: u32 },
}

impl StreamLimits {
    /// The operator's caps (settings `max_width`, `max_height`, `max_refresh_hz`,
    /// `max_bitrate_kbps`), never above the ceilings (settings validation refuses larger values;
    /// the clamp keeps this total anyway). `Settings::stream_limits` is the usual way in.
    pub fn new(
        max_width: u32,
        max_height: u32,
        max_refresh_hz: u32,
        max_bitrate_kbps: u32,
    ) -> StreamLimits {
        StreamLimits {
            max_width: max_width.clamp(MIN_SIDE, CEILING_SIDE),
            max_height: max_height.clamp(MIN_SIDE, CEILING_SIDE),
            max_refresh_hz: max_refresh_hz.clamp(MIN_REFRESH_HZ, CEILING_REFRESH_HZ),
            max_bitrate_kbps: max_bitrate_kbps.clamp(MIN_BITRATE_KBPS, CEILING_BITRATE_KBPS),
        }
    }

    /// `Ok` when the request is within every cap and ceiling, else the first one it breaks.
    pub fn check(&self, r: &StreamRequest) -> Result<(), StreamLimitError> {
        self.check_mode(r.width, r.height, r.refresh_mhz)?;
        self.check_bitrate(r.bitrate_kbps)
    }

    /// The display mode alone (GameStream learns the bitrate only later, at RTSP ANNOUNCE).
    pub fn check_mode(
        &self,
        width: u32,
        height: u32,
        refresh_mhz: u32,
    ) -> Result<(), StreamLimitError> {
        if width < MIN_SIDE || height < MIN_SIDE {
            return Err(StreamLimitError::TooSmall { width, height });
        }
        if width > self.max_width || height > self.max_height {
            return Err(StreamLimitError::TooLarge {
                width,
                height,
                max_width: self.max_width,
                max_height: self.max_height,
            });
        }
        let pixels = u64::from(width) * u64::from(height);
        if pixels > CEILING_FRAME_PIXELS {
            return Err(StreamLimitError::TooManyPixels { width, height });
        }
        let hz = f64::from(refresh_mhz) / 1000.0;
        if refresh_mhz < MIN_REFRESH_HZ * 1000 || refresh_mhz > self.max_refresh_hz * 1000 {
            return Err(StreamLimitError::Refresh {
                hz,
                max_hz: self.max_refresh_hz,
            });
        }
        // Both factors are bounded above (35.6 M pixels, 500 000 mHz): no overflow.
        if pixels * u64::from(refresh_mhz) > CEILING_PIXEL_RATE * 1000 {
            return Err(StreamLimitError::PixelRate { width, height, hz });
        }
        Ok(())
    }

    /// The bitrate alone.
    pub fn check_bitrate(&self, kbps: u32) -> Result<(), StreamLimitError> {
        if !(MIN_BITRATE_KBPS..=self.max_bitrate_kbps).contains(&kbps) {
            return Err(StreamLimitError::Bitrate {
                kbps,
                max_kbps: self.max_bitrate_kbps,
            });
        }
        Ok(())
    }
}

/// Settings validation for the caps: each within its ceiling.
pub fn validate_caps(caps: &StreamLimits) -> Result<(), String> {
    if !(MIN_SIDE..=CEILING_SIDE).contains(&caps.max_width)
        || !(MIN_SIDE..=CEILING_SIDE).contains(&caps.max_height)
    {
        return Err(format!(
            "max_width and max_height must be between {MIN_SIDE} and {CEILING_SIDE}"
        ));
    }
    if !(MIN_REFRESH_HZ..=CEILING_REFRESH_HZ).contains(&caps.max_refresh_hz) {
        return Err(format!(
            "max_refresh_hz must be between {MIN_REFRESH_HZ} and {CEILING_REFRESH_HZ}"
        ));
    }
    if !(MIN_BITRATE_KBPS..=CEILING_BITRATE_KBPS).contains(&caps.max_bitrate_kbps) {
        return Err(format!(
            "max_bitrate_kbps must be between {MIN_BITRATE_KBPS} and {CEILING_BITRATE_KBPS}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::settings::Settings;

    fn check_stream(settings: &Settings, request: &StreamRequest) -> Result<(), StreamLimitError> {
        settings.stream_limits().check(request)
    }

    fn request(width: u32, height: u32, hz: u32, kbps: u32) -> StreamRequest {
        StreamRequest {
            width,
            height,
            refresh_mhz: hz * 1000,
            bitrate_kbps: kbps,
        }
    }

    fn defaults() -> StreamLimits {
        Settings::default().stream_limits()
    }

    #[test]
    fn ordinary_modes_pass_the_defaults() {
        let limits = defaults();
        for r in [
            request(1280, 720, 60, 20_000),
            request(1920, 1080, 144, 80_000),
            request(3840, 2160, 120, 150_000),
            request(7680, 4320, 60, 500_000),
            request(1080, 2400, 120, 30_000),
            request(16, 16, 1, 100),
        ] {
            assert_eq!(limits.check(&r), Ok(()), "{r:?}");
        }
        let fractional = StreamRequest {
            refresh_mhz: 59_940,
            ..request(1920, 1080, 0, 20_000)
        };
        assert_eq!(limits.check(&fractional), Ok(()));
        // GameStream checks the two halves at different times.
        assert_eq!(limits.check_mode(3840, 2160, 120_000), Ok(()));
        assert!(limits.check_mode(16_384, 16_384, 500_000).is_err());
        assert_eq!(limits.check_bitrate(150_000), Ok(()));
        assert!(limits.check_bitrate(5_000_000).is_err());
    }

    #[test]
    fn the_abusive_hello_is_refused_with_a_reason() {
        let err = defaults()
            .check(&request(16_384, 16_384, 500, 5_000_000))
            .unwrap_err();
        assert!(matches!(err, StreamLimitError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("max_width"), "{err}");
    }

    #[test]
    fn each_limit_names_itself() {
        let limits = defaults();
        let cases = [
            (request(8, 720, 60, 20_000), "minimum"),
            (request(1280, 720, 0, 20_000), "max_refresh_hz"),
            (request(1280, 720, 361, 20_000), "max_refresh_hz"),
            (request(3840, 2160, 300, 20_000), "pixels per second"),
            (request(1280, 720, 60, 99), "max_bitrate_kbps"),
            (request(1280, 720, 60, 500_001), "max_bitrate_kbps"),
        ];
        for (r, needle) in cases {
            let err = limits.check(&r).unwrap_err().to_string();
            assert!(err.contains(needle), "{r:?}: {err}");
        }
        let wide = StreamLimits {
            max_width: CEILING_SIDE,
            max_height: CEILING_SIDE,
            ..limits
        };
        assert!(matches!(
            wide.check(&request(8192, 8192, 30, 20_000)),
            Err(StreamLimitError::TooManyPixels { .. })
        ));
    }

    #[test]
    fn the_settings_lower_the_caps_but_cannot_pass_the_ceilings() {
        let settings = Settings {
            max_width: 1920,
            max_height: 1080,
            max_refresh_hz: 60,
            max_bitrate_kbps: 10_000,
            ..Settings::default()
        };
        assert!(check_stream(&settings, &request(1920, 1080, 60, 10_000)).is_ok());
        assert!(check_stream(&settings, &request(2560, 1440, 60, 10_000)).is_err());
        assert!(check_stream(&settings, &request(1920, 1080, 120, 10_000)).is_err());
        assert!(check_stream(&settings, &request(1920, 1080, 60, 20_000)).is_err());
        assert!(validate_caps(&settings.stream_caps()).is_ok());
        for bad in [
            Settings {
                max_width: 16_384,
                ..Settings::default()
            },
            Settings {
                max_refresh_hz: 0,
                ..Settings::default()
            },
            Settings {
                max_bitrate_kbps: 5_000_000,
                ..Settings::default()
            },
        ] {
            assert!(validate_caps(&bad.stream_caps()).is_err());
            let clamped = bad.stream_limits();
            assert!(clamped.max_width <= CEILING_SIDE);
            assert!(clamped.max_refresh_hz >= MIN_REFRESH_HZ);
            assert!(clamped.max_bitrate_kbps <= CEILING_BITRATE_KBPS);
        }
    }
}
