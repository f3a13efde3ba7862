//! A hostile LAN (issue #13): while attackers on 127.0.0.2 … flood every port of a real
//! `punktfunk-host serve --gamestream` (tests/hostile/attacks.rs: slowloris on nvhttp, the API and
//! RTSP, half-open ENet peers, abandoned QUIC handshakes at the punktfunk/1 and WebTransport ports,
//! random UDP at every data port), the real
//! clients on 127.0.0.1 must still get everything done: Moonlight (moonlight-python) pairs, launches
//! and streams; the punktfunk/1 probe pairs and streams; the management API answers. Afterwards no
//! attacker connection may have been held open past the host's deadlines, and the host must give
//! back what the attackers took.
//!
//! Every check runs even when an earlier one failed; the test fails at the end with the list.

use punktfunk_e2e::api_common;
use punktfunk_e2e::common;
use punktfunk_e2e::gamestream_harness as harness;
use punktfunk_e2e::hostile_attacks as attacks;

use attacks::{Flood, Targets, TcpAttack, TcpPlan, attacker_ips};
use common::{TempDir, workspace_bin};
use harness::*;
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Attacker machines on the LAN.
const ATTACKERS: u8 = 6;
/// The flood runs at least this long, so that a connection the host never times out shows up as
/// held open past [`LONGEST_HOLD`] …
const FLOOD_MIN: Duration = Duration::from_secs(45);
/// … and never longer than this (if the clients are still busy, their own timeouts end them).
const FLOOD_MAX: Duration = Duration::from_secs(70);
/// The longest a host may keep a connection open that never completed a request (or a TLS session
/// that never sent one): a few times the 10–15 s deadlines a host needs for slow but honest
/// clients, far below the flood's length.
const LONGEST_HOLD: Duration = Duration::from_secs(30);
/// Extra file descriptors the host may still hold 15 s after the flood ended (log files, sockets
/// the real clients' sessions opened and are closing).
const FD_SLACK: usize = 16;

/// Slowloris plans: per port, enough slots from all attackers together to exceed what a host could
/// serve at once if it let any one address take every slot (nvhttp and RTSP serve tens of
/// connections, the API a few hundred), while each attacker alone stays modest.
fn tcp_plans(t: &Targets) -> Vec<TcpPlan> {
    use TcpAttack::*;
    let plan = |target_name, target, attack, slots_per_ip| TcpPlan {
        target_name,
        target,
        attack,
        slots_per_ip,
    };
    vec![
        plan("nvhttp", t.nvhttp, Silent, 4),
        plan("nvhttp", t.nvhttp, PartialRequestLine, 4),
        plan("nvhttp", t.nvhttp, PartialHeaders, 4),
        plan("nvhttp", t.nvhttp, HalfBody, 4),
        plan("nvhttps", t.nvhttps, Silent, 4),
        plan("nvhttps", t.nvhttps, TlsSilent, 4),
        plan("nvhttps", t.nvhttps, TlsPartialHeaders, 4),
        plan("nvhttps", t.nvhttps, TlsH2Preface, 4),
        plan("api", t.api, Silent, 12),
        plan("api", t.api, TlsSilent, 12),
        plan("api", t.api, TlsPartialHeaders, 12),
        plan("api", t.api, TlsH2Preface, 12),
        plan("api", t.api, TlsHalfBody, 12),
        plan("rtsp", t.rtsp, Silent, 2),
        plan("rtsp", t.rtsp, Garbage, 2),
        plan("rtsp", t.rtsp, PartialHeaders, 2),
    ]
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn targets(host: &GameStreamHost, base: u16) -> Targets {
    Targets {
        nvhttp: loopback(base),
        nvhttps: loopback(base - HTTPS_OFFSET),
        rtsp: loopback(base + 21),
        api: loopback(host.api_port),
        gs_video: loopback(base + 9),
        gs_control: loopback(base + 10),
        gs_audio: loopback(base + 11),
        quic: loopback(host.process.quic.port()),
        data: loopback(host.process.data_port),
        webtransport: host
            .process
            .wait_line("WEBTRANSPORT ", Duration::from_secs(10))
            .expect("the host printed no WEBTRANSPORT line")
            .trim()
            .parse()
            .expect("WEBTRANSPORT address"),
    }
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Runs `check`; a panic inside it becomes a recorded failure named `what`.
fn check(failures: &mut Vec<String>, what: &str, check: impl FnOnce()) {
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(check));
    let took = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => eprintln!("hostile: ok   {what} ({took:.1} s)"),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            eprintln!("hostile: FAIL {what} ({took:.1} s): {message}");
            failures.push(format!("{what}: {message}"));
        }
    }
}

