//! `encode-selftest`: which video encoders FFmpeg offers, which of punktfunk's backends really open on
//! this machine at 1920×1080@60 20 Mbit/s, and how fast each runs over 120 frames of a moving pattern
//! (conversion included — the same work the frame path does, one access unit per frame; libsvtav1, which
//! cannot run live on FFmpeg 5.1, is measured pipelined and marked so).
// Needs `unsafe` for FFmpeg FFI; every block says why it is sound (`// SAFETY:`).
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::time::Instant;

use ffmpeg_next::ffi;

use super::Encoder;
use super::backend::Backend;
use super::ffmpeg_backend::{FfmpegEncoder, measure_throughput};
use crate::{ChromaFormat, ColorSpace, EncoderConfig, MediaError, PixelFormat, RawFrame};

const WIDTH: u32 = 1920;
const HEIGHT: u32 = 1080;
const FRAMES: u32 = 120;

/// One encoder in the self-test.
#[derive(Debug, Clone, PartialEq)]
pub struct SelftestRow {
    /// FFmpeg encoder name.
    pub name: String,
    /// Codec name (`h264`, `hevc`, `av1`, …).
    pub codec: String,
    /// Whether punktfunk has a backend for it (only those are opened).
    pub backend: bool,
    pub opened: bool,
    /// Why it did not open or failed while encoding; for encoders without a backend, "no punktfunk backend".
    pub error: Option<String>,
    /// Frames per second over the run, when it opened and encoded.
    pub fps: Option<f64>,
}

/// Runs the self-test. Takes a few seconds (the software encoders encode 120 1080p frames each).
pub fn encode_selftest() -> Vec<SelftestRow> {
    if let Err(e) = crate::init() {
        return vec![SelftestRow {
            name: "ffmpeg".into(),
            codec: String::new(),
            backend: false,
            opened: false,
            error: Some(e.to_string()),
            fps: None,
        }];
    }
    let offered = ffmpeg_video_encoders();
    let pattern = ScrollingPattern::new(WIDTH, HEIGHT, FRAMES);
    let mut rows = Vec::new();
    for backend in Backend::ALL {
        let codec = offered
            .iter()
            .find(|(name, _)| name == backend.ffmpeg_name())
            .map_or_else(
                || format!("{:?}", backend.codec()).to_ascii_lowercase(),
                |(_, codec)| codec.clone(),
            );
        let mut row = SelftestRow {
            name: backend.ffmpeg_name().into(),
            codec,
            backend: true,
            opened: false,
            error: None,
            fps: None,
        };
        match run_one(backend, &pattern) {
            Ok(fps) => {
                row.opened = true;
                row.fps = Some(fps);
                row.error = backend
                    .live_limitation()
                    .map(|why| format!("pipelined fps; not used live: {why}"));
            }
            Err((opened, e)) => {
                row.opened = opened;
                row.error = Some(e.to_string());
            }
        }
        tracing::info!(encoder = %row.name, opened = row.opened, fps = row.fps, error = row.error.as_deref(), "encode self-test");
        rows.push(row);
    }
    for (name, codec) in offered {
        if Backend::from_name(&name).is_none_or(|b| b.ffmpeg_name() != name) {
            rows.push(SelftestRow {
                name,
                codec,
                backend: false,
                opened: false,
                error: Some("no punktfunk backend".into()),
                fps: None,
            });
        }
    }
    rows
}

/// The encoder [`open_encoder`](super::open_encoder) picks for `config`, run live on `frames`
/// frames of moving content at `config`'s size: its name and the frames per second it kept up
/// (colour conversion included). How the host decides whether a slow encoder can serve a mode.
pub fn live_fps(config: &EncoderConfig, frames: u32) -> Result<(String, f64), MediaError> {
    crate::init()?;
    let mut encoder = super::open_encoder(config, None)?;
    let pattern = ScrollingPattern::new(config.width, config.height, frames);
    let started = Instant::now();
    for i in 0..frames {
        encoder.encode(&pattern.frame(i, u64::from(i) * 16_667))?;
    }
    let fps = f64::from(frames) / started.elapsed().as_secs_f64().max(1e-9);
    Ok((encoder.name().to_string(), fps))
}

