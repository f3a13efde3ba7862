//! GameStream audio and text input end to end with the real Moonlight client library
//! (moonlight-python, i.e. moonlight-common-c) through tests/gamestream/moonlight_session_io.py:
//!
//! - a 440 Hz tone played with `pw-play` into the session's own PipeWire sink (in the private
//!   PipeWire + WirePlumber of `punktfunk-host audio-session`) is decoded by the client with its
//!   peak at 440 Hz and an SNR of at least 20 dB, and the time to its first sound is measured;
//! - in 5.1 and 7.1 every speaker's own tone comes out of the same speaker at the client;
//! - text and Enter sent by the client arrive in a real Wayland window on the session's own display.

use punktfunk_e2e::audio_session;
use punktfunk_e2e::common;
use punktfunk_e2e::gamestream_harness as harness;
use punktfunk_e2e::input_window as window;

use audio_session::{AudioSession, field, lines_of, write_tones};
use common::TempDir;
use harness::{manifest_dir, moonlight_python, paired_host_wrapped, parse_result};
use serde_json::Value;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use window::{InputWindow, wait_for};

fn now_unix_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros()
}

/// moonlight_session_io.py in `mode`, streaming the Desktop of the paired host at `base`; talks
/// over its stdin and stdout.
struct SessionIo {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl SessionIo {
    fn start(
        python: &Path,
        base: u16,
        client_dir: &Path,
        api: (u16, &Path),
        extra: &[&str],
    ) -> Self {
        let mut child = Command::new(python)
            .arg(manifest_dir().join("tests/gamestream/moonlight_session_io.py"))
            .args(extra)
            .args(["--port", &base.to_string()])
            .arg("--client-dir")
            .arg(client_dir)
            .args(["--api-port", &api.0.to_string()])
            .arg("--api-token")
            .arg(api.1)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start moonlight_session_io.py");
        let lines = lines_of(&mut child);
        let stdin = child.stdin.take().expect("piped stdin");
        SessionIo {
            child,
            stdin,
            lines,
        }
    }

    /// The `SESSION` line: the session's id and its display (as the management API lists it).
    fn session(&self) -> Value {
        let line = self.wait("SESSION ", Duration::from_secs(40));
        let session: Value = serde_json::from_str(&line).expect("SESSION is JSON");
        assert!(session.get("error").is_none(), "{session}");
        session
    }

    /// The next line starting with `prefix`; a `RESULT` instead means the script gave up.
    fn wait(&self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                    assert!(!line.starts_with("RESULT "), "client ended early: {line}");
                }
                Err(e) => panic!("no {prefix:?} line from the client within {timeout:?}: {e}"),
            }
        }
    }

    fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to moonlight_session_io.py");
        self.stdin
            .flush()
            .expect("flush to moonlight_session_io.py");
    }

    fn result(mut self) -> Value {
        let line = self.wait("RESULT ", Duration::from_secs(30));
        let status = self.child.wait().expect("wait for moonlight_session_io.py");
        assert!(status.success(), "moonlight_session_io.py: {status}");
        let result = parse_result(&format!("RESULT {line}"));
        assert!(result.get("error").is_none(), "client failed: {result}");
        result
    }
}

/// Starts a paired host with a private PipeWire, streams the Desktop to moonlight-python asking for
/// `channels` channels, plays one sine per channel (`freqs`, on the PipeWire positions
/// `positions`, if given) into the session's sink once decoded audio flows, and returns the
/// script's analysis.
fn play_tones_to_moonlight(channels: u8, freqs: &[f64], positions: Option<&str>) -> Value {
    let python = moonlight_python();
    let audio = AudioSession::start();
    let config = TempDir::new("gs-audio-config");
    let clients = TempDir::new("gs-audio-clients");
    let client_dir = clients.path().join("moonlight");
    // The host's audio senders find the private PipeWire through its runtime dir, as pw-play does.
    let wrapper = [
        "env".to_owned(),
        format!("PIPEWIRE_RUNTIME_DIR={}", audio.runtime_dir),
    ];
    let (host, base) = paired_host_wrapped(config.path(), &client_dir, &python, &wrapper);
    let tone = config.path().join("tones.wav");
    write_tones(&tone, freqs, 8.0);

    let token = config.path().join("admin-token");
    let channels = channels.to_string();
    let tones: Vec<String> = freqs.iter().map(|f| f.to_string()).collect();
    let tones = tones.join(",");
    let mut io = SessionIo::start(
        &python,
        base,
        &client_dir,
        (host.api_port, &token),
        &[
            "audio",
            "--seconds",
            "3",
            "--channels",
            &channels,
            "--tones",
            &tones,
        ],
    );
    let session = io.session();
    let id = session["id"].as_str().expect("session id");
    let sink = format!("punktfunk-gs-{id}");
    io.wait("LISTENING", Duration::from_secs(15));
    let play_started = now_unix_us();
    let mut play = Command::new("pw-play");
    play.env("PIPEWIRE_RUNTIME_DIR", &audio.runtime_dir)
        .args(["--target", &sink]);
    if let Some(positions) = positions {
        play.args(["--channel-map", positions]);
    }
    let mut play = play.arg(&tone).spawn().expect("pw-play (pipewire-bin)");
    io.say(&format!("PLAY {play_started}"));
    let result = io.result();
    let _ = play.kill();
    let _ = play.wait();
    host.stop();
    result
}

