//! Acceptance tests for the video layer: the real software encoders (through `open_encoder`) into the real
//! decoder, on the moving test pattern at 1280×720, 60 fps, 10 Mbps.
//!
//! Every frame goes render → encode → decode at once, so each test also checks that one access unit in
//! gives one picture out, and that the stamp the picture carries is the frame that was sent.

use std::time::{Duration, Instant};

use punktfunk_media::decode::{ChromaSubsampling, DecodedFrame, Decoder, psnr_rgb};
use punktfunk_media::encode::{Encoder, open_encoder};
use punktfunk_media::pattern::{Stamp, TestPattern, read_stamp, to_rgb24};
use punktfunk_media::{
    AccessUnit, ChromaFormat, ColorSpace, EncoderConfig, HdrMetadata, PixelFormat, RawFrame,
    VideoCodec,
};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
const FPS: u64 = 60;
const KBPS: u32 = 10_000;

fn config(
    codec: VideoCodec,
    chroma: ChromaFormat,
    color: ColorSpace,
    hdr: Option<HdrMetadata>,
) -> EncoderConfig {
    EncoderConfig {
        codec,
        width: WIDTH,
        height: HEIGHT,
        fps_num: FPS as u32,
        fps_den: 1,
        bitrate_kbps: KBPS,
        chroma,
        color,
        full_range: false,
        hdr,
        intra_refresh: false,
    }
}

/// The software backend each codec is tested on: the software floor `open_encoder` falls back to.
/// (For AV1 that is libaom-av1 in real-time mode: FFmpeg 5.1's libsvtav1 wrapper polls SVT-AV1's
/// pipeline without waiting, so each access unit comes out a frame late.)
fn backend(codec: VideoCodec) -> &'static str {
    match codec {
        VideoCodec::H264 => "libx264",
        VideoCodec::Hevc => "libx265",
        VideoCodec::Av1 => "libaom-av1",
    }
}

/// Capture timestamp of frame `n`: starts past 2³² µs so the stamp's truncation to 32 bits is exercised.
fn pts_us(n: u64) -> u64 {
    5_000_000_000 + n * 1_000_000 / FPS
}

/// One frame through the chain.
struct Step {
    au: AccessUnit,
    picture: DecodedFrame,
    /// PSNR (dB) of the decoded picture against the rendered source, when asked for.
    psnr: Option<f64>,
}

/// Encoder + decoder + pattern, fed one frame at a time.
struct Chain {
    encoder: Box<dyn Encoder>,
    decoder: Decoder,
    pattern: TestPattern,
    source: Vec<u8>,
    next: u64,
    encode_time: Duration,
}

impl Chain {
    fn open(config: &EncoderConfig) -> Self {
        let encoder = open_encoder(config, Some(backend(config.codec)))
            .unwrap_or_else(|e| panic!("{} did not open: {e}", backend(config.codec)));
        assert_eq!(
            encoder.name(),
            backend(config.codec),
            "forced backend was not the one opened"
        );
        let decoder = Decoder::new(config.codec).expect("decoder");
        Self {
            encoder,
            decoder,
            pattern: TestPattern::new(config.width, config.height),
            source: Vec::new(),
            next: 0,
            encode_time: Duration::ZERO,
        }
    }

