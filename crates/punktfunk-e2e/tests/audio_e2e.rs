//! Audio both ways, end to end: a private PipeWire + WirePlumber started by the host's own
//! `audio-session`, the real host with a session's virtual sink and virtual microphone, the real
//! probe. A tone played into the host's sink (`pw-play`) must reach the probe decoded; the probe's
//! microphone tone must be recordable (`pw-record`) from the host's virtual source; 5.1 and 7.1
//! channels must stay apart; 10 % loss must be repaired by the redundancy.

use punktfunk_e2e::audio_session;

use audio_session::{AudioSession, field, lines_of, wait_line, write_tones};
use punktfunk_client::probe::audio_analysis::{analyse, channel};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(tag: &str) -> TempDir {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let dir = std::env::temp_dir().join(format!("pf-audio-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

struct Host {
    child: Child,
    lines: Receiver<String>,
    port: u16,
    data_port: u16,
    fingerprint: String,
    config: TempDir,
}

impl Host {
    fn start(audio: &AudioSession) -> Host {
        let config = temp_dir("host");
        let mut child = audio
            .command(punktfunk_e2e::host_bin())
            .args([
                "punktfunk1-host",
                "--bind",
                "127.0.0.1",
                "--port",
                "0",
                "--open",
            ])
            .args(["--no-mdns", "--api-port", "0"])
            .env("PUNKTFUNK_CONFIG_DIR", &config.0)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start punktfunk-host");
        let lines = lines_of(&mut child);
        let ready = wait_line(&lines, "READY", Duration::from_secs(20));
        let quic: std::net::SocketAddr = field(&ready, "quic").parse().unwrap();
        Host {
            child,
            lines,
            port: quic.port(),
            data_port: field(&ready, "data_port").parse().unwrap(),
            fingerprint: field(&ready, "fingerprint"),
            config,
        }
    }

    /// The probe, streaming a small raw video beside the audio for `seconds`.
    fn probe(&self, seconds: u32, extra: &[&str]) -> Child {
        self.probe_via(&format!("127.0.0.1:{}", self.port), seconds, extra)
    }

    /// The probe, connecting to `addr` (a relay in front of the host).
    fn probe_via(&self, addr: &str, seconds: u32, extra: &[&str]) -> Child {
        let host_bin = PathBuf::from(punktfunk_e2e::host_bin());
        let probe = host_bin.with_file_name("punktfunk-probe");
        assert!(
            probe.exists(),
            "{} missing: build the workspace",
            probe.display()
        );
        Command::new(probe)
            .args(["connect", addr])
            .args(["--fingerprint", &self.fingerprint, "--json"])
            .args(["--mode", "320x240@30", "--bitrate-kbps", "2000"])
            .args(["--duration", &format!("{seconds}s")])
            .args(extra)
            .env("PUNKTFUNK_CLIENT_DIR", self.config.0.join("client"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start punktfunk-probe")
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Samples of a 16-bit PCM or 32-bit float WAV as written by `pw-record` (which may not have
/// finished the size fields: the data chunk then runs to the end of the file).
fn read_wav(path: &Path) -> (usize, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let (mut channels, mut bits, mut pos) = (1usize, 16u16, 12usize);
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = pos + 8;
        if id == b"fmt " {
            channels = usize::from(u16::from_le_bytes([bytes[body + 2], bytes[body + 3]]));
            bits = u16::from_le_bytes([bytes[body + 14], bytes[body + 15]]);
        } else if id == b"data" {
            let end = if len == 0 || body + len > bytes.len() {
                bytes.len()
            } else {
                body + len
            };
            let data = &bytes[body..end];
            let samples = if bits == 32 {
                data.chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect()
            } else {
                data.chunks_exact(2)
                    .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
                    .collect()
            };
            return (channels, samples);
        }
        pos = body + len + (len & 1);
    }
    panic!("{}: no data chunk", path.display());
}

fn probe_report(child: Child) -> serde_json::Value {
    let output = child.wait_with_output().expect("probe");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "probe failed: {stdout}");
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("probe printed no JSON ({e}): {stdout}"))
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn interrupt(child: &mut Child) {
    // pw-record finishes its WAV on SIGINT.
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
    }
    let _ = child.wait();
}

#[test]
fn tone_reaches_the_probe_and_the_microphone_reaches_the_host() {
    let audio = AudioSession::start();
    let host = Host::start(&audio);
    let dir = temp_dir("files");
    let tone = dir.0.join("tone440.wav");
    write_tones(&tone, &[440.0, 440.0], 12.0);

    let probe = host.probe(6, &["--audio", "--mic-tone", "1000"]);
    let line = wait_line(&host.lines, "AUDIO", Duration::from_secs(20));
    let (sink, source) = (field(&line, "sink"), field(&line, "source"));
    assert!(
        sink.starts_with("punktfunk-sink-") && source.starts_with("punktfunk-mic-"),
        "{line}"
    );

    let play_started_us = now_us();
    let mut play = audio
        .command("pw-play")
        .args(["--target", &sink])
        .arg(&tone)
        .spawn()
        .expect("pw-play (pipewire-bin)");
    let mic_wav = dir.0.join("mic.wav");
    let mut record = audio
        .command("pw-record")
        .args([
            "--target",
            &source,
            "--rate",
            "48000",
            "--channels",
            "1",
            "--format",
            "f32",
        ])
        .arg(&mic_wav)
        .spawn()
        .expect("pw-record (pipewire-bin)");
    std::thread::sleep(Duration::from_secs(3));
    interrupt(&mut record);

    let report = probe_report(probe);
    let _ = play.kill();
    let _ = play.wait();
    let a = &report["audio"];
    eprintln!("probe audio report: {a:#}");
    assert_eq!(a["channels"], 2);
    // One packet per 5 ms for the whole session, silence before the tone included: the stream is
    // continuous whether or not anything plays.
    let packets = a["packets_received"].as_u64().unwrap();
    assert!(
        packets >= 1_100,
        "{packets} packets in 6 s: the stream has gaps"
    );
    for (c, t) in a["tones"].as_array().unwrap().iter().enumerate() {
        let peak = t["peak_hz"].as_f64().unwrap();
        let snr = t["snr_db"].as_f64().unwrap();
        assert!((peak - 440.0).abs() < 2.0, "channel {c}: peak {peak} Hz");
        assert!(snr >= 20.0, "channel {c}: SNR {snr} dB");
    }
    let playout = a["playout_latency_ms"]
        .as_array()
        .expect("audio latency measured");
    let network = a["network_latency_ms"]
        .as_array()
        .expect("audio latency measured");
    let first_sound = a["first_sound_arrival_unix_us"]
        .as_u64()
        .expect("first sound");
    eprintln!(
        "AUDIO LATENCY capture->received p50 {} ms p95 {} ms; capture->playout p50 {} ms p95 {} ms; \
         pw-play spawn -> first sound at the probe {:.1} ms",
        network[0],
        network[1],
        playout[0],
        playout[1],
        (first_sound as f64 - play_started_us as f64) / 1000.0
    );
    assert!(
        playout[0].as_f64().unwrap() < 100.0,
        "playout latency {playout:?}"
    );

    let (channels, samples) = read_wav(&mic_wav);
    let mono = channel(&samples, channels, 0);
    // Skip the first half second: the jitter buffer fills and the node starts.
    let mic = analyse(mono.get(24_000..).unwrap_or(&[]), 48_000);
    eprintln!(
        "microphone as recorded from {source}: {mic:?} over {} samples",
        mono.len()
    );
    assert!(
        (mic.peak_hz - 1000.0).abs() < 2.0,
        "microphone peak {mic:?}"
    );
    assert!(mic.snr_db >= 20.0, "microphone SNR {mic:?}");
}

/// Plays one tone per channel (200 Hz apart) into a `channels`-channel session sink and checks that
/// each arrives on its own channel at the probe.
fn surround(channels: &str, map: &str, freqs: &[f64]) {
    let audio = AudioSession::start();
    let host = Host::start(&audio);
    let dir = temp_dir("surround");
    let tone = dir.0.join("tones.wav");
    write_tones(&tone, freqs, 12.0);

    let probe = host.probe(5, &["--audio", channels]);
    let line = wait_line(&host.lines, "AUDIO", Duration::from_secs(20));
    let sink = field(&line, "sink");
    let mut play = audio
        .command("pw-play")
        .args([
            "--target",
            &sink,
            "--channels",
            channels,
            "--channel-map",
            map,
        ])
        .arg(&tone)
        .spawn()
        .expect("pw-play");
    let report = probe_report(probe);
    let _ = play.kill();
    let _ = play.wait();
    let a = &report["audio"];
    eprintln!("probe audio report: {a:#}");
    assert_eq!(a["channels"].as_u64(), Some(freqs.len() as u64));
    let tones = a["tones"].as_array().unwrap();
    assert_eq!(tones.len(), freqs.len());
    let separation = a["separation_db"].as_array().unwrap();
    for (c, (t, want)) in tones.iter().zip(freqs).enumerate() {
        let peak = t["peak_hz"].as_f64().unwrap();
        // The tones are 200 Hz apart: a peak this close is this channel's own tone (a starved audio
        // graph, with its gaps, smears the peak by a few Hz; the separation is the real check).
        assert!(
            (peak - want).abs() < 10.0,
            "channel {c}: peak {peak} Hz, want {want}"
        );
        let apart = separation[c]
            .as_f64()
            .unwrap_or_else(|| panic!("channel {c}: no separation measured: {a:#}"));
        assert!(
            apart >= 20.0,
            "channel {c}: only {apart} dB above the other channels' tones"
        );
    }
}

#[test]
fn surround_51_channels_arrive_on_their_own_channels() {
    surround(
        "6",
        "FL,FR,FC,LFE,RL,RR",
        &[300.0, 500.0, 700.0, 900.0, 1100.0, 1300.0],
    );
}

#[test]
fn surround_71_channels_arrive_on_their_own_channels() {
    surround(
        "8",
        "FL,FR,FC,LFE,RL,RR,SL,SR",
        &[300.0, 500.0, 700.0, 900.0, 1100.0, 1300.0, 1500.0, 1700.0],
    );
}

/// 10 % random loss on the data plane in both directions (the userspace relay on 127.0.0.2 in front
/// of both host ports): the copy of the previous packet in every datagram rebuilds nearly every lost
/// packet, and the tone still arrives clean — both ways.
#[test]
fn ten_percent_loss_is_repaired_by_the_previous_packet_copy() {
    use punktfunk_client::probe::impair::LossModel;
    use punktfunk_client::probe::netem::{Impairment, Relay};
    let audio = AudioSession::start();
    let host = Host::start(&audio);
    let relay_ip: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let _control = Relay::start(
        (relay_ip, host.port),
        ("127.0.0.1", host.port),
        Impairment::default(),
        Impairment::default(),
    )
    .expect("control relay");
    let lossy = Impairment {
        loss: LossModel::Iid { p: 0.10 },
        seed: 9,
        ..Impairment::default()
    };
    let data = Relay::start(
        (relay_ip, host.data_port),
        ("127.0.0.1", host.data_port),
        lossy,
        lossy,
    )
    .expect("data relay");
    let dir = temp_dir("loss");
    let tone = dir.0.join("tone440.wav");
    write_tones(&tone, &[440.0, 440.0], 12.0);

    let probe = host.probe_via(
        &format!("{relay_ip}:{}", host.port),
        6,
        &["--audio", "--mic-tone", "1000"],
    );
    let line = wait_line(&host.lines, "AUDIO", Duration::from_secs(20));
    let (sink, source) = (field(&line, "sink"), field(&line, "source"));
    let mut play = audio
        .command("pw-play")
        .args(["--target", &sink])
        .arg(&tone)
        .spawn()
        .expect("pw-play");
    let mic_wav = dir.0.join("mic.wav");
    let mut record = audio
        .command("pw-record")
        .args([
            "--target",
            &source,
            "--rate",
            "48000",
            "--channels",
            "1",
            "--format",
            "f32",
        ])
        .arg(&mic_wav)
        .spawn()
        .expect("pw-record");
    std::thread::sleep(Duration::from_secs(3));
    interrupt(&mut record);
    let report = probe_report(probe);
    let _ = play.kill();
    let _ = play.wait();
    let a = &report["audio"];
    eprintln!("probe audio report: {a:#}\nrelay: {:?}", data.stats());
    let received = a["packets_received"].as_f64().unwrap();
    let rebuilt = a["recovered_from_redundancy"].as_f64().unwrap();
    let concealed = a["concealed"].as_f64().unwrap();
    assert!(
        rebuilt > 0.05 * received,
        "only {rebuilt} of ~10 % lost packets rebuilt: {a:#}"
    );
    assert!(
        concealed < 0.03 * received,
        "{concealed} packets concealed: {a:#}"
    );
    for (c, t) in a["tones"].as_array().unwrap().iter().enumerate() {
        let peak = t["peak_hz"].as_f64().unwrap();
        let snr = t["snr_db"].as_f64().unwrap();
        assert!((peak - 440.0).abs() < 2.0, "channel {c}: peak {peak} Hz");
        assert!(snr >= 20.0, "channel {c}: SNR {snr} dB under 10 % loss");
    }
    let (channels, samples) = read_wav(&mic_wav);
    let mono = channel(&samples, channels, 0);
    let mic = analyse(mono.get(24_000..).unwrap_or(&[]), 48_000);
    eprintln!("microphone under 10 % loss: {mic:?}");
    assert!(
        (mic.peak_hz - 1000.0).abs() < 2.0,
        "microphone peak {mic:?}"
    );
    assert!(mic.snr_db >= 20.0, "microphone SNR {mic:?}");
}

/// A bare box: `serve` with nothing of a desktop session in its environment (no WAYLAND_DISPLAY,
/// SWAYSOCK, XDG_CURRENT_DESKTOP, no PipeWire at XDG_RUNTIME_DIR) starts its own PipeWire beside
/// its own sway — no `audio-session` — and a tone played into the session's sink reaches the probe.
#[test]
fn bare_box_serve_owns_its_pipewire_and_the_tone_reaches_the_probe() {
    let config = temp_dir("bare");
    let runtime = temp_dir("bare-runtime");
    let mut child = Command::new(punktfunk_e2e::host_bin())
        .args(["serve", "--bind", "127.0.0.1", "--port", "0", "--open"])
        .args(["--no-mdns", "--api-port", "0"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &config.0)
        .env("XDG_RUNTIME_DIR", &runtime.0)
        .env("PUNKTFUNK_CONFIG_DIR", &config.0)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start punktfunk-host serve");
    let lines = lines_of(&mut child);
    let pipewire = wait_line(&lines, "PIPEWIRE private", Duration::from_secs(30));
    let runtime_dir = field(&pipewire, "runtime_dir");
    assert!(
        runtime_dir.starts_with(&*runtime.0.to_string_lossy()),
        "{runtime_dir}"
    );
    let ready = wait_line(&lines, "READY", Duration::from_secs(30));
    let host = Host {
        port: field(&ready, "quic")
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .port(),
        data_port: field(&ready, "data_port").parse().unwrap(),
        fingerprint: field(&ready, "fingerprint"),
        child,
        lines,
        config,
    };
    let dir = temp_dir("bare-files");
    let tone = dir.0.join("tone440.wav");
    write_tones(&tone, &[440.0, 440.0], 12.0);
    // The host streams its display (H.264), not raw test frames.
    let probe = host.probe(5, &["--audio", "--codec", "h264"]);
    let line = wait_line(&host.lines, "AUDIO", Duration::from_secs(20));
    let sink = field(&line, "sink");
    // An app on the host's display would find this PipeWire through the display's environment.
    let mut play = Command::new("pw-play")
        .env("PIPEWIRE_RUNTIME_DIR", &runtime_dir)
        .args(["--target", &sink])
        .arg(&tone)
        .spawn()
        .expect("pw-play (pipewire-bin)");
    let report = probe_report(probe);
    let _ = play.kill();
    let _ = play.wait();
    let a = &report["audio"];
    eprintln!("probe audio report (bare box): {a:#}");
    for (c, t) in a["tones"].as_array().unwrap().iter().enumerate() {
        let peak = t["peak_hz"].as_f64().unwrap();
        let snr = t["snr_db"].as_f64().unwrap();
        assert!((peak - 440.0).abs() < 2.0, "channel {c}: peak {peak} Hz");
        assert!(snr >= 20.0, "channel {c}: SNR {snr} dB");
    }
    // SIGTERM: the host stops its PipeWire and removes its runtime directory.
    let mut host = host;
    if let Some(pid) = rustix::process::Pid::from_raw(host.child.id() as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let status = host.child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
    assert!(
        !Path::new(&runtime_dir).exists(),
        "the private PipeWire's runtime dir {runtime_dir} is left behind"
    );
}
