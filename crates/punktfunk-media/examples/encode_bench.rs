//! x264 encode benchmark on a raw BGRx file (driven by `scripts/bench-encode.sh`).
//!
//! Two modes:
//!
//! - `encode_bench --write-raw FILE [--frames N] [--width W] [--height H]` renders `N` frames of the moving
//!   test pattern ([`TestPattern`]) as packed BGRx into `FILE` — the input both punktfunk and the `ffmpeg`
//!   CLI encode.
//! - `encode_bench --raw FILE [--frames N] [--width W] [--height H] [--fps F] [--kbps K] [--out FILE]`
//!   reads `FILE` once (so it sits in the page cache), then encodes it with [`open_libx264`] exactly as
//!   the live path opens it (4:2:0, BT.709, limited range, one access unit per frame) and reports the
//!   per-frame latency of [`Encoder::encode`](punktfunk_media::encode::Encoder::encode) — colour
//!   conversion included — and the throughput of the whole read + encode loop (encoder open included,
//!   like `ffmpeg -benchmark`'s `rtime`). `--out` also writes the encoded stream (copied outside the
//!   timed `encode()` calls), e.g. to compare x264's settings SEI with the `ffmpeg` CLI's.
//!
//! The last line of the encode mode is machine-readable:
//! `RESULT frames=… p50_ms=… p99_ms=… mean_ms=… max_ms=… fps=… loop_s=… kbps=… keyframes=… convert_p50_ms=…`.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use punktfunk_media::convert::{Converter, YuvLayout};
use punktfunk_media::encode::open_libx264;
use punktfunk_media::pattern::TestPattern;
use punktfunk_media::{ChromaFormat, ColorSpace, EncoderConfig, PixelFormat, RawFrame, VideoCodec};

struct Args {
    write_raw: Option<String>,
    raw: Option<String>,
    frames: u32,
    width: u32,
    height: u32,
    fps: u32,
    kbps: u32,
    /// Where to write the encoded Annex-B stream (to compare x264's settings SEI with the CLI's).
    out: Option<String>,
}

const USAGE: &str = "usage: encode_bench (--write-raw FILE | --raw FILE) [--frames N] [--width W] [--height H] [--fps F] [--kbps K] [--out FILE.h264]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        write_raw: None,
        raw: None,
        frames: 300,
        width: 1920,
        height: 1080,
        fps: 60,
        kbps: 20_000,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = |v: &str| {
            v.parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag}: expected a positive integer, got {v:?}"))
        };
        match flag.as_str() {
            "--write-raw" => args.write_raw = Some(value),
            "--raw" => args.raw = Some(value),
            "--frames" => args.frames = number(&value)?,
            "--width" => args.width = number(&value)?,
            "--height" => args.height = number(&value)?,
            "--fps" => args.fps = number(&value)?,
            "--kbps" => args.kbps = number(&value)?,
            "--out" => args.out = Some(value),
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    if args.write_raw.is_some() == args.raw.is_some() {
        return Err(format!(
            "give exactly one of --write-raw and --raw\n{USAGE}"
        ));
    }
    Ok(args)
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| match (&args.write_raw, &args.raw) {
        (Some(path), _) => write_raw(&args, path),
        (_, Some(path)) => encode(&args, path),
        _ => unreachable!("checked in parse_args"),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("encode_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn frame_bytes(args: &Args) -> usize {
    args.width as usize * args.height as usize * 4
}

fn write_raw(args: &Args, path: &str) -> Result<(), String> {
    let pattern = TestPattern::new(args.width, args.height);
    let file = File::create(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = BufWriter::with_capacity(1 << 22, file);
    let mut buf = Vec::new();
    let frame_us = 1_000_000 / u64::from(args.fps);
    for i in 0..u64::from(args.frames) {
        let stride = pattern.render(i, i * frame_us, PixelFormat::Bgrx, &mut buf);
        debug_assert_eq!(stride, args.width as usize * 4);
        out.write_all(&buf).map_err(|e| format!("{path}: {e}"))?;
    }
    out.flush().map_err(|e| format!("{path}: {e}"))?;
    eprintln!(
        "wrote {} frames of {}x{} BGRx ({} MB) to {path}",
        args.frames,
        args.width,
        args.height,
        frame_bytes(args) as u64 * u64::from(args.frames) / 1_000_000
    );
    Ok(())
}

/// Reads the whole file once so the timed passes read it from the page cache, as the `ffmpeg` CLI does.
fn warm_page_cache(path: &str) -> Result<u64, String> {
    let mut file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut buf = vec![0u8; 1 << 22];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| format!("{path}: {e}"))?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}

fn raw_frame<'a>(args: &Args, data: &'a [u8], i: u32) -> RawFrame<'a> {
    RawFrame {
        format: PixelFormat::Bgrx,
        width: args.width,
        height: args.height,
        stride: args.width as usize * 4,
        data,
        pts_us: u64::from(i) * 1_000_000 / u64::from(args.fps),
    }
}

