//! Hundreds of short sessions of both protocols against one real `punktfunk-host serve --gamestream`
//! (its own headless sway, software H.264 at 320×240) must leave the host as it found it: resident
//! memory, threads and file descriptors flat. punktfunk/1 cycles run the client library in this
//! process (connect, stream briefly, goodbye); GameStream cycles run moonlight-python in one process
//! (launch, decode briefly, quit), both at the same time.
//!
//! The host is sampled from /proc/PID/status (VmRSS, Threads) and /proc/PID/fd after a warm-up —
//! allocator pools, the log ring, encoder libraries' lazily built tables and the pooled sway outputs
//! are all filled by then — and again after the remaining cycles, each time once the host has been
//! idle for longer than tokio's blocking-pool keep-alive (10 s: blocking threads that set sessions up
//! exit then, so an idle host has a fixed set of threads).

use punktfunk_e2e::common;
use punktfunk_e2e::gamestream_harness as harness;

use common::TempDir;
use harness::*;
use punktfunk_client::identity::ClientIdentity;
use punktfunk_client::session::{Mode, SessionOptions, run_session};
use punktfunk_core::control::Codec;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Cycles in all per protocol (warm-up included), and how many of them are warm-up. A GameStream
/// cycle through moonlight-python takes ≈ 1.25 s here (launch, RTSP, ENet, first frames, quit), a
/// punktfunk/1 cycle ≈ 0.65 s; they run side by side, so the 200 GameStream cycles set the pace
/// (≈ 4 min; `.config/nextest.toml` gives this binary longer than the usual 5-minute kill).
const PKF1_CYCLES: usize = 200;
const GS_CYCLES: usize = 200;
const WARM_UP: usize = 20;
/// Resident memory the host may gain over the measured cycles. The host trims freed memory after
/// sessions (src/memory.rs), but glibc still cannot return a page that holds one live allocation,
/// and the log ring (2000 lines) and the allocator's own bookkeeping fill up over the first
/// minutes: a few MB move with that alone. A leak of one raw 320×240 picture (≈ 115 kB) per
/// session would add ≈ 40 MB over the measured 360 sessions; a leaked encoder or display far more.
const RSS_SLACK_KB: u64 = 6 * 1024;
/// Idle time before a sample: past tokio's 10 s blocking-thread keep-alive.
const SETTLE: Duration = Duration::from_secs(11);

#[derive(Debug, Clone, Copy)]
struct Sample {
    rss_kb: u64,
    threads: u64,
    fds: usize,
}

fn sample(pid: u32) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    Sample {
        rss_kb: field("VmRSS:"),
        threads: field("Threads:"),
        fds: std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count(),
    }
}