    /// Renders, encodes and decodes the next frame, checking the picture's size and stamp.
    fn step(&mut self, compare: bool) -> Step {
        let n = self.next;
        self.next += 1;
        let stride = self
            .pattern
            .render(n, pts_us(n), PixelFormat::Bgrx, &mut self.source);
        let raw = RawFrame {
            format: PixelFormat::Bgrx,
            width: self.pattern.width,
            height: self.pattern.height,
            stride,
            data: &self.source,
            pts_us: pts_us(n),
        };
        let au = self
            .encoder
            .encode(&raw)
            .unwrap_or_else(|e| panic!("encode frame {n}: {e}"));
        self.encode_time += au.encode_time;
        assert_eq!(au.pts_us, pts_us(n), "frame {n}: access unit timestamp");
        assert!(!au.data.is_empty(), "frame {n}: empty access unit");
        let picture = self
            .decoder
            .decode(&au.data)
            .unwrap_or_else(|e| panic!("decode frame {n}: {e}"))
            .unwrap_or_else(|| {
                panic!("frame {n}: one access unit in did not give one picture out")
            });
        assert_eq!(
            (picture.width, picture.height),
            (self.pattern.width, self.pattern.height),
            "frame {n}"
        );
        assert_eq!(
            picture.rgb.len(),
            (picture.width * picture.height * 3) as usize
        );
        assert_eq!(
            read_stamp(
                &picture.rgb,
                picture.width,
                picture.height,
                picture.width as usize * 3
            ),
            Some(Stamp::new(n, pts_us(n))),
            "frame {n}: stamp read back from the decoded picture"
        );
        let psnr = compare.then(|| {
            let source_rgb = to_rgb24(
                &self.source,
                PixelFormat::Bgrx,
                self.pattern.width,
                self.pattern.height,
                stride,
            );
            psnr_rgb(&source_rgb, &picture.rgb)
        });
        Step { au, picture, psnr }
    }
}

/// 60 frames at 10 Mbps: PSNR ≥ 35 dB on average, every stamp intact, a keyframe only first and where asked.
fn round_trip(codec: VideoCodec) {
    const FRAMES: u64 = 60;
    const KEYFRAME_AT: u64 = 40;
    let started = Instant::now();
    let mut chain = Chain::open(&config(
        codec,
        ChromaFormat::Yuv420,
        ColorSpace::Bt709,
        None,
    ));
    // AV1 has two software decoders here; the second one must read the same stream.
    let mut second = match codec {
        VideoCodec::Av1 if chain.decoder.name() != "libaom-av1" => Decoder::open("libaom-av1").ok(),
        _ => None,
    };
    let mut psnrs = Vec::new();
    let mut bytes = 0usize;
    for n in 0..FRAMES {
        if n == KEYFRAME_AT {
            chain.encoder.request_keyframe();
        }
        let step = chain.step(true);
        let expect_key = n == 0 || n == KEYFRAME_AT;
        assert_eq!(
            step.au.keyframe, expect_key,
            "{codec:?} frame {n}: encoder keyframe flag"
        );
        assert_eq!(
            step.picture.keyframe, expect_key,
            "{codec:?} frame {n}: decoder keyframe flag"
        );
        assert_eq!(step.picture.chroma, ChromaSubsampling::Yuv420);
        assert_eq!(step.picture.bit_depth, 8);
        psnrs.push(step.psnr.expect("psnr"));
        bytes += step.au.data.len();
        if let Some(decoder) = &mut second {
            let picture = decoder
                .decode(&step.au.data)
                .unwrap_or_else(|e| panic!("{} frame {n}: {e}", decoder.name()))
                .unwrap_or_else(|| panic!("{} frame {n}: no picture", decoder.name()));
            let stamp = read_stamp(
                &picture.rgb,
                picture.width,
                picture.height,
                picture.width as usize * 3,
            );
            assert_eq!(
                stamp,
                Some(Stamp::new(n, pts_us(n))),
                "{} frame {n}",
                decoder.name()
            );
        }
    }
    let average = psnrs.iter().sum::<f64>() / psnrs.len() as f64;
    let worst = psnrs.iter().copied().fold(f64::INFINITY, f64::min);
    let mbps = bytes as f64 * 8.0 / (FRAMES as f64 / FPS as f64) / 1e6;
    if let Some(decoder) = &second {
        eprintln!("{codec:?}: {} decoded the same stream too", decoder.name());
    }
    eprintln!(
        "{codec:?} via {} → {}: PSNR avg {average:.2} dB, min {worst:.2} dB, {mbps:.2} Mbit/s, encode {:.1} ms/frame, {:.1} s total",
        chain.encoder.name(),
        chain.decoder.name(),
        chain.encode_time.as_secs_f64() * 1e3 / FRAMES as f64,
        started.elapsed().as_secs_f64()
    );
    assert!(
        average >= 35.0,
        "{codec:?}: average PSNR {average:.2} dB < 35 dB"
    );
    // The PSNR is only meaningful at the bitrate asked for (two keyframes included, so some slack).
    assert!(
        mbps <= KBPS as f64 / 1000.0 * 1.5,
        "{codec:?}: {mbps:.2} Mbit/s for a 10 Mbit/s target"
    );
}

