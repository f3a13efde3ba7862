//! punktfunk/1 end to end: the real `punktfunk-host` binary against the real probe (binary or library),
//! over loopback, through the userspace impairment relay where a test needs a bad network.

use punktfunk_client::identity::ClientIdentity;
use punktfunk_client::probe::impair::LossModel;
use punktfunk_client::probe::netem::{Impairment, Relay, RelayHandle};
use punktfunk_client::session::{Mode, SessionOptions, SessionReport, run_session};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use punktfunk_e2e::common;

use common::{HostCommand, HostProcess, workspace_bin};

/// A host running `punktfunk1-host` on loopback; stopped when dropped.
struct Host(HostProcess);

impl std::ops::Deref for Host {
    type Target = HostProcess;
    fn deref(&self) -> &HostProcess {
        &self.0
    }
}

impl Host {
    /// Hosts run `--open` here: these tests are about streaming, and pairing has its own
    /// (tests/pairing_e2e.rs). Clients still present their own certificate and pin the host's.
    /// No mDNS either (tests/mdns_netns.rs covers it): its responder opens sockets per network
    /// interface whenever it likes, which would blur the descriptor accounting below.
    fn start(tag: &str, extra: &[&str]) -> Host {
        let mut args = vec![
            "punktfunk1-host",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--open",
            "--no-mdns",
        ];
        args.extend_from_slice(extra);
        Host(HostProcess::start(tag, HostCommand::new(&args)))
    }

    /// The client dir the probe (binary or library) uses against this host.
    fn client_dir(&self) -> PathBuf {
        self.config_dir.join("client")
    }

    /// The probe binary with its client dir set.
    fn probe(&self) -> Command {
        let mut probe = Command::new(workspace_bin("punktfunk-probe"));
        probe.env("PUNKTFUNK_CLIENT_DIR", self.client_dir());
        probe
    }
}

fn probe_json(output: &std::process::Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "probe printed no JSON ({e}): stdout {stdout} stderr {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn complete_fraction(report: &serde_json::Value) -> f64 {
    let ok = report["frames_ok"].as_f64().unwrap();
    let lost = report["frames_lost"].as_f64().unwrap();
    let corrupt = report["integrity_failures"].as_f64().unwrap();
    ok / (ok + lost + corrupt).max(1.0)
}

fn session(host: &Host, addr: SocketAddr, seconds: u64) -> SessionOptions {
    let mode = Mode {
        width: 1280,
        height: 720,
        refresh_mhz: 60_000,
    };
    let mut opts = SessionOptions::new(addr.to_string(), mode, Duration::from_secs(seconds));
    opts.fingerprint = Some(host.fingerprint.clone());
    opts.identity = Some(Arc::new(
        ClientIdentity::load_or_create(&host.client_dir()).expect("client identity"),
    ));
    opts
}

fn run_in_process(opts: SessionOptions) -> SessionReport {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run_session(opts)).expect("session runs")
}

/// Relays on 127.0.0.2 in front of both host ports (same port numbers), so the probe's data plane —
/// which goes to the control address's IP and the Welcome's data port — passes the impaired relay.
fn relays(host: &Host, data: Impairment) -> (RelayHandle, RelayHandle, SocketAddr) {
    let quic = Relay::start(
        SocketAddr::new("127.0.0.2".parse().unwrap(), host.quic.port()),
        host.quic,
        Impairment::default(),
        Impairment::default(),
    )
    .expect("control relay");
    let data_relay = Relay::start(
        SocketAddr::new("127.0.0.2".parse().unwrap(), host.data_port),
        SocketAddr::new(host.quic.ip(), host.data_port),
        data,
        data,
    )
    .expect("data relay");
    let addr = quic.local_addr();
    (quic, data_relay, addr)
}