#[test]
fn moonlight_receives_a_440_hz_tone() {
    let result = play_tones_to_moonlight(2, &[440.0, 440.0], None);
    eprintln!("moonlight audio: {result:#}");

    assert_eq!(result["channels"], 2, "{result}");
    // 5 ms packets: seconds of a live stream are hundreds of chunks.
    assert!(result["chunks"].as_u64().unwrap_or(0) >= 400, "{result}");
    assert!(
        result["analysed_s"].as_f64().unwrap_or(0.0) >= 1.5,
        "too little of the tone arrived: {result}"
    );
    let tones = result["tones"].as_array().expect("tones");
    let block_snr = result["block_snr_db_median"]
        .as_array()
        .expect("block SNRs");
    assert_eq!(tones.len(), 2, "{result}");
    for (c, (t, snr)) in tones.iter().zip(block_snr).enumerate() {
        let peak = t["peak_hz"].as_f64().expect("peak");
        assert!((peak - 440.0).abs() <= 5.0, "channel {c}: peak {peak} Hz");
        // The median over 100 ms blocks, as audio_analysis does for punktfunk/1: a dropout (the
        // host sink's FIFO running dry while the audio graph is starved of CPU on this shared
        // two-core machine) is broadband noise in the whole window's spectrum, but not what the
        // codec path delivers; the whole-window SNR and the dropouts are printed above.
        let snr = snr.as_f64().expect("snr");
        assert!(snr >= 20.0, "channel {c}: SNR {snr} dB");
    }
    let latency = result["first_sound_after_play_ms"]
        .as_f64()
        .expect("latency measured");
    println!(
        "AUDIO LATENCY gamestream: pw-play spawn -> first decoded sound at moonlight-common-c {latency:.1} ms"
    );
    // ≈ 30 ms here (pw-play's start and link included; punktfunk/1 measures 34–61 ms the same
    // way): a standing buffer anywhere on the path would show up as hundreds.
    assert!(latency > 0.0 && latency < 200.0, "{result}");
}

/// 5.1 and 7.1 as Moonlight asks for them: a different tone on every speaker of the session's sink
/// comes out of the same speaker of moonlight-common-c's decoder (Moonlight's channel order FL FR
/// FC LFE BL BR SL SR is the sink's FL FR FC LFE RL RR SL SR).
#[test]
fn moonlight_receives_surround_with_every_speaker_in_place() {
    let freqs = [300.0, 450.0, 600.0, 750.0, 900.0, 1050.0, 1200.0, 1350.0];
    for (channels, positions) in [
        (6u8, "FL,FR,FC,LFE,RL,RR"),
        (8u8, "FL,FR,FC,LFE,RL,RR,SL,SR"),
    ] {
        let freqs = &freqs[..usize::from(channels)];
        let result = play_tones_to_moonlight(channels, freqs, Some(positions));
        eprintln!("moonlight {channels}-channel audio: {result:#}");
        assert_eq!(result["channels"], channels, "{result}");
        let tones = result["tones"].as_array().expect("tones");
        let isolation = result["isolation_db"].as_array().expect("isolation");
        assert_eq!(isolation.len(), usize::from(channels), "{result}");
        for (c, ((tone, want), isolation)) in tones.iter().zip(freqs).zip(isolation).enumerate() {
            let peak = tone["peak_hz"].as_f64().expect("peak");
            assert!(
                (peak - want).abs() <= 5.0,
                "{channels} channels: speaker {c} carries {peak} Hz, not its {want} Hz: {result}"
            );
            // No other speaker's tone is mixed in (a wrong stream split sums or swaps speakers:
            // ≈ 0 dB). Opus's joint coding of a coupled pair leaks some of each speaker into its
            // partner at these bitrates (measured: 19–33 dB for 5.1, down to 11.5 dB for 7.1's rear
            // pair; mono streams ≈ 50 dB), and the SNR says nothing here: the codec's broadband noise
            // sits 9–37 dB below six or eight full-scale tones.
            let isolation = isolation.as_f64().unwrap_or(f64::INFINITY);
            assert!(
                isolation >= 6.0,
                "{channels} channels: speaker {c} isolation {isolation} dB: {result}"
            );
        }
    }
}