#[test]
fn h264_round_trip() {
    round_trip(VideoCodec::H264);
}

#[test]
fn hevc_round_trip() {
    round_trip(VideoCodec::Hevc);
}

#[test]
fn av1_round_trip() {
    round_trip(VideoCodec::Av1);
}

/// Dropping the bitrate fivefold shows in the access-unit sizes within 2 frames.
///
/// `in_place`: the backend reconfigures its rate control live, so the change costs no keyframe. In
/// FFmpeg 5.1 only libx264 (and NVENC) can; the libx265 and libsvtav1 wrappers have no reconfiguration
/// path, so those backends reopen the encoder and the change costs exactly one keyframe, right there.
fn bitrate_change(codec: VideoCodec, in_place: bool) {
    const CHANGE_AT: usize = 24;
    const FRAMES: usize = CHANGE_AT + 8;
    let mut chain = Chain::open(&config(
        codec,
        ChromaFormat::Yuv420,
        ColorSpace::Bt709,
        None,
    ));
    let mut sizes = Vec::new();
    for n in 0..FRAMES {
        if n == CHANGE_AT {
            chain.encoder.set_bitrate(KBPS / 5).expect("set_bitrate");
        }
        let step = chain.step(false);
        let expect_key = n == 0 || (n == CHANGE_AT && !in_place);
        assert_eq!(
            step.au.keyframe, expect_key,
            "{codec:?} frame {n}: keyframe flag (bitrate changed at {CHANGE_AT}, in place: {in_place})"
        );
        sizes.push(step.au.data.len());
    }
    let mean = |range: std::ops::Range<usize>| {
        sizes[range.clone()].iter().sum::<usize>() as f64 / range.len() as f64
    };
    let before = mean(CHANGE_AT - 8..CHANGE_AT);
    let within_two = sizes[CHANGE_AT].min(sizes[CHANGE_AT + 1]) as f64;
    let after = mean(CHANGE_AT + 2..FRAMES);
    eprintln!(
        "{codec:?} bitrate {KBPS}→{} kbit/s: mean AU {before:.0} B before, {within_two:.0} B within 2 frames, {after:.0} B after; sizes {sizes:?}",
        KBPS / 5
    );
    assert!(
        within_two < before * 0.6,
        "{codec:?}: no drop within 2 frames ({within_two:.0} B vs {before:.0} B)"
    );
    assert!(
        after < before * 0.5,
        "{codec:?}: sizes did not settle lower ({after:.0} B vs {before:.0} B)"
    );
}

#[test]
fn h264_bitrate_change_within_two_frames() {
    bitrate_change(VideoCodec::H264, true);
}

#[test]
fn hevc_bitrate_change_within_two_frames() {
    bitrate_change(VideoCodec::Hevc, false);
}

#[test]
fn av1_bitrate_change_within_two_frames() {
    bitrate_change(VideoCodec::Av1, false);
}

/// HDR10 mastering display (BT.2020 primaries, D65, 1000 / 0.005 cd/m²) and MaxCLL 1000 / MaxFALL 400.
const HDR10: HdrMetadata = HdrMetadata {
    primaries: [(35_400, 14_600), (8_500, 39_850), (6_550, 2_300)],
    white_point: (15_635, 16_450),
    max_luminance: 10_000_000,
    min_luminance: 50,
    max_cll: 1000,
    max_fall: 400,
};