fn run_one(backend: Backend, pattern: &ScrollingPattern) -> Result<f64, (bool, MediaError)> {
    let config = EncoderConfig {
        codec: backend.codec(),
        width: WIDTH,
        height: HEIGHT,
        fps_num: 60,
        fps_den: 1,
        bitrate_kbps: 20_000,
        chroma: ChromaFormat::Yuv420,
        color: ColorSpace::Bt709,
        full_range: false,
        hdr: None,
        intra_refresh: false,
    };
    if backend.live_limitation().is_some() {
        return measure_throughput(backend, &config, FRAMES, |i| pattern.frame(i, 0))
            .map_err(|e| (false, e));
    }
    let mut encoder = FfmpegEncoder::open(backend, &config).map_err(|e| (false, e))?;
    let started = Instant::now();
    for i in 0..FRAMES {
        encoder
            .encode(&pattern.frame(i, u64::from(i) * 16_667))
            .map_err(|e| (true, e))?;
    }
    Ok(f64::from(FRAMES) / started.elapsed().as_secs_f64().max(1e-9))
}

/// `(encoder name, codec name)` of every video encoder this FFmpeg offers, sorted by name.
pub fn ffmpeg_video_encoders() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut opaque: *mut c_void = std::ptr::null_mut();
    loop {
        // SAFETY: av_codec_iterate walks FFmpeg's static codec table with our opaque cursor; the returned
        // pointers are to static AVCodec entries (never freed), and their names are static C strings.
        unsafe {
            let codec = ffi::av_codec_iterate(&mut opaque);
            if codec.is_null() {
                break;
            }
            if ffi::av_codec_is_encoder(codec) == 0
                || (*codec).type_ != ffi::AVMediaType::AVMEDIA_TYPE_VIDEO
            {
                continue;
            }
            let name = std::ffi::CStr::from_ptr((*codec).name)
                .to_string_lossy()
                .into_owned();
            let codec_name = std::ffi::CStr::from_ptr(ffi::avcodec_get_name((*codec).id))
                .to_string_lossy()
                .into_owned();
            out.push((name, codec_name));
        }
    }
    out.sort();
    out
}