/// The `q`-quantile (nearest rank) of sorted durations, in ms.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

fn encode(args: &Args, path: &str) -> Result<(), String> {
    punktfunk_media::init().map_err(|e| e.to_string())?;
    let frame_len = frame_bytes(args);
    let size = warm_page_cache(path)?;
    let available = u32::try_from(size / frame_len as u64).unwrap_or(u32::MAX);
    if available < args.frames {
        return Err(format!(
            "{path} holds {available} frames of {}x{}, {} requested",
            args.width, args.height, args.frames
        ));
    }
    let config = EncoderConfig {
        codec: VideoCodec::H264,
        width: args.width,
        height: args.height,
        fps_num: args.fps,
        fps_den: 1,
        bitrate_kbps: args.kbps,
        chroma: ChromaFormat::Yuv420,
        color: ColorSpace::Bt709,
        full_range: false,
        hdr: None,
        intra_refresh: false,
    };

    let mut file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut buf = vec![0u8; frame_len];
    let mut latencies = Vec::with_capacity(args.frames as usize);
    let mut bytes = 0u64;
    let mut keyframes = 0u32;
    let mut stream = args.out.as_ref().map(|_| Vec::new());
    // Timed like `ffmpeg -benchmark`'s rtime: encoder open, reading each frame, encoding it.
    let started = Instant::now();
    let mut encoder = open_libx264(&config).map_err(|e| e.to_string())?;
    for i in 0..args.frames {
        file.read_exact(&mut buf)
            .map_err(|e| format!("{path}: {e}"))?;
        let frame = raw_frame(args, &buf, i);
        let t = Instant::now();
        let au = encoder.encode(&frame).map_err(|e| e.to_string())?;
        latencies.push(t.elapsed());
        bytes += au.data.len() as u64;
        if let Some(stream) = stream.as_mut() {
            stream.extend_from_slice(&au.data);
        }
        keyframes += u32::from(au.keyframe);
    }
    let loop_time = started.elapsed();
    drop(encoder);
    if let (Some(out), Some(stream)) = (&args.out, &stream) {
        std::fs::write(out, stream).map_err(|e| format!("{out}: {e}"))?;
    }

    // Colour conversion alone (same converter settings as the encoder's), for the breakdown.
    let convert_frames = args.frames.min(120);
    let mut converter = Converter::new(
        PixelFormat::Bgrx,
        YuvLayout::Yuv420p,
        args.width,
        args.height,
        ColorSpace::Bt709,
        false,
        0,
    )
    .map_err(|e| e.to_string())?;
    let mut picture = converter.new_output();
    let mut file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut convert_times = Vec::with_capacity(convert_frames as usize);
    for i in 0..convert_frames {
        file.read_exact(&mut buf)
            .map_err(|e| format!("{path}: {e}"))?;
        let t = Instant::now();
        converter
            .convert(&raw_frame(args, &buf, i), &mut picture)
            .map_err(|e| e.to_string())?;
        convert_times.push(t.elapsed());
    }
    convert_times.sort_unstable();

    let total: Duration = latencies.iter().sum();
    let mean_ms = total.as_secs_f64() * 1e3 / f64::from(args.frames);
    latencies.sort_unstable();
    let fps = f64::from(args.frames) / loop_time.as_secs_f64();
    let kbps = bytes as f64 * 8.0 / (f64::from(args.frames) / f64::from(args.fps)) / 1000.0;
    println!(
        "punktfunk libx264 {}x{}@{} {} kbit/s: {} frames in {:.3} s = {fps:.1} fps; encode() p50 {:.2} ms, p99 {:.2} ms, mean {mean_ms:.2} ms, max {:.2} ms; output {kbps:.0} kbit/s, {keyframes} keyframe(s); swscale alone p50 {:.2} ms",
        args.width,
        args.height,
        args.fps,
        args.kbps,
        args.frames,
        loop_time.as_secs_f64(),
        quantile_ms(&latencies, 0.50),
        quantile_ms(&latencies, 0.99),
        quantile_ms(&latencies, 1.0),
        quantile_ms(&convert_times, 0.50),
    );
    println!(
        "RESULT frames={} p50_ms={:.3} p99_ms={:.3} mean_ms={mean_ms:.3} max_ms={:.3} fps={fps:.2} loop_s={:.4} kbps={kbps:.0} keyframes={keyframes} convert_p50_ms={:.3}",
        args.frames,
        quantile_ms(&latencies, 0.50),
        quantile_ms(&latencies, 0.99),
        quantile_ms(&latencies, 1.0),
        loop_time.as_secs_f64(),
        quantile_ms(&convert_times, 0.50),
    );
    Ok(())
}