/// The Wayland socket of a display as the management API lists it (its `env`).
fn wayland_socket(display: &Value) -> PathBuf {
    let env = &display["env"];
    let name = env["WAYLAND_DISPLAY"]
        .as_str()
        .unwrap_or_else(|| panic!("no WAYLAND_DISPLAY in {display}"));
    if name.starts_with('/') {
        return PathBuf::from(name);
    }
    let runtime = env["XDG_RUNTIME_DIR"]
        .as_str()
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from))
        .expect("XDG_RUNTIME_DIR for a relative WAYLAND_DISPLAY");
    runtime.join(name)
}

#[test]
fn moonlight_text_reaches_a_window_on_its_display() {
    let python = moonlight_python();
    let config = TempDir::new("gs-text-config");
    let clients = TempDir::new("gs-text-clients");
    let client_dir = clients.path().join("moonlight");
    let (host, base) = paired_host_wrapped(config.path(), &client_dir, &python, &[]);
    let token = config.path().join("admin-token");
    // A mode of its own: the test window finds the session's output by its size.
    let (width, height) = (800, 600);
    let text = "Moonlight sagt grüß dich ☺ 42!";
    let mut io = SessionIo::start(
        &python,
        base,
        &client_dir,
        (host.api_port, &token),
        &[
            "text",
            "--width",
            &width.to_string(),
            "--height",
            &height.to_string(),
            "--text",
            text,
        ],
    );
    let session = io.session();
    let socket = wayland_socket(&session["display"]);
    let window = InputWindow::open(&socket, width, height)
        .unwrap_or_else(|e| panic!("no window on the session's display {session}: {e}"));
    io.say("TYPE");
    io.wait("TYPED", Duration::from_secs(10));
    // xkb turns Enter into "\r".
    let want = format!("{text}\r");
    let seen = wait_for(&window, Duration::from_secs(10), |s| s.text == want);
    io.say("DONE");
    let result = io.result();
    eprintln!("window saw {seen:?}; client {result}");
    assert!(
        result["send_statuses"]
            .as_array()
            .expect("statuses")
            .iter()
            .all(|s| s == 0),
        "moonlight-common-c refused an event: {result}"
    );
    assert_eq!(seen.text, want);
    assert!(seen.keyboard_focus, "{seen:?}");
    // The focusing click: Moonlight's absolute position (in its own reference size) landed in the
    // middle of the session's display, as the left button (BTN_LEFT).
    assert_eq!(seen.clicks.len(), 1, "{seen:?}");
    let (x, y, button) = seen.clicks[0];
    assert!(
        (x - f64::from(width / 2)).abs() <= 1.0 && (y - f64::from(height / 2)).abs() <= 1.0,
        "click at {x},{y}"
    );
    assert_eq!(button, 0x110, "{seen:?}");
    drop(window);
    host.stop();
}

/// Moonlight's controller packets, as moonlight-common-c sends them, reach the session's pads: an
/// Xbox controller's arrival, five states and its unplugging. This machine's kernel has no uinput,
/// so here the pad cannot be created and its arrival and states are refused (the session's end line
/// counts them); where /dev/uinput exists they are injected. Creating pads from these very events,
/// reading them back as a game does and rumble coming back is `input_e2e`'s VM test.
#[test]
fn moonlight_controllers_reach_the_session_pads() {
    let python = moonlight_python();
    let config = TempDir::new("gs-pad-config");
    let clients = TempDir::new("gs-pad-clients");
    let client_dir = clients.path().join("moonlight");
    let (host, base) = paired_host_wrapped(config.path(), &client_dir, &python, &[]);
    let token = config.path().join("admin-token");
    let io = SessionIo::start(
        &python,
        base,
        &client_dir,
        (host.api_port, &token),
        &["pad"],
    );
    io.session();
    let result = io.result();
    eprintln!("moonlight pad: {result}");
    for status in result["state_statuses"].as_array().expect("statuses") {
        assert_eq!(status, 0, "moonlight-common-c sent every state: {result}");
    }
    // The host advertises controller touchpads, so the library sends touchpad contacts.
    assert_eq!(result["touch_status"], 0, "{result}");
    let ended = host
        .process
        .wait_line("GAMESTREAM-SESSION ended ", Duration::from_secs(20))
        .expect("the session ended");
    let count = |key: &str| -> u64 { field(&ended, key).parse().expect("a count") };
    // The arrival and at least the five states (moonlight-common-c adds an all-released state of
    // its own after an arrival), then the removal.
    if Path::new("/dev/uinput").exists() {
        assert!(count("input") >= 7, "{ended}");
    } else {
        let refused = count("refused");
        assert!(refused >= 6, "arrival and states reached the pads: {ended}");
        assert!(count("input") >= 1, "the removal was applied: {ended}");
    }
    host.stop();
}
