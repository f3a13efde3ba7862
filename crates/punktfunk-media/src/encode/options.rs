//! Low-latency option sets per backend, as plain data (so they can be read and tested without FFmpeg).
//!
//! Common ideas: no B-frames and no lookahead (one access unit out per frame in), an infinite GOP with
//! IDR on demand, parameter sets repeated on every keyframe, rate control with a VBV of about one frame,
//! and the colour description in the VUI / sequence header.

use super::Backend;
use crate::{ChromaFormat, ColorSpace, EncoderConfig, HdrMetadata};

/// Rate-control numbers written into the `AVCodecContext`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateControl {
    /// Target (and maximum) bitrate in bit/s.
    pub bit_rate: i64,
    /// VBV / HRD buffer in bits: one frame's worth of the bitrate.
    pub buffer_bits: i64,
}

impl RateControl {
    pub fn new(kbps: u32, fps_num: u32, fps_den: u32) -> Self {
        let bit_rate = i64::from(kbps.max(1)) * 1000;
        let buffer_bits =
            (bit_rate * i64::from(fps_den.max(1)) / i64::from(fps_num.max(1))).max(8_000);
        Self {
            bit_rate,
            buffer_bits,
        }
    }

    /// Buffer size in kbit (what x265 / x264 parameter strings take), at least 1.
    pub fn buffer_kbit(&self) -> i64 {
        (self.buffer_bits / 1000).max(1)
    }
}

/// Frames per second, rounded, at least 1.
pub fn fps_rounded(config: &EncoderConfig) -> u32 {
    let den = u64::from(config.fps_den.max(1));
    // Clamped to 1..=1000, so the narrowing cannot truncate.
    ((u64::from(config.fps_num) + den / 2) / den).clamp(1, 1000) as u32
}

/// Whether this picture rate is light enough for the slightly slower, better preset.
fn small_picture(config: &EncoderConfig) -> bool {
    u64::from(config.width) * u64::from(config.height) * u64::from(fps_rounded(config))
        <= 1280 * 720 * 60
}

/// x265-style mastering display string: `G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)`, chromaticities in 0.00002
/// and luminance in 0.0001 cd/m² — the units [`HdrMetadata`] uses. (x264 takes the same syntax.)
pub fn master_display_string(hdr: &HdrMetadata) -> String {
    let [r, g, b] = hdr.primaries;
    format!(
        "G({},{})B({},{})R({},{})WP({},{})L({},{})",
        g.0,
        g.1,
        b.0,
        b.1,
        r.0,
        r.1,
        hdr.white_point.0,
        hdr.white_point.1,
        hdr.max_luminance,
        hdr.min_luminance
    )
}

/// SVT-AV1's mastering display string: the same shape with real values (chromaticity, cd/m²).
pub fn svt_master_display_string(hdr: &HdrMetadata) -> String {
    let c = |v: u16| f64::from(v) / 50_000.0;
    let l = |v: u32| f64::from(v) / 10_000.0;
    let [r, g, b] = hdr.primaries;
    format!(
        "G({:.5},{:.5})B({:.5},{:.5})R({:.5},{:.5})WP({:.5},{:.5})L({:.4},{:.4})",
        c(g.0),
        c(g.1),
        c(b.0),
        c(b.1),
        c(r.0),
        c(r.1),
        c(hdr.white_point.0),
        c(hdr.white_point.1),
        l(hdr.max_luminance),
        l(hdr.min_luminance)
    )
}

/// The codec-private options (`av_opt_set` on the encoder) for `backend`.
pub fn private_options(
    backend: Backend,
    config: &EncoderConfig,
    rc: &RateControl,
) -> Vec<(&'static str, String)> {
    match backend {
        Backend::X264 => x264_options(config),
        Backend::X265 => x265_options(config, rc),
        Backend::AomAv1 => aom_options(config),
        Backend::SvtAv1 => svtav1_options(config),
        Backend::NvencH264 | Backend::NvencHevc => nvenc_options(backend, config),
        Backend::VaapiH264 | Backend::VaapiHevc => vaapi_options(),
    }
}

fn join(params: &[String]) -> String {
    params.join(":")
}