#[test]
fn loopback_10s_720p60_is_whole_and_byte_exact() {
    let host = Host::start("loopback", &[]);
    let out = host
        .probe()
        .args([
            "connect",
            &host.quic.to_string(),
            "--mode",
            "1280x720@60",
            "--duration",
            "10s",
            "--json",
        ])
        .args(["--fingerprint", &host.fingerprint])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "probe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = probe_json(&out);
    assert_eq!(r["integrity_failures"], 0, "{r}");
    assert!(complete_fraction(&r) >= 0.995, "{r}");
    assert!(r["frames_ok"].as_u64().unwrap() >= 590, "{r}");
    assert!(r["latency_ms"]["p99"].as_f64().unwrap() < 50.0, "{r}");
}

#[test]
fn five_percent_loss_with_delay_needs_no_keyframe() {
    let host = Host::start("netem5", &[]);
    let impairment = Impairment {
        loss: LossModel::Iid { p: 0.05 },
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(5),
        seed: 5,
        ..Impairment::default()
    };
    let (_q, data, addr) = relays(&host, impairment);
    let r = run_in_process(session(&host, addr, 10));
    let stats = data.stats();
    eprintln!("{}\nrelay: {stats:?}", r.text());
    let total = (r.frames_ok + r.frames_lost + r.integrity_failures).max(1) as f64;
    assert_eq!(r.integrity_failures, 0);
    assert!(r.frames_ok as f64 / total >= 0.99, "{}", r.text());
    assert_eq!(r.keyframe_requests, 0, "{}", r.text());
    assert!(
        r.frames_recovered > 0,
        "the relay dropped nothing? {}",
        r.text()
    );
}

#[test]
fn heavy_loss_then_clean_is_whole_within_500ms() {
    let host = Host::start("burst", &[]);
    let (_q, data, addr) = relays(&host, Impairment::default());
    let opts = session(&host, addr, 7);
    let switcher = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        let lossy = Impairment {
            loss: LossModel::Iid { p: 0.30 },
            seed: 30,
            ..Impairment::default()
        };
        data.set_impairment_both(lossy);
        std::thread::sleep(Duration::from_secs(2));
        let cleared = SystemTime::now();
        data.set_impairment_both(Impairment::default());
        (cleared, data)
    });
    let r = run_in_process(opts);
    let (cleared, _data) = switcher.join().unwrap();
    let cleared_us = cleared.duration_since(UNIX_EPOCH).unwrap().as_micros() as u64;
    let since_start = Duration::from_micros(cleared_us.saturating_sub(r.stream_start_unix_us));
    let whole_after = r
        .whole_again_after(since_start)
        .expect("the stream never became whole again");
    eprintln!(
        "{}\nwhole again {whole_after:?} after the loss stopped",
        r.text()
    );
    assert!(
        r.frames_lost > 0,
        "30 % loss should cost some frames: {}",
        r.text()
    );
    assert!(
        whole_after <= Duration::from_millis(500),
        "whole again only after {whole_after:?}"
    );
}

fn count_threads(pid: u32, prefix: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.starts_with(prefix))
                })
                .count()
        })
        .unwrap_or(0)
}