/// The host's largest mappings by resident size (`/proc/PID/smaps`), to tell heap growth from
/// shared-memory buffers or thread arenas when the test fails.
fn largest_mappings(pid: u32) -> String {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut maps: Vec<(u64, String)> = Vec::new();
    let mut current = String::new();
    for line in smaps.lines() {
        if let Some(kb) = line.strip_prefix("Rss:") {
            let kb: u64 = kb
                .trim()
                .trim_end_matches(" kB")
                .trim()
                .parse()
                .unwrap_or(0);
            maps.push((kb, current.clone()));
        } else if line
            .split_whitespace()
            .next()
            .is_some_and(|f| f.contains('-'))
        {
            let fields: Vec<&str> = line.split_whitespace().collect();
            current = format!("{} {}", fields[0], fields.get(5).unwrap_or(&"[anon]"));
        }
    }
    maps.sort_by_key(|m| std::cmp::Reverse(m.0));
    maps.iter()
        .take(8)
        .map(|(kb, name)| format!("{kb} kB {name}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Waits until no session is live and the host has been idle for [`SETTLE`], then samples it.
fn settled_sample(host: &GameStreamHost) -> Sample {
    let start = Instant::now();
    while host.process.wait_line("SESSIONS ", SETTLE).is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "sessions never ended"
        );
    }
    sample(host.process.pid())
}

/// punktfunk/1 sessions from this process: 320×240@30 H.264 of the host's display, each streamed
/// for 0.5 s and ended with a goodbye.
fn punktfunk1_cycles(
    host_addr: SocketAddr,
    fingerprint: &str,
    identity: Arc<ClientIdentity>,
    n: usize,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut streamed = 0;
    for i in 0..n {
        let mode = Mode {
            width: 320,
            height: 240,
            refresh_mhz: 30_000,
        };
        let mut opts = SessionOptions::new(host_addr.to_string(), mode, Duration::from_millis(500));
        opts.fingerprint = Some(fingerprint.to_string());
        opts.identity = Some(identity.clone());
        opts.codec = Codec::H264;
        opts.expect_stamps = false;
        opts.bitrate_kbps = 1000;
        opts.name = format!("leak-{i}");
        let report = rt
            .block_on(run_session(opts))
            .unwrap_or_else(|e| panic!("punktfunk/1 cycle {i}: {e:#}"));
        if report.frames_ok > 0 {
            streamed += 1;
        }
    }
    // Every session was set up, streamed and torn down (run_session succeeded). Its first frame
    // waits for the display, the capture and the encoder, and a still desktop sends few frames:
    // within 0.5 s about a quarter of the sessions decode one (measured: 5 of 20).
    assert!(
        streamed * 8 >= n,
        "only {streamed} of {n} punktfunk/1 sessions received a frame"
    );
}

#[test]
fn hundreds_of_sessions_of_both_protocols_leave_the_host_flat() {
    let python = moonlight_python();
    let config = TempDir::new("leak-config");
    let clients = TempDir::new("leak-clients");
    let base = free_port_base();
    let host = start_host_with(config.path(), base, true, &[], &["--open"]);
    let moonlight_dir = clients.path().join("moonlight");
    let paired = pair(&python, &host, base, &moonlight_dir, "8642", "8642", &[]);
    assert_eq!(paired["paired"], true, "{paired}");
    let quic = SocketAddr::from(([127, 0, 0, 1], host.process.quic.port()));
    let identity =
        Arc::new(ClientIdentity::load_or_create(&clients.path().join("pkf1")).expect("identity"));
    let fingerprint = host.process.fingerprint.clone();

    // Moonlight: one process for all its launches, paused after the warm-up.
    let mut moonlight = stream_command(&python, base, &moonlight_dir)
        .args([
            "--width",
            "320",
            "--height",
            "240",
            "--fps",
            "30",
            "--bitrate",
            "1000",
        ])
        .args(["--seconds", "0.05", "--brief"])
        .args(["--launches", &GS_CYCLES.to_string()])
        .args(["--pause-after", &WARM_UP.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start moonlight_stream.py");
    let mut moonlight_out = BufReader::new(moonlight.stdout.take().unwrap());
    let mut moonlight_in = moonlight.stdin.take().unwrap();
    let started = Instant::now();

    // Warm-up: both protocols at once.
    let warm_identity = identity.clone();
    let warm_fp = fingerprint.clone();
    let pkf1 =
        std::thread::spawn(move || punktfunk1_cycles(quic, &warm_fp, warm_identity, WARM_UP));
    let mut line = String::new();
    let mut stdout = String::new();
    loop {
        line.clear();
        let n = moonlight_out.read_line(&mut line).unwrap();
        stdout.push_str(&line);
        assert!(
            n > 0,
            "moonlight_stream.py ended before the warm-up was over: {stdout}"
        );
        if line.trim() == "PAUSED" {
            break;
        }
    }
    pkf1.join().expect("punktfunk/1 warm-up");
    let warm_s = started.elapsed().as_secs_f64();
    let before = settled_sample(&host);
    eprintln!("leak: after {WARM_UP} warm-up cycles of each ({warm_s:.0} s): {before:?}");

    let measured = Instant::now();
    let pkf1 = {
        let fingerprint = fingerprint.clone();
        std::thread::spawn(move || {
            punktfunk1_cycles(quic, &fingerprint, identity, PKF1_CYCLES - WARM_UP)
        })
    };
    writeln!(moonlight_in, "go").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut moonlight_out, &mut rest).unwrap();
    let status = moonlight.wait().unwrap();
    let launched = rest.lines().filter(|l| *l == "STREAMING").count();
    assert!(
        status.success(),
        "moonlight_stream.py ended with {status} after {launched} launches past the warm-up \
         (a signal here is the client library crashing, not the host): {}",
        rest.lines()
            .filter(|l| *l != "STREAMING")
            .collect::<Vec<_>>()
            .join("\n")
    );
    let result = parse_result(&rest);
    assert!(
        result.get("error").is_none(),
        "GameStream cycles failed: {result}"
    );
    let launches = result["launches"].as_array().unwrap();
    assert_eq!(launches.len(), GS_CYCLES, "{result}");
    assert!(
        launches
            .iter()
            .all(|l| l["frames"].as_u64().unwrap_or(0) > 0),
        "a launch decoded no frame: {result}"
    );
    pkf1.join().expect("punktfunk/1 cycles");
    let cycles_s = measured.elapsed().as_secs_f64();
    let after = settled_sample(&host);
    eprintln!(
        "leak: after {PKF1_CYCLES} punktfunk/1 and {GS_CYCLES} GameStream cycles ({cycles_s:.0} s \
         after the warm-up): {after:?}"
    );

    let mappings = largest_mappings(host.process.pid());
    eprintln!("leak: largest mappings: {mappings}");
    assert!(
        after.rss_kb <= before.rss_kb + RSS_SLACK_KB,
        "resident memory grew from {} to {} kB over {} punktfunk/1 and {} GameStream sessions; \
         largest mappings: {mappings}",
        before.rss_kb,
        after.rss_kb,
        PKF1_CYCLES - WARM_UP,
        GS_CYCLES - WARM_UP
    );
    // An idle host has a fixed set of threads (listeners, data plane, ENet, the runtime's workers).
    assert_eq!(
        after.threads, before.threads,
        "threads: {before:?} → {after:?}"
    );
    assert_eq!(
        after.fds, before.fds,
        "file descriptors: {before:?} → {after:?}"
    );
    host.stop();
}