fn x264_options(config: &EncoderConfig) -> Vec<(&'static str, String)> {
    let preset = if small_picture(config) {
        "superfast"
    } else {
        "ultrafast"
    };
    // keyint is the intra-refresh wave period when intra refresh is on; infinite otherwise.
    let keyint = if config.intra_refresh {
        fps_rounded(config).to_string()
    } else {
        "infinite".into()
    };
    let mut params = vec![
        format!("keyint={keyint}"),
        "scenecut=0".into(),
        "bframes=0".into(),
        "rc-lookahead=0".into(),
        "sync-lookahead=0".into(),
        "sliced-threads=1".into(),
        "repeat-headers=1".into(),
    ];
    if let Some(hdr) = &config.hdr {
        params.push(format!("mastering-display={}", master_display_string(hdr)));
        params.push(format!("cll={},{}", hdr.max_cll, hdr.max_fall));
    }
    let mut opts = vec![
        ("preset", preset.to_string()),
        ("tune", "zerolatency".into()),
        ("forced-idr", "1".into()),
        ("x264-params", join(&params)),
    ];
    if config.intra_refresh {
        opts.push(("intra-refresh", "1".into()));
    }
    opts
}

fn x265_options(config: &EncoderConfig, rc: &RateControl) -> Vec<(&'static str, String)> {
    let preset = if small_picture(config) {
        "superfast"
    } else {
        "ultrafast"
    };
    let profile = match config.chroma {
        ChromaFormat::Yuv420 => "main",
        ChromaFormat::Yuv420TenBit => "main10",
        ChromaFormat::Yuv444 => "main444-8",
        ChromaFormat::Yuv444TenBit => "main444-10",
    };
    let keyint = if config.intra_refresh {
        fps_rounded(config).to_string()
    } else {
        "-1".into()
    };
    let mut params = vec![
        format!("keyint={keyint}"),
        "scenecut=0".into(),
        "bframes=0".into(),
        "rc-lookahead=0".into(),
        // Frame-parallel encoding would hold frames back; wavefront (WPP) threads still run.
        "frame-threads=1".into(),
        "repeat-headers=1".into(),
        "info=0".into(),
        "log-level=error".into(),
        format!("vbv-maxrate={}", rc.bit_rate / 1000),
        format!("vbv-bufsize={}", rc.buffer_kbit()),
        format!(
            "range={}",
            if config.full_range { "full" } else { "limited" }
        ),
    ];
    if config.intra_refresh {
        params.push("intra-refresh=1".into());
    }
    match config.color {
        ColorSpace::Bt709 => params.extend([
            "colorprim=bt709".into(),
            "transfer=bt709".into(),
            "colormatrix=bt709".into(),
        ]),
        ColorSpace::Bt2020Pq => params.extend([
            "colorprim=bt2020".into(),
            "transfer=smpte2084".into(),
            "colormatrix=bt2020nc".into(),
        ]),
    }
    if let Some(hdr) = &config.hdr {
        params.extend([
            "hdr10=1".into(),
            "hdr10-opt=0".into(),
            format!("master-display={}", master_display_string(hdr)),
            format!("max-cll={},{}", hdr.max_cll, hdr.max_fall),
        ]);
    }
    vec![
        ("preset", preset.into()),
        ("tune", "zerolatency".into()),
        ("profile", profile.into()),
        ("forced-idr", "1".into()),
        ("x265-params", join(&params)),
    ]
}

fn aom_options(config: &EncoderConfig) -> Vec<(&'static str, String)> {
    vec![
        // Real-time mode at its fastest speed the FFmpeg 5.1 wrapper allows; no lag means one packet per
        // frame, synchronously.
        ("usage", "realtime".into()),
        ("cpu-used", "8".into()),
        ("lag-in-frames", "0".into()),
        ("row-mt", "1".into()),
        // Two tile columns from 720p up: more parallelism, still cheap in bits.
        (
            "tile-columns",
            if config.width >= 1280 { "1" } else { "0" }.into(),
        ),
        ("aq-mode", "0".into()),
    ]
}

fn svtav1_options(config: &EncoderConfig) -> Vec<(&'static str, String)> {
    let (primaries, transfer, matrix) = match config.color {
        ColorSpace::Bt709 => (1, 1, 1),
        ColorSpace::Bt2020Pq => (9, 16, 9),
    };
    let mut params = vec![
        // Low-delay prediction structure: P-frames only, no reordering; CBR is what it supports.
        "pred-struct=1".into(),
        "rc=2".into(),
        "keyint=-1".into(),
        "scd=0".into(),
        "lookahead=0".into(),
        "enable-overlays=0".into(),
        format!("color-primaries={primaries}"),
        format!("transfer-characteristics={transfer}"),
        format!("matrix-coefficients={matrix}"),
        format!("color-range={}", u8::from(config.full_range)),
    ];
    if let Some(hdr) = &config.hdr {
        params.push(format!(
            "mastering-display={}",
            svt_master_display_string(hdr)
        ));
        params.push(format!("content-light={},{}", hdr.max_cll, hdr.max_fall));
    }
    vec![("preset", "12".into()), ("svtav1-params", join(&params))]
}