fn assert_hdr_close(got: &HdrMetadata, want: &HdrMetadata) {
    let close = |a: u32, b: u32| a.abs_diff(b) <= 1;
    let ok = got
        .primaries
        .iter()
        .zip(&want.primaries)
        .all(|(g, w)| close(g.0.into(), w.0.into()) && close(g.1.into(), w.1.into()))
        && close(got.white_point.0.into(), want.white_point.0.into())
        && close(got.white_point.1.into(), want.white_point.1.into())
        && close(got.max_luminance, want.max_luminance)
        && close(got.min_luminance, want.min_luminance)
        && got.max_cll == want.max_cll
        && got.max_fall == want.max_fall;
    assert!(ok, "HDR metadata decoded as {got:?}, encoded as {want:?}");
}

#[test]
fn hevc_main10_hdr_reports_bt2020_pq_and_mastering_metadata() {
    let mut chain = Chain::open(&config(
        VideoCodec::Hevc,
        ChromaFormat::Yuv420TenBit,
        ColorSpace::Bt2020Pq,
        Some(HDR10),
    ));
    for n in 0..6 {
        let picture = chain.step(false).picture;
        assert_eq!(
            picture.bit_depth, 10,
            "frame {n}: {}",
            picture.pixel_format_name
        );
        assert!(
            picture.pixel_format_name.starts_with("yuv420p10"),
            "frame {n}: {}",
            picture.pixel_format_name
        );
        assert_eq!(picture.chroma, ChromaSubsampling::Yuv420);
        assert_eq!(picture.color_primaries, "bt2020", "frame {n}");
        assert_eq!(picture.transfer, "smpte2084", "frame {n}");
        assert_eq!(picture.matrix, "bt2020nc", "frame {n}");
        assert!(!picture.full_range, "frame {n}");
        let hdr = picture
            .hdr
            .unwrap_or_else(|| panic!("frame {n}: no HDR metadata"));
        assert_hdr_close(&hdr, &HDR10);
        if n == 0 {
            eprintln!(
                "HEVC Main10 HDR: {} {} {} {}, {hdr:?}",
                picture.pixel_format_name,
                picture.color_primaries,
                picture.transfer,
                picture.matrix
            );
        }
    }
}

/// 30 frames of HEVC in a 4:4:4 `chroma`: every decoded picture is full-chroma `pixel_format` at
/// `bit_depth` bits, BT.709, and the average PSNR is at least 35 dB.
fn hevc_444_round_trip(chroma: ChromaFormat, pixel_format: &str, bit_depth: u8) {
    let mut chain = Chain::open(&config(VideoCodec::Hevc, chroma, ColorSpace::Bt709, None));
    let mut psnrs = Vec::new();
    for n in 0..30 {
        let step = chain.step(true);
        assert_eq!(
            step.picture.chroma,
            ChromaSubsampling::Yuv444,
            "frame {n}: {}",
            step.picture.pixel_format_name
        );
        assert_eq!(step.picture.pixel_format_name, pixel_format, "frame {n}");
        assert_eq!(step.picture.bit_depth, bit_depth);
        assert_eq!(step.picture.color_primaries, "bt709", "frame {n}");
        psnrs.push(step.psnr.expect("psnr"));
    }
    let average = psnrs.iter().sum::<f64>() / psnrs.len() as f64;
    eprintln!("HEVC {chroma:?}: PSNR avg {average:.2} dB {psnrs:.1?}");
    assert!(
        average >= 35.0,
        "HEVC {chroma:?}: average PSNR {average:.2} dB"
    );
}

#[test]
fn hevc_444_reports_a_444_pixel_format() {
    hevc_444_round_trip(ChromaFormat::Yuv444, "yuv444p", 8);
}

#[test]
fn hevc_444_ten_bit_reports_a_ten_bit_444_pixel_format() {
    hevc_444_round_trip(ChromaFormat::Yuv444TenBit, "yuv444p10le", 10);
}
