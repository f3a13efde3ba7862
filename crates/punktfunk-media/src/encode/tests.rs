//! Behaviour of the software backends at 1280×720 (hardware backends cannot open on this machine; their
//! fallback is tested in `select`).

use super::bitstream::{self, OBU_SEQUENCE_HEADER, SEI_CONTENT_LIGHT_LEVEL, SEI_MASTERING_DISPLAY};
use super::selftest::{ScrollingPattern, noise_frame};
use super::{Backend, Encoder, FfmpegEncoder};
use crate::{
    AccessUnit, ChromaFormat, ColorSpace, EncoderConfig, HdrMetadata, MediaError, PixelFormat,
    RawFrame, VideoCodec,
};

fn config(
    codec: VideoCodec,
    chroma: ChromaFormat,
    width: u32,
    height: u32,
    kbps: u32,
) -> EncoderConfig {
    EncoderConfig {
        codec,
        width,
        height,
        fps_num: 60,
        fps_den: 1,
        bitrate_kbps: kbps,
        chroma,
        color: ColorSpace::Bt709,
        full_range: false,
        hdr: None,
        intra_refresh: false,
    }
}

fn hdr10() -> HdrMetadata {
    HdrMetadata {
        primaries: [(34000, 16000), (13250, 34500), (7500, 3000)],
        white_point: (15635, 16450),
        max_luminance: 10_000_000,
        min_luminance: 50,
        max_cll: 1000,
        max_fall: 400,
    }
}

/// Encodes `count` frames of the scrolling pattern, calling `before(i, encoder)` ahead of frame `i`.
fn run(
    encoder: &mut dyn Encoder,
    count: u32,
    mut before: impl FnMut(u32, &mut dyn Encoder),
) -> Vec<AccessUnit> {
    let c = encoder.config().clone();
    let pattern = ScrollingPattern::new(c.width, c.height, count);
    let mut aus = Vec::new();
    for i in 0..count {
        before(i, encoder);
        let pts_us = 1_000_000 + u64::from(i) * 16_667;
        let au = encoder.encode(&pattern.frame(i, pts_us)).expect("encode");
        assert_eq!(au.pts_us, pts_us, "frame {i}: pts carried through");
        assert!(!au.data.is_empty(), "frame {i}: empty access unit");
        aus.push(au);
    }
    aus
}

/// HEVC `general_profile_idc` from the first SPS of an access unit.
fn hevc_profile_idc(au: &[u8]) -> Option<u8> {
    bitstream::nal_spans(au).into_iter().find_map(|s| {
        let nal = &au[s.header..s.end];
        (bitstream::nal_type(VideoCodec::Hevc, nal) == Some(33))
            .then(|| bitstream::unescape(&nal[2..]).get(1).map(|b| b & 0x1f))?
    })
}

/// H.264 `profile_idc` from the first SPS of an access unit.
fn h264_profile_idc(au: &[u8]) -> Option<u8> {
    bitstream::nal_spans(au).into_iter().find_map(|s| {
        let nal = &au[s.header..s.end];
        (bitstream::nal_type(VideoCodec::H264, nal) == Some(7)).then(|| nal.get(1).copied())?
    })
}

/// Whether a keyframe access unit carries its parameter sets in-band.
fn has_parameter_sets(codec: VideoCodec, au: &[u8]) -> bool {
    match codec {
        VideoCodec::H264 => {
            let t = bitstream::nal_types(codec, au);
            t.contains(&7) && t.contains(&8) && t.contains(&5)
        }
        VideoCodec::Hevc => {
            let t = bitstream::nal_types(codec, au);
            [32, 33, 34].iter().all(|x| t.contains(x)) && t.iter().any(|x| (16..=21).contains(x))
        }
        VideoCodec::Av1 => bitstream::av1_obu_types(au).contains(&OBU_SEQUENCE_HEADER),
    }
}

/// One access unit per frame, keyframe first, none after (infinite GOP), and a requested keyframe on
/// exactly the next access unit, with parameter sets.
fn check_keyframes(backend: Backend, chroma: ChromaFormat) {
    let c = config(backend.codec(), chroma, 1280, 720, 6_000);
    let mut encoder = FfmpegEncoder::open(backend, &c).expect("open");
    assert_eq!(encoder.name(), backend.ffmpeg_name());
    let aus = run(&mut encoder, 24, |i, e| {
        if i == 12 {
            e.request_keyframe();
        }
    });
    assert_eq!(aus.len(), 24);
    let keyframes: Vec<usize> = aus
        .iter()
        .enumerate()
        .filter(|(_, a)| a.keyframe)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(keyframes, [0, 12], "{backend}: keyframes at");
    for &k in &keyframes {
        assert!(
            has_parameter_sets(backend.codec(), &aus[k].data),
            "{backend}: keyframe {k} lacks parameter sets"
        );
    }
    assert!(aus.iter().all(|a| a.encode_time.as_nanos() > 0));
}

#[test]
fn x264_keyframes() {
    check_keyframes(Backend::X264, ChromaFormat::Yuv420);
}

