//! `punktfunk-probe`: connect to a host, verify and measure what it sends; and offline tools such as
//! the FEC loss sweep.

use anyhow::Result;
use clap::{Parser, Subcommand};
use punktfunk_client::client_dir::client_dir;
use punktfunk_client::identity::ClientIdentity;
use punktfunk_client::known_hosts::{KnownHosts, host_key};
use punktfunk_client::pair::{PairOptions, pair};
use punktfunk_client::probe::loss_sweep::{render_table, run_case, sweep_cases};
use punktfunk_client::session::{
    Mode, SessionOptions, parse_duration, run_session, split_host_port,
};
use punktfunk_client::tls::normalize_fingerprint;
use punktfunk_core::control::Codec;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "punktfunk-probe",
    version,
    about = "Test and measurement client for punktfunk hosts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Push realistic frame streams through the data-plane core under iid and bursty loss,
    /// with fixed and adaptive FEC, and report delivered frames, recovered shards and overhead.
    LossSweep {
        /// Print JSON (one object per case) instead of a table.
        #[arg(long)]
        json: bool,
        /// Simulated seconds of stream per case.
        #[arg(long, default_value_t = 20)]
        seconds: u32,
        /// Seed for loss and frame sizes (runs are deterministic per seed).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Pair with a punktfunk/1 host using the PIN armed on it (`punktfunk-host serve --arm-pin`, the
    /// web console or the management API) and pin the host's fingerprint in the known-hosts file.
    /// Exit status: 0 = paired, 3 = the host refused (wrong, expired or no PIN; rate limit),
    /// 2 = the host is not the one pinned / could not prove the PIN, 1 = other errors.
    Pair {
        /// HOST or HOST:PORT (default port 47800); IPv6 as `[ADDR]:PORT`.
        host: String,
        /// The 6-digit PIN the host shows.
        #[arg(long)]
        pin: String,
        /// Name the host lists this client under.
        #[arg(long, default_value = "probe")]
        name: String,
        /// Expected host fingerprint (hex); defaults to the one already pinned for this host, if any.
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// Connect to a punktfunk/1 host, stream its virtual test source, byte-check every frame and
    /// report frame rate, loss, recovery, latency and bitrate. The host must be pinned (by `pair`),
    /// given with `--fingerprint`, or trusted on first use with `--tofu`. Exit status: 0 = ran the
    /// full duration, 1 = error or the session ended early, 2 = host certificate fingerprint mismatch
    /// or unknown host.
    Connect {
        /// HOST or HOST:PORT (default port 47800); IPv6 as `[ADDR]:PORT`.
        host: String,
        /// Display mode to ask for, WIDTHxHEIGHT@HZ.
        #[arg(long, default_value = "1280x720@60")]
        mode: Mode,
        /// How long to stream (e.g. 10s, 500ms, 2m).
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        duration: Duration,
        /// Bitrate to ask for, kbit/s.
        #[arg(long, default_value_t = 20_000)]
        bitrate_kbps: u32,
        /// Expected SHA-256 fingerprint of the host certificate (hex; colons and case ignored).
        /// Without it the fingerprint pinned for this host in the known-hosts file is used.
        #[arg(long)]
        fingerprint: Option<String>,
        /// Host not pinned yet: trust the certificate it presents and pin it (for hosts running
        /// `--open`; prefer `pair`).
        #[arg(long)]
        tofu: bool,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
        /// Largest UDP payload the path carries.
        #[arg(long, default_value_t = 1452)]
        max_datagram: u16,
        /// Client name sent to the host.
        #[arg(long, default_value = "probe")]
        name: String,
        /// Stream to ask for: `raw` test frames (every byte checked) or an encoded test pattern
        /// (`h264`, `hevc`, `av1`) that is decoded and whose stamp is read back.
        #[arg(long, default_value = "raw", value_parser = parse_codec)]
        codec: Codec,
        /// With an encoded codec: the host streams a real display, not the stamped test pattern —
        /// check picture sizes only and report the centre colour.
        #[arg(long)]
        no_stamps: bool,
        /// Colour the client asks for, comma-separated: `444` (4:4:4 chroma), `10bit`, `hdr`
        /// (default: 8-bit 4:2:0). The report says what the host chose and what the decoder saw.
        #[arg(long, default_value = "", value_parser = parse_color)]
        color: ColorCaps,
        /// Save the last decoded picture as a binary PPM (P6, RGB24).
        #[arg(long, value_name = "FILE")]
        dump_frame: Option<std::path::PathBuf>,
        /// Write every frame's fate as JSON lines (`at_ms` since `stream_start_unix_us`,
        /// `first_index`, `count`, `status`, `latency_us`, `bytes`): for stall and recovery analysis.
        #[arg(long, value_name = "FILE")]
        timeline: Option<std::path::PathBuf>,
        /// Receive the host's audio (2, 6 or 8 channels), decode it through the jitter buffer and
        /// report each channel's tone (peak, SNR) and the audio latency.
        #[arg(long, num_args = 0..=1, default_missing_value = "2", value_parser = parse_channels)]
        audio: Option<u8>,
        /// Send a sine of this frequency (Hz) as the microphone.
        #[arg(long, value_name = "HZ")]
        mic_tone: Option<f64>,
        /// Input to send once the stream runs, e.g. `wait 1s; move 320,180; click; type hello`
        /// (steps: wait, move X,Y, rel DX,DY, click/down/up [BUTTON], key/keydown/keyup CODE,
        /// scroll N, hscroll N, type TEXT).
        #[arg(long, default_value = "")]
        input: punktfunk_client::input::InputScript,
        /// Fetch the host's game library (every page) and put it in the report.
        #[arg(long)]
        library: bool,
        /// Launch this library title (an id from `--library`, e.g. `desktop:tux`) on the session's
        /// display once the stream runs; the report says what the host answered.
        #[arg(long, value_name = "TITLE_ID")]
        launch: Option<String>,
        /// Download this library title's cover art once the stream runs (the report says its
        /// type and size).
        #[arg(long, value_name = "TITLE_ID")]
        art: Option<String>,
        /// Where to save the art from `--art` (the store's PNG or JPEG, as the host sent it).
        #[arg(long, value_name = "FILE", requires = "art")]
        art_out: Option<std::path::PathBuf>,
    },
    /// Forget a host's pinned fingerprint (after it was reinstalled, or to pair again). Exit status:
    /// 0 = forgotten, 3 = it was not pinned, 1 = the known-hosts file could not be read or written.
    Forget {
        /// HOST or HOST:PORT (default port 47800), as it was paired or connected.
        host: String,
    },
    /// Look for punktfunk hosts on the local network (mDNS) and list what they announce.
    Discover {
        /// How long to listen for answers (e.g. 3s).
        #[arg(long, default_value = "3s", value_parser = parse_duration)]
        timeout: Duration,
        /// Print one JSON object per host instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Userspace UDP impairment relay (loss, delay, jitter, reordering, duplication, rate limit).
    Netem(punktfunk_client::probe::netem::NetemArgs),
}

fn parse_channels(s: &str) -> Result<u8, String> {
    match s.parse::<u8>() {
        Ok(n @ (2 | 6 | 8)) => Ok(n),
        _ => Err(format!("{s:?}: audio channels are 2, 6 (5.1) or 8 (7.1)")),
    }
}

/// Hello colour capability bits.
#[derive(Clone, Copy, Debug, Default)]
struct ColorCaps(u32);

fn parse_color(s: &str) -> Result<ColorCaps, String> {
    use punktfunk_core::control::caps;
    let mut bits = 0;
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        bits |= match part.to_ascii_lowercase().as_str() {
            "444" | "yuv444" => caps::YUV444,
            "10bit" | "10" => caps::TEN_BIT,
            "hdr" => caps::HDR,
            other => return Err(format!("unknown colour {other:?} (444, 10bit, hdr)")),
        };
    }
    Ok(ColorCaps(bits))
}

/// A binary PPM of an RGB24 picture.
fn ppm(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    let mut out = format!("P6\n{width} {height}\n255\n").into_bytes();
    out.extend_from_slice(rgb);
    out
}

fn parse_codec(s: &str) -> Result<Codec, String> {
    match s.to_ascii_lowercase().as_str() {
        "raw" => Ok(Codec::RawTest),
        "h264" | "avc" => Ok(Codec::H264),
        "hevc" | "h265" => Ok(Codec::Hevc),
        "av1" => Ok(Codec::Av1),
        other => Err(format!("unknown codec {other:?} (raw, h264, hevc, av1)")),
    }
}

/// The known-hosts key of a `HOST[:PORT]` argument.
fn known_host_key(host: &str) -> Result<String> {
    let (name, port) = split_host_port(host).map_err(anyhow::Error::msg)?;
    Ok(host_key(&name, port))
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Forget { host } => {
            let dir = client_dir()?;
            let mut known = KnownHosts::load(&dir)?;
            let key = known_host_key(&host)?;
            if !known.forget(&key)? {
                eprintln!("{key} is not pinned in {}", dir.display());
                std::process::exit(3);
            }
            println!("forgot {key}");
        }
        Command::LossSweep {
            json,
            seconds,
            seed,
        } => {
            let results = sweep_cases(seconds, seed)
                .into_iter()
                .map(run_case)
                .collect::<Result<Vec<_>>>()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                print!("{}", render_table(&results));
            }
        }
        Command::Connect {
            host,
            mode,
            duration,
            bitrate_kbps,
            fingerprint,
            tofu,
            json,
            max_datagram,
            name,
            codec,
            no_stamps,
            audio,
            mic_tone,
            input,
            library,
            launch,
            art,
            art_out,
            color,
            dump_frame,
            timeline,
        } => {
            let dir = client_dir()?;
            let identity = Arc::new(ClientIdentity::load_or_create(&dir)?);
            let mut known = KnownHosts::load(&dir)?;
            let key = known_host_key(&host)?;
            let pinned = known.get(&key).map(str::to_owned);
            let fingerprint = match (fingerprint, pinned) {
                (Some(given), _) => Some(given),
                (None, Some(pinned)) => Some(pinned),
                (None, None) if tofu => None,
                (None, None) => {
                    eprintln!(
                        "error: {key} is not a known host: pair with it first (`punktfunk-probe pair {host} --pin NNNNNN`), or pass --fingerprint, or --tofu for a host running --open"
                    );
                    std::process::exit(2);
                }
            };
            let trusting_on_first_use = fingerprint.is_none();
            let seen = Arc::new(std::sync::Mutex::new(None::<String>));
            let seen_in_callback = seen.clone();
            let opts = SessionOptions {
                bitrate_kbps,
                fingerprint,
                max_datagram,
                name,
                codec,
                expect_stamps: !no_stamps,
                audio_channels: audio.unwrap_or(0),
                mic_tone_hz: mic_tone,
                input,
                on_host_fingerprint: Some(Arc::new(move |fp: &str| {
                    if trusting_on_first_use {
                        eprintln!("host fingerprint: {fp}");
                    }
                    if let Ok(mut s) = seen_in_callback.lock() {
                        *s = Some(fp.to_string());
                    }
                })),
                identity: Some(identity),
                list_library: library,
                launch,
                fetch_art: art,
                color_caps: color.0,
                keep_last_picture: dump_frame.is_some(),
                ..SessionOptions::new(host, mode, duration)
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let result = runtime.block_on(run_session(opts));
            drop(runtime);
            match result {
                Ok(report) => {
                    // The host served us: on first use, this is the certificate to expect next time.
                    let fp = seen.lock().ok().and_then(|s| s.clone());
                    if let (true, Some(fp)) = (trusting_on_first_use, fp) {
                        known.pin(&key, &fp)?;
                        eprintln!("pinned {key} -> {fp}");
                    }
                    if let (Some(path), Some((w, h, rgb))) = (&dump_frame, &report.last_picture) {
                        punktfunk_common::atomic_file::write_atomic(
                            path,
                            &ppm(*w, *h, rgb),
                            false,
                        )?;
                        eprintln!("saved the last decoded picture to {}", path.display());
                    }
                    if let (Some(path), Some(art)) = (&art_out, &report.art)
                        && art.complete()
                    {
                        punktfunk_common::atomic_file::write_atomic(path, &art.bytes, false)?;
                        eprintln!("saved the cover art to {}", path.display());
                    }
                    if let Some(path) = &timeline {
                        let mut lines = String::new();
                        for rec in &report.timeline {
                            lines.push_str(&serde_json::to_string(rec)?);
                            lines.push('\n');
                        }
                        punktfunk_common::atomic_file::write_atomic(path, lines.as_bytes(), false)?;
                    }
                    if json {
                        println!("{}", serde_json::to_string(&report)?);
                    } else {
                        print!("{}", report.text());
                    }
                    if report.ended_early.is_some() {
                        std::process::exit(1);
                    }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(e.exit_code());
                }
            }
        }
        Command::Pair {
            host,
            pin,
            name,
            fingerprint,
        } => {
            let dir = client_dir()?;
            let identity = Arc::new(ClientIdentity::load_or_create(&dir)?);
            let mut known = KnownHosts::load(&dir)?;
            let key = known_host_key(&host)?;
            let expected = match fingerprint {
                Some(f) => Some(normalize_fingerprint(&f)?),
                None => known.get(&key).map(str::to_owned),
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let result = runtime.block_on(pair(PairOptions {
                host,
                pin,
                name,
                expected_fingerprint: expected,
                identity,
            }));
            drop(runtime);
            match result {
                Ok(paired) => {
                    known.pin(&paired.host_key, &paired.host_fingerprint)?;
                    println!(
                        "PAIRED {} fingerprint={}",
                        paired.host_key, paired.host_fingerprint
                    );
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(e.exit_code());
                }
            }
        }
        Command::Netem(args) => punktfunk_client::probe::netem::run(args)?,
        Command::Discover { timeout, json } => {
            let hosts = punktfunk_client::discover::discover(timeout)?;
            for host in &hosts {
                if json {
                    println!("{}", serde_json::to_string(host)?);
                } else {
                    println!(
                        "{}  {}  port {}  fingerprint {}",
                        host.name,
                        host.addresses.join(","),
                        host.port,
                        host.fingerprint().unwrap_or("-")
                    );
                }
            }
            if hosts.is_empty() {
                eprintln!("no punktfunk hosts answered within {timeout:?}");
                std::process::exit(1);
            }
        }
    }
    Ok(())
}