/// `GET /api/v1/health` (public) and `GET /api/v1/sessions` (bearer token) each answer 200 within
/// 10 s.
fn api_answers(rt: &tokio::runtime::Runtime, host: &GameStreamHost, config: &Path) {
    let api = loopback(host.api_port);
    let token = std::fs::read_to_string(config.join("admin-token")).expect("admin token");
    let fingerprint = host.process.fingerprint.clone();
    rt.block_on(async {
        let health = tokio::time::timeout(
            Duration::from_secs(10),
            api_common::send(
                api,
                &fingerprint,
                api_common::Request::new("GET", "/api/v1/health"),
            ),
        )
        .await
        .expect("GET /api/v1/health answered within 10 s");
        assert_eq!(health.status, 200, "health: {}", health.error());
        let sessions = tokio::time::timeout(
            Duration::from_secs(10),
            api_common::send(
                api,
                &fingerprint,
                api_common::Request::new("GET", "/api/v1/sessions")
                    .header("authorization", &format!("Bearer {}", token.trim())),
            ),
        )
        .await
        .expect("GET /api/v1/sessions answered within 10 s");
        assert_eq!(sessions.status, 200, "sessions: {}", sessions.error());
    });
}

/// `punktfunk-host pair --native`: arms a punktfunk/1 PIN through the management API.
fn arm_pin(host: &GameStreamHost) -> String {
    let armed = Command::new(punktfunk_e2e::host_bin())
        .args(["pair", "--native", "--api-port", &host.api_port.to_string()])
        .env("PUNKTFUNK_CONFIG_DIR", &host.process.config_dir)
        .output()
        .unwrap();
    assert!(
        armed.status.success(),
        "arming a PIN through the API: {}",
        String::from_utf8_lossy(&armed.stderr)
    );
    let stdout = String::from_utf8_lossy(&armed.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("PIN "))
        .unwrap_or_else(|| panic!("no PIN line: {stdout}"))
        .trim()
        .to_string()
}