#[test]
fn x265_keyframes() {
    check_keyframes(Backend::X265, ChromaFormat::Yuv420);
}

#[test]
fn aom_av1_keyframes() {
    check_keyframes(Backend::AomAv1, ChromaFormat::Yuv420);
}

#[test]
fn svtav1_is_refused_live_but_measurable() {
    let c = config(VideoCodec::Av1, ChromaFormat::Yuv420, 640, 360, 2_000);
    let err = FfmpegEncoder::open(Backend::SvtAv1, &c)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("one frame late"), "{err}");
    let pattern = ScrollingPattern::new(640, 360, 10);
    let fps = super::measure_throughput(Backend::SvtAv1, &c, 10, |i| pattern.frame(i, 0))
        .expect("pipelined run");
    assert!(fps > 0.0);
}

/// Average access-unit size over `range`.
fn mean_size(aus: &[AccessUnit], range: std::ops::Range<usize>) -> f64 {
    let n = range.len() as f64;
    aus[range].iter().map(|a| a.data.len() as f64).sum::<f64>() / n
}

/// Encodes fresh noise (every frame is all new information, so sizes follow the rate control), dropping
/// the bitrate from `high` to `low` before frame `change`.
fn bitrate_step(
    backend: Backend,
    width: u32,
    height: u32,
    high: u32,
    low: u32,
    frames: u32,
    change: u32,
) -> Vec<AccessUnit> {
    let c = config(backend.codec(), ChromaFormat::Yuv420, width, height, high);
    let mut encoder = FfmpegEncoder::open(backend, &c).expect("open");
    let mut buf = Vec::new();
    let mut aus = Vec::new();
    for i in 0..frames {
        if i == change {
            encoder.set_bitrate(low).expect("set_bitrate");
            assert_eq!(encoder.config().bitrate_kbps, low);
        }
        noise_frame(&mut buf, width, height, u64::from(i) + 1);
        let frame = RawFrame {
            format: PixelFormat::Bgrx,
            width,
            height,
            stride: width as usize * 4,
            data: &buf,
            pts_us: u64::from(i),
        };
        aus.push(encoder.encode(&frame).expect("encode"));
    }
    aus
}

#[test]
fn x264_bitrate_change_is_live_and_fast() {
    let (change, frames) = (16, 28);
    let aus = bitrate_step(Backend::X264, 1280, 720, 10_000, 2_000, frames, change);
    let change = change as usize;
    let before = mean_size(&aus, 6..change);
    let after = mean_size(&aus, change + 1..frames as usize);
    let sizes: Vec<usize> = aus.iter().map(|a| a.data.len()).collect();
    eprintln!(
        "x264 10 -> 2 Mbit/s at frame {change}: sizes {sizes:?}; mean before {before:.0}, after {after:.0}"
    );
    // 10 Mbit/s at 60 fps is ~20.8 kB a frame, 2 Mbit/s ~4.2 kB.
    assert!(
        (15_000.0..28_000.0).contains(&before),
        "before: {before:.0} B/frame"
    );
    assert!(
        after < before * 0.4,
        "after {after:.0} vs before {before:.0} B/frame"
    );
    for (i, au) in aus.iter().enumerate().skip(change + 1) {
        assert!(
            (au.data.len() as f64) < before * 0.5,
            "frame {i} ({} B) still at the old rate",
            au.data.len()
        );
    }
    assert!(
        aus.iter().skip(1).all(|a| !a.keyframe),
        "a live bitrate change must not cost a keyframe"
    );
}

#[test]
fn x265_bitrate_change_reopens_with_keyframe() {
    let (change, frames) = (8, 16);
    let aus = bitrate_step(Backend::X265, 640, 360, 8_000, 1_000, frames, change);
    let keyframes: Vec<usize> = aus
        .iter()
        .enumerate()
        .filter(|(_, a)| a.keyframe)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(keyframes, [0, change as usize]);
    let before = mean_size(&aus, 2..change as usize);
    let after = mean_size(&aus, change as usize + 1..frames as usize);
    let sizes: Vec<usize> = aus.iter().map(|a| a.data.len()).collect();
    eprintln!(
        "x265 8 -> 1 Mbit/s at frame {change}: sizes {sizes:?}; mean before {before:.0}, after {after:.0}"
    );
    assert!(
        after < before * 0.4,
        "after {after:.0} vs before {before:.0} B/frame"
    );
}