fn nvenc_options(backend: Backend, config: &EncoderConfig) -> Vec<(&'static str, String)> {
    let profile = match (backend, config.chroma) {
        (Backend::NvencH264, ChromaFormat::Yuv444) => "high444p",
        (Backend::NvencH264, _) => "high",
        (_, ChromaFormat::Yuv420) => "main",
        (_, ChromaFormat::Yuv420TenBit) => "main10",
        (_, ChromaFormat::Yuv444 | ChromaFormat::Yuv444TenBit) => "rext",
    };
    vec![
        ("preset", "p1".into()),
        ("tune", "ull".into()),
        ("zerolatency", "1".into()),
        ("rc", "cbr".into()),
        ("forced-idr", "1".into()),
        // Hand each packet back as soon as it is done, not after a pipeline of surfaces.
        ("delay", "0".into()),
        ("rc-lookahead", "0".into()),
        ("profile", profile.into()),
    ]
}

fn vaapi_options() -> Vec<(&'static str, String)> {
    vec![
        ("rc_mode", "CBR".into()),
        ("async_depth", "1".into()),
        ("idr_interval", "0".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VideoCodec;

    fn config() -> EncoderConfig {
        EncoderConfig {
            codec: VideoCodec::Hevc,
            width: 1920,
            height: 1080,
            fps_num: 60,
            fps_den: 1,
            bitrate_kbps: 20_000,
            chroma: ChromaFormat::Yuv420TenBit,
            color: ColorSpace::Bt2020Pq,
            full_range: false,
            hdr: Some(HdrMetadata {
                primaries: [(34000, 16000), (13250, 34500), (7500, 3000)],
                white_point: (15635, 16450),
                max_luminance: 10_000_000,
                min_luminance: 1,
                max_cll: 1000,
                max_fall: 400,
            }),
            intra_refresh: false,
        }
    }

    fn get<'a>(opts: &'a [(&'static str, String)], key: &str) -> &'a str {
        opts.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    #[test]
    fn vbv_is_one_frame() {
        let rc = RateControl::new(20_000, 60, 1);
        assert_eq!(rc.bit_rate, 20_000_000);
        assert_eq!(rc.buffer_bits, 333_333);
        assert_eq!(RateControl::new(10_000, 60000, 1001).buffer_kbit(), 166);
    }

    #[test]
    fn hdr_strings() {
        let hdr = config().hdr.unwrap_or_else(|| unreachable!());
        assert_eq!(
            master_display_string(&hdr),
            "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"
        );
        assert_eq!(
            svt_master_display_string(&hdr),
            "G(0.26500,0.69000)B(0.15000,0.06000)R(0.68000,0.32000)WP(0.31270,0.32900)L(1000.0000,0.0001)"
        );
    }

    #[test]
    fn x265_hdr10_main10() {
        let c = config();
        let opts = private_options(Backend::X265, &c, &RateControl::new(c.bitrate_kbps, 60, 1));
        assert_eq!(get(&opts, "profile"), "main10");
        assert_eq!(get(&opts, "tune"), "zerolatency");
        let params = get(&opts, "x265-params");
        for needle in [
            "keyint=-1",
            "bframes=0",
            "repeat-headers=1",
            "hdr10=1",
            "colorprim=bt2020",
            "transfer=smpte2084",
            "colormatrix=bt2020nc",
            "max-cll=1000,400",
            "vbv-bufsize=333",
            "vbv-maxrate=20000",
        ] {
            assert!(
                params.split(':').any(|p| p == needle),
                "{needle} missing from {params}"
            );
        }
    }

    #[test]
    fn x264_low_latency() {
        let mut c = config();
        c.codec = VideoCodec::H264;
        c.hdr = None;
        let opts = private_options(Backend::X264, &c, &RateControl::new(c.bitrate_kbps, 60, 1));
        assert_eq!(get(&opts, "preset"), "ultrafast");
        assert_eq!(get(&opts, "forced-idr"), "1");
        assert!(get(&opts, "x264-params").contains("keyint=infinite"));
        c.intra_refresh = true;
        c.width = 1280;
        c.height = 720;
        let opts = private_options(Backend::X264, &c, &RateControl::new(c.bitrate_kbps, 60, 1));
        assert_eq!(get(&opts, "preset"), "superfast");
        assert_eq!(get(&opts, "intra-refresh"), "1");
        assert!(get(&opts, "x264-params").contains("keyint=60"));
    }
}