/// The probe pairs with a PIN armed before the flood and streams 3 s of the host's display.
fn probe_pairs_and_streams(host: &GameStreamHost, pin: &str, client: &Path) {
    let quic = loopback(host.process.quic.port()).to_string();
    let probe = || {
        let mut c = Command::new(workspace_bin("punktfunk-probe"));
        c.env("PUNKTFUNK_CLIENT_DIR", client);
        c
    };
    let paired = probe()
        .args(["pair", &quic, "--pin", pin, "--name", "hostile-lan"])
        .output()
        .unwrap();
    assert!(
        paired.status.success(),
        "probe pair: {}",
        String::from_utf8_lossy(&paired.stderr)
    );
    let streamed = probe()
        .args([
            "connect",
            &quic,
            "--mode",
            "640x360@30",
            "--duration",
            "3s",
            "--json",
        ])
        .args(["--codec", "h264", "--no-stamps", "--bitrate-kbps", "2000"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&streamed.stdout).unwrap_or_else(|e| {
        panic!(
            "probe connect printed no JSON ({e}): {}",
            String::from_utf8_lossy(&streamed.stderr)
        )
    });
    assert!(streamed.status.success(), "probe connect: {report}");
    let ok = report["frames_ok"].as_u64().unwrap_or(0);
    // 3 s at 30 fps; the first frames wait for the display and the encoder.
    assert!(ok >= 30, "only {ok} whole frames in 3 s: {report}");
}

/// Moonlight pairs (PIN through the API), launches the desktop and decodes 2 s of it, then quits.
fn moonlight_pairs_and_streams(python: &Path, host: &GameStreamHost, base: u16, client: &Path) {
    let paired = pair(python, host, base, client, "1357", "1357", &[]);
    assert_eq!(paired["paired"], true, "{paired}");
    let streamed = run_stream(
        python,
        base,
        client,
        &[
            "--width",
            "640",
            "--height",
            "360",
            "--fps",
            "30",
            "--bitrate",
            "2000",
            "--seconds",
            "2",
        ],
    );
    let launch = &streamed["launches"][0];
    let frames = launch["frames"].as_u64().unwrap_or(0);
    assert!(
        frames >= 20,
        "only {frames} frames decoded in 2 s: {streamed}"
    );
    assert_eq!(launch["current_game_after_quit"], 0, "{streamed}");
}

#[test]
fn real_clients_pair_stream_and_manage_the_host_during_a_hostile_flood() {
    let python = moonlight_python();
    let config = TempDir::new("hostile-config");
    let clients = TempDir::new("hostile-clients");
    let base = free_port_base();
    let host = start_host(config.path(), base, true);
    let pid = host.process.pid();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut failures = Vec::new();
    check(&mut failures, "API answers before the flood", || {
        api_answers(&rt, &host, config.path())
    });
    // The probe's PIN is armed through the API before the flood (valid 2 minutes; the API has
    // checks of its own below), so the probe's pairing measures the QUIC side alone.
    let pin = arm_pin(&host);
    let fds_before = fd_count(pid);

    let targets = targets(&host, base);
    let flood = Flood::start(
        &targets,
        &attacker_ips(ATTACKERS),
        tcp_plans(&targets),
        FLOOD_MAX,
    );
    // Let the attackers take every slot they can before the real clients come.
    std::thread::sleep(Duration::from_secs(4));

    check(&mut failures, "API answers during the flood", || {
        api_answers(&rt, &host, config.path())
    });
    check(
        &mut failures,
        "Moonlight pairs, launches and streams during the flood",
        || moonlight_pairs_and_streams(&python, &host, base, &clients.path().join("moonlight")),
    );
    check(
        &mut failures,
        "punktfunk/1 probe pairs and streams during the flood",
        || probe_pairs_and_streams(&host, &pin, &clients.path().join("probe")),
    );
    check(&mut failures, "API answers late in the flood", || {
        api_answers(&rt, &host, config.path())
    });
    while flood.elapsed() < FLOOD_MIN {
        std::thread::sleep(Duration::from_millis(200));
    }
    let report = flood.stop();
    eprintln!("hostile: flood report\n{}", report.describe());

    check(&mut failures, "every attack really ran", || {
        for (plan, t) in &report.tcp {
            assert!(
                t.connected + t.connect_failed > 0,
                "{} {:?} never tried",
                plan.target_name,
                plan.attack
            );
        }
        assert!(report.udp_datagrams > 1000, "{}", report.udp_datagrams);
        assert!(report.enet_connects > 100, "{}", report.enet_connects);
        assert!(report.quic_handshakes > 100, "{}", report.quic_handshakes);
    });
    check(
        &mut failures,
        "no attacker connection held open past the deadline",
        || {
            let held: Vec<String> = report
                .tcp
                .iter()
                .filter(|(_, t)| t.longest_open > LONGEST_HOLD)
                .map(|(p, t)| {
                    format!(
                        "{} {:?} {:.0}s",
                        p.target_name,
                        p.attack,
                        t.longest_open.as_secs_f64()
                    )
                })
                .collect();
            assert!(
                held.is_empty(),
                "held longer than {} s: {held:?}",
                LONGEST_HOLD.as_secs()
            );
        },
    );
    check(
        &mut failures,
        "the host gives the attackers' descriptors back",
        || {
            let deadline = Instant::now() + Duration::from_secs(15);
            let mut now = fd_count(pid);
            while now > fds_before + FD_SLACK && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(250));
                now = fd_count(pid);
            }
            assert!(
                now <= fds_before + FD_SLACK,
                "{now} descriptors open 15 s after the flood, {fds_before} before it"
            );
        },
    );
    check(&mut failures, "API answers after the flood", || {
        api_answers(&rt, &host, config.path())
    });
    check(&mut failures, "the host is still running", || {
        let mut host = host;
        assert!(
            host.process.child.try_wait().unwrap().is_none(),
            "the host exited during the flood"
        );
        host.stop();
    });
    assert!(
        failures.is_empty(),
        "{} of the hostile-LAN checks failed:\n- {}\nflood:\n{}",
        failures.len(),
        failures.join("\n- "),
        report.describe()
    );
}