fn count_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn two_sessions_are_independent_and_a_killed_client_is_freed() {
    let host = Host::start("kill", &["--max-sessions", "4"]);
    // Let start-up finish (threads, sockets opened after the READY line) before counting.
    std::thread::sleep(Duration::from_millis(500));
    let fds_idle = count_fds(host.pid());
    let spawn = |seconds: &str| {
        host.probe()
            .args([
                "connect",
                &host.quic.to_string(),
                "--mode",
                "1280x720@60",
                "--duration",
                seconds,
                "--json",
            ])
            .args(["--fingerprint", &host.fingerprint])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut victim = spawn("60s");
    let survivor = spawn("12s");
    assert!(
        host.wait_sessions(2, Duration::from_secs(20)).is_some(),
        "two sessions never ran at once"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        count_threads(host.pid(), "pkf1-tx-"),
        2,
        "one sender thread per session"
    );

    victim.kill().unwrap();
    let _ = victim.wait();
    let freed = host
        .wait_sessions(1, Duration::from_secs(8))
        .expect("killed client's session was never freed");
    assert!(
        freed <= Duration::from_secs(6),
        "freed only after {freed:?}"
    );
    assert_eq!(count_threads(host.pid(), "pkf1-tx-"), 1);

    let out = survivor.wait_with_output().unwrap();
    assert!(out.status.success());
    let r = probe_json(&out);
    assert!(
        complete_fraction(&r) >= 0.995,
        "the other session suffered: {r}"
    );
    assert!(host.wait_sessions(0, Duration::from_secs(5)).is_some());
    assert_eq!(count_threads(host.pid(), "pkf1-tx-"), 0);
    // Sockets are shared, so a finished session leaves no descriptors behind.
    assert!(
        count_fds(host.pid()) <= fds_idle + 1,
        "fds {} vs {fds_idle} idle",
        count_fds(host.pid())
    );
}

#[test]
fn wrong_fingerprint_is_refused_with_a_clear_error() {
    let host = Host::start("pin", &[]);
    let wrong: String = host.fingerprint.chars().rev().collect();
    let out = host
        .probe()
        .args([
            "connect",
            &host.quic.to_string(),
            "--duration",
            "2s",
            "--fingerprint",
            &wrong,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("fingerprint mismatch") && stderr.contains(&host.fingerprint),
        "{stderr}"
    );
}

#[test]
fn garbage_at_the_data_port_does_not_hurt_a_live_session() {
    let host = Host::start("spray", &[]);
    let target = SocketAddr::new(host.quic.ip(), host.data_port);
    let sprayer = std::thread::spawn(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut buf = vec![0u8; 1500];
        let start = Instant::now();
        let mut sent = 0u32;
        while start.elapsed() < Duration::from_secs(5) && sent < 100_000 {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            let len = (x % 1500) as usize;
            // Every other datagram looks like a punktfunk/1 header so it gets past the magic check.
            if sent.is_multiple_of(2) && len >= 48 {
                buf[..3].copy_from_slice(b"PF\x01");
                buf[3..6].fill(0);
            }
            let _ = socket.send_to(&buf[..len], target);
            sent += 1;
            if sent.is_multiple_of(200) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        sent
    });
    let r = run_in_process(session(&host, host.quic, 6));
    let sent = sprayer.join().unwrap();
    eprintln!("{}\nsprayed {sent} datagrams", r.text());
    assert!(sent > 10_000);
    let total = (r.frames_ok + r.frames_lost + r.integrity_failures).max(1) as f64;
    assert_eq!(r.integrity_failures, 0);
    assert!(r.frames_ok as f64 / total >= 0.995, "{}", r.text());
}

/// The virtual source encoded with the media layer: the probe decodes every frame and reads the
/// frame number and capture time back out of the picture.
#[test]
fn h264_test_pattern_decodes_with_every_stamp_intact() {
    let host = Host::start("h264", &[]);
    let mut opts = session(&host, host.quic, 4);
    opts.mode = Mode {
        width: 640,
        height: 360,
        refresh_mhz: 30_000,
    };
    opts.bitrate_kbps = 4_000;
    opts.codec = punktfunk_core::control::Codec::H264;
    let r = run_in_process(opts);
    eprintln!("{}", r.text());
    assert_eq!(r.codec, "H264");
    assert_eq!(r.integrity_failures, 0, "{}", r.text());
    assert!(r.frames_ok >= 110, "{}", r.text());
    let latency = r.latency_ms.as_ref().expect("latency measured");
    assert!(latency.p50 < 100.0, "{}", r.text());
}

/// An HDR source end to end: to a client that displays HDR and decodes 10-bit, the test pattern is
/// graded into BT.2020 PQ. The Welcome says so and carries the mastering metadata; the HEVC Main10
/// bitstream signals the same colours and carries the metadata as SEI; the stamps still read back,
/// their white at PQ 0.75 (1000 cd/m²). (Software HEVC drops pictures on a loaded 2-core machine,
/// so the frame-number check of every frame is left to the H.264 tests.)
#[test]
fn hdr_source_streams_main10_pq_with_its_mastering_metadata() {
    use punktfunk_core::control::caps;
    let host = Host::start("hdr", &[]);
    let mut opts = session(&host, host.quic, 4);
    opts.mode = Mode {
        width: 640,
        height: 360,
        refresh_mhz: 30_000,
    };
    opts.bitrate_kbps = 6_000;
    opts.codec = punktfunk_core::control::Codec::Hevc;
    opts.color_caps = caps::TEN_BIT | caps::HDR;
    opts.expect_stamps = false;
    opts.keep_last_picture = true;
    let r = run_in_process(opts);
    eprintln!("{}", r.text());
    assert_eq!(r.codec, "Hevc");
    assert_eq!(r.color_format, 1, "10-bit 4:2:0");
    assert_eq!(
        (r.color.primaries, r.color.transfer, r.color.matrix),
        (9, 16, 9),
        "Welcome: BT.2020 PQ"
    );
    let announced = r.color.hdr.expect("the Welcome carries HDR metadata");
    assert_eq!(announced.max_luminance, 1000.0);
    assert!(
        announced.max_cll > 0 && announced.max_cll <= 1000,
        "{announced:?}"
    );
    assert!(announced.max_fall > 0 && announced.max_fall <= announced.max_cll);
    let format = r.video_format.as_ref().expect("decoded");
    assert_eq!(format.bit_depth, 10, "{format:?}");
    assert_eq!(
        (
            format.primaries.as_str(),
            format.transfer.as_str(),
            format.matrix.as_str()
        ),
        ("bt2020", "smpte2084", "bt2020nc"),
        "{format:?}"
    );
    let carried = format.hdr.expect("the bitstream carries HDR metadata");
    assert_eq!(
        (carried.max_cll, carried.max_fall),
        (announced.max_cll, announced.max_fall)
    );
    assert!((carried.max_luminance - 1000.0).abs() < 1.0, "{carried:?}");
    assert!(
        (carried.primaries[0][0] - 0.708).abs() < 0.001,
        "{carried:?}"
    );
    assert_eq!(r.integrity_failures, 0, "{}", r.text());
    assert!(r.frames_ok >= 20, "{}", r.text());
    let (w, h, rgb) = r.last_picture.as_ref().expect("kept the last picture");
    assert!(
        punktfunk_media::pattern::read_stamp(rgb, *w, *h, *w as usize * 3).is_some(),
        "the graded stamp reads back"
    );
    // The stamp's first cell is white: PQ code of 1000 cd/m², 0.752 × 255.
    let white = rgb[(4 * *w as usize + 4) * 3];
    assert!(
        (188..=196).contains(&white),
        "white cell at PQ code {white}"
    );
}

/// The real frame path: the client gets its own virtual display (our private headless sway, since the
/// test has no desktop session), captured with wlr-screencopy, encoded with x264 and decoded by the
/// probe — which sees the display's default background at the client's exact mode.
#[test]
fn display_source_streams_the_clients_own_display() {
    let host = Host::start("display", &["--source", "display"]);
    // 10 s of a static screen: the stream keeps its rate (repeats) and the client stays connected.
    let mut opts = session(&host, host.quic, 10);
    opts.mode = Mode {
        width: 640,
        height: 360,
        refresh_mhz: 30_000,
    };
    opts.bitrate_kbps = 2_000;
    opts.codec = punktfunk_core::control::Codec::H264;
    opts.expect_stamps = false;
    let r = run_in_process(opts);
    eprintln!("{}", r.text());
    assert_eq!(r.mode, "640x360@30");
    assert_eq!(r.integrity_failures, 0, "{}", r.text());
    assert!(r.frames_ok >= 240, "{}", r.text());
    // The default background, #3a6ea5, through 4:2:0 and a lossy codec.
    let [red, green, blue] = r.centre_rgb.expect("a decoded picture");
    let near = |a: u8, b: u8| a.abs_diff(b) <= 8;
    assert!(
        near(red, 0x3a) && near(green, 0x6e) && near(blue, 0xa5),
        "centre {red},{green},{blue}"
    );
}