#[test]
fn hevc_main10_hdr10_writes_sei_and_signals_10_bit() {
    let mut c = config(
        VideoCodec::Hevc,
        ChromaFormat::Yuv420TenBit,
        1280,
        720,
        8_000,
    );
    c.color = ColorSpace::Bt2020Pq;
    c.hdr = Some(hdr10());
    let mut encoder = FfmpegEncoder::open(Backend::X265, &c).expect("open main10");
    let aus = run(&mut encoder, 6, |_, _| {});
    let first = &aus[0].data;
    assert_eq!(
        hevc_profile_idc(first),
        Some(2),
        "general_profile_idc Main10"
    );
    let messages = bitstream::sei_messages(VideoCodec::Hevc, first);
    let mastering = messages
        .iter()
        .find(|(t, _)| *t == SEI_MASTERING_DISPLAY)
        .expect("mastering display SEI");
    // G(13250, 34500) first, luminance 10 000 000 / 50.
    assert_eq!(&mastering.1[..4], &[0x33, 0xc2, 0x86, 0xc4]);
    assert_eq!(&mastering.1[16..24], &[0x00, 0x98, 0x96, 0x80, 0, 0, 0, 50]);
    let cll = messages
        .iter()
        .find(|(t, _)| *t == SEI_CONTENT_LIGHT_LEVEL)
        .expect("content light level SEI");
    assert_eq!(cll.1, [0x03, 0xe8, 0x01, 0x90]);
    assert!(
        bitstream::nal_types(VideoCodec::Hevc, first).contains(&39),
        "prefix SEI NAL"
    );
}

#[test]
fn hevc_444_opens_as_rext() {
    let c = config(VideoCodec::Hevc, ChromaFormat::Yuv444, 1280, 720, 8_000);
    let mut encoder = FfmpegEncoder::open(Backend::X265, &c).expect("open 4:4:4");
    let aus = run(&mut encoder, 4, |_, _| {});
    assert_eq!(
        hevc_profile_idc(&aus[0].data),
        Some(4),
        "general_profile_idc RExt"
    );
}

#[test]
fn x264_high_profiles_and_intra_refresh() {
    let c = config(VideoCodec::H264, ChromaFormat::Yuv444, 640, 360, 4_000);
    let aus = run(
        &mut FfmpegEncoder::open(Backend::X264, &c).expect("4:4:4"),
        2,
        |_, _| {},
    );
    assert_eq!(
        h264_profile_idc(&aus[0].data),
        Some(244),
        "High 4:4:4 Predictive"
    );
    let c = config(
        VideoCodec::H264,
        ChromaFormat::Yuv420TenBit,
        640,
        360,
        4_000,
    );
    let aus = run(
        &mut FfmpegEncoder::open(Backend::X264, &c).expect("10-bit"),
        2,
        |_, _| {},
    );
    assert_eq!(h264_profile_idc(&aus[0].data), Some(110), "High 10");
    let mut c = config(VideoCodec::H264, ChromaFormat::Yuv420, 640, 360, 4_000);
    c.intra_refresh = true;
    let aus = run(
        &mut FfmpegEncoder::open(Backend::X264, &c).expect("intra refresh"),
        20,
        |_, _| {},
    );
    assert!(aus[0].keyframe);
}

#[test]
fn av1_ten_bit_hdr_carries_metadata_obus() {
    let mut c = config(VideoCodec::Av1, ChromaFormat::Yuv420TenBit, 640, 360, 4_000);
    c.color = ColorSpace::Bt2020Pq;
    c.hdr = Some(hdr10());
    let aus = run(
        &mut FfmpegEncoder::open(Backend::AomAv1, &c).expect("open"),
        3,
        |_, _| {},
    );
    assert!(aus[0].keyframe);
    let types = bitstream::av1_obu_types(&aus[0].data);
    assert!(types.contains(&OBU_SEQUENCE_HEADER), "{types:?}");
    let kinds: Vec<u64> = bitstream::av1_metadata(&aus[0].data)
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(
        kinds,
        [1, 2],
        "content light level and mastering display metadata"
    );
    assert!(
        bitstream::av1_metadata(&aus[1].data).is_empty(),
        "metadata rides on keyframes only"
    );
}

#[test]
fn av1_444_opens() {
    let c = config(VideoCodec::Av1, ChromaFormat::Yuv444, 640, 360, 4_000);
    let aus = run(
        &mut FfmpegEncoder::open(Backend::AomAv1, &c).expect("open 4:4:4"),
        3,
        |_, _| {},
    );
    assert!(aus[0].keyframe);
}

#[test]
fn wrong_frame_size_is_rejected() {
    let c = config(VideoCodec::H264, ChromaFormat::Yuv420, 640, 360, 2_000);
    let mut encoder = FfmpegEncoder::open(Backend::X264, &c).expect("open");
    let data = vec![0u8; 320 * 180 * 4];
    let frame = RawFrame {
        format: PixelFormat::Rgbx,
        width: 320,
        height: 180,
        stride: 1280,
        data: &data,
        pts_us: 0,
    };
    assert!(matches!(
        encoder.encode(&frame),
        Err(MediaError::FrameSize { .. })
    ));
    assert!(
        FfmpegEncoder::open(
            Backend::X264,
            &config(VideoCodec::Hevc, ChromaFormat::Yuv420, 640, 360, 2_000)
        )
        .is_err()
    );
    assert!(matches!(
        FfmpegEncoder::open(
            Backend::X264,
            &config(VideoCodec::H264, ChromaFormat::Yuv420, 641, 360, 2_000)
        ),
        Err(MediaError::EncoderOpen { .. })
    ));
}