/// The self-test as a text table: punktfunk's backends first, then everything else FFmpeg offers.
pub fn render_selftest_table(rows: &[SelftestRow]) -> String {
    let mut out = String::new();
    let header = ["encoder", "codec", "opens", "fps (1080p60)", "note"];
    let lines: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.codec.clone(),
                if !r.backend {
                    "-".into()
                } else if r.opened {
                    "yes".into()
                } else {
                    "no".into()
                },
                r.fps.map_or_else(|| "-".into(), |f| format!("{f:.1}")),
                r.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    widths[4] = widths[4].min(100);
    let push_row = |out: &mut String, cells: &[&str]| {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let cell: String = if i == 4 && cell.chars().count() > 100 {
                cell.chars().take(97).chain("...".chars()).collect()
            } else {
                (*cell).to_string()
            };
            if i + 1 == cells.len() {
                line.push_str(&cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push_row(&mut out, &header);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    push_row(
        &mut out,
        &rule.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let mut sorted: Vec<&[String; 5]> = lines.iter().collect();
    sorted.sort_by_key(|l| l[2] == "-");
    for line in sorted {
        push_row(
            &mut out,
            &line.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }
    out
}

/// A moving BGRx test picture: a large textured canvas (gradients, bars, block noise) viewed through a
/// window that slides diagonally, so each frame is a borrowed, strided view with no per-frame rendering.
pub(crate) struct ScrollingPattern {
    canvas: Vec<u8>,
    canvas_stride: usize,
    width: u32,
    height: u32,
    /// Pixels the window moves per frame (both axes).
    step: u32,
    span: u32,
}

impl ScrollingPattern {
    pub(crate) fn new(width: u32, height: u32, frames: u32) -> Self {
        let step = 2;
        let span = frames.max(1) * step;
        let (cw, ch) = (width + span, height + span);
        let canvas_stride = cw as usize * 4;
        let mut canvas = vec![0u8; canvas_stride * ch as usize];
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for y in 0..ch {
            for x in 0..cw {
                let o = y as usize * canvas_stride + x as usize * 4;
                let (r, g, b) = if (x / 64 + y / 96) % 5 == 0 {
                    // Block noise: 8×8 blocks of random colour.
                    let seed = (u64::from(x / 8) * 0x1f1f_1f1f) ^ (u64::from(y / 8) * 0x7f4a_7c15);
                    let v = XorShift(seed | 1).next();
                    (v as u8, (v >> 8) as u8, (v >> 16) as u8)
                } else if (x / 160) % 3 == 0 {
                    // Saturated bars with fine grain.
                    let grain = (rng.next() & 15) as u8;
                    (
                        200u8.saturating_add(grain),
                        (x % 256) as u8,
                        40u8.saturating_add(grain),
                    )
                } else {
                    (
                        (x * 255 / cw) as u8,
                        (y * 255 / ch) as u8,
                        ((x + y) % 256) as u8,
                    )
                };
                canvas[o..o + 4].copy_from_slice(&[b, g, r, 0xff]);
            }
        }
        Self {
            canvas,
            canvas_stride,
            width,
            height,
            step,
            span,
        }
    }

    pub(crate) fn frame(&self, index: u32, pts_us: u64) -> RawFrame<'_> {
        let offset = (index * self.step) % self.span.max(1);
        let start = offset as usize * self.canvas_stride + offset as usize * 4;
        RawFrame {
            format: PixelFormat::Bgrx,
            width: self.width,
            height: self.height,
            stride: self.canvas_stride,
            data: &self.canvas[start..],
            pts_us,
        }
    }
}

/// Fills `out` with fresh random BGRx noise (`width`×`height`, tightly packed): the worst case for an
/// encoder, so its output size follows the rate control exactly.
#[cfg(test)]
pub(crate) fn noise_frame(out: &mut Vec<u8>, width: u32, height: u32, seed: u64) {
    out.resize(width as usize * height as usize * 4, 0);
    let mut rng = XorShift(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
    for chunk in out.chunks_exact_mut(8) {
        chunk.copy_from_slice(&rng.next().to_le_bytes());
    }
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real self-test; prints the table. Slow in debug builds.
    #[test]
    // A few seconds: it opens every backend and encodes 120 1080p frames with each that opens.
    fn full_selftest() {
        let rows = encode_selftest();
        println!("{}", render_selftest_table(&rows));
        assert!(
            rows.iter()
                .any(|r| r.name == "libx264" && r.opened && r.fps.is_some_and(|f| f > 0.0))
        );
        assert!(
            rows.iter()
                .any(|r| r.name == "h264_nvenc" && !r.opened && r.error.is_some())
        );
    }

    #[test]
    fn lists_ffmpeg_encoders() {
        crate::init().expect("init");
        let encoders = ffmpeg_video_encoders();
        assert!(
            encoders.iter().any(|(n, c)| n == "libx264" && c == "h264"),
            "{encoders:?}"
        );
        assert!(encoders.iter().any(|(n, _)| n == "libsvtav1"));
    }

    #[test]
    fn pattern_moves_and_table_renders() {
        let p = ScrollingPattern::new(64, 32, 10);
        let (a, b) = (p.frame(0, 0), p.frame(1, 0));
        assert_ne!(a.data[..256], b.data[..256]);
        assert!(b.data.len() >= b.stride * 31 + 256);
        let rows = vec![
            SelftestRow {
                name: "libx264".into(),
                codec: "h264".into(),
                backend: true,
                opened: true,
                error: None,
                fps: Some(312.46),
            },
            SelftestRow {
                name: "h264_nvenc".into(),
                codec: "h264".into(),
                backend: true,
                opened: false,
                error: Some("Operation not permitted".into()),
                fps: None,
            },
            SelftestRow {
                name: "mpeg4".into(),
                codec: "mpeg4".into(),
                backend: false,
                opened: false,
                error: Some("no punktfunk backend".into()),
                fps: None,
            },
        ];
        let table = render_selftest_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("encoder"));
        assert!(lines[2].contains("libx264") && lines[2].contains("312.5"));
        assert!(lines[3].contains("no") && lines[3].contains("Operation not permitted"));
        assert!(lines[4].contains("mpeg4"));
    }
}
