//! The GameStream test host and its Moonlight client, shared by gamestream_e2e.rs and
//! gamestream_audio_e2e.rs: `punktfunk-host serve --gamestream` in a
//! private config dir, moonlight-python from scripts/moonlight-venv.sh, pairing with the PIN handed
//! to the host through `punktfunk-host pair --pin` (the management API), as a user would.
#![allow(dead_code)] // each test file uses a different part

use crate::common::{HostCommand, HostProcess};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{Ipv6Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const HTTPS_OFFSET: u16 = 5;

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python (created on first use; later calls take a fraction of a second).
pub fn moonlight_python() -> PathBuf {
    let script = manifest_dir().join("../../scripts/moonlight-venv.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/moonlight-venv.sh");
    assert!(out.status.success(), "scripts/moonlight-venv.sh failed");
    let path = String::from_utf8(out.stdout).expect("utf-8 path");
    PathBuf::from(path.trim())
}

pub fn client_script() -> PathBuf {
    manifest_dir().join("tests/gamestream/moonlight_client.py")
}

/// A base port whose HTTP (base) and HTTPS (base − 5) ports are both free right now.
pub fn free_port_base() -> u16 {
    for _ in 0..200 {
        let probe = TcpListener::bind((Ipv6Addr::UNSPECIFIED, 0)).expect("bind a probe port");
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        let Some(https) = base.checked_sub(HTTPS_OFFSET).filter(|&p| p > 1024) else {
            continue;
        };
        if base > 65535 - 21 {
            continue;
        }
        let both_free = TcpListener::bind((Ipv6Addr::UNSPECIFIED, base)).is_ok()
            && TcpListener::bind((Ipv6Addr::UNSPECIFIED, https)).is_ok();
        // Streaming: RTSP on TCP base+21; video, control and audio on UDP base+9, +10, +11.
        let streaming_free = TcpListener::bind((Ipv6Addr::UNSPECIFIED, base + 21)).is_ok()
            && [9, 10, 11]
                .iter()
                .all(|o| std::net::UdpSocket::bind((Ipv6Addr::UNSPECIFIED, base + o)).is_ok());
        if both_free && streaming_free {
            return base;
        }
    }
    panic!("no free GameStream port pair found");
}

pub struct GameStreamHost {
    pub process: HostProcess,
    pub api_port: u16,
}

impl GameStreamHost {
    /// SIGTERM, as a service manager would stop it: the host then also stops the private headless
    /// sway it started (a SIGKILL would leave that behind).
    pub fn stop(mut self) {
        let pid = rustix::process::Pid::from_raw(self.process.pid() as i32).expect("host pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .expect("SIGTERM the host");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if self
                .process
                .child
                .try_wait()
                .expect("wait for the host")
                .is_some()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the host did not stop within 15 s of SIGTERM");
    }
}

pub fn start_host(config_dir: &Path, base: u16, gamestream: bool) -> GameStreamHost {
    start_host_wrapped(config_dir, base, gamestream, &[])
}

/// `start_host` through `wrapper` (e.g. `env PIPEWIRE_RUNTIME_DIR=…`).
pub fn start_host_wrapped(
    config_dir: &Path,
    base: u16,
    gamestream: bool,
    wrapper: &[String],
) -> GameStreamHost {
    start_host_with(config_dir, base, gamestream, wrapper, &[])
}

/// `start_host_wrapped` with more `serve` flags (e.g. `--open`).
pub fn start_host_with(
    config_dir: &Path,
    base: u16,
    gamestream: bool,
    wrapper: &[String],
    extra: &[&str],
) -> GameStreamHost {
    let base = base.to_string();
    let mut args = vec!["serve", "--port", "0", "--api-port", "0", "--no-mdns"];
    args.extend(["--gamestream-port-base", &base]);
    if gamestream {
        args.push("--gamestream");
    }
    args.extend_from_slice(extra);
    let mut command = HostCommand::new(&args);
    command.config_dir = Some(config_dir.to_path_buf());
    command.wrapper = wrapper.to_vec();
    let process = HostProcess::start("gamestream", command);
    if gamestream {
        let line = process
            .wait_line("GAMESTREAM ", Duration::from_secs(20))
            .expect("host printed no GAMESTREAM line");
        assert!(line.contains(&format!(":{base} ")), "{line}");
    }
    let api = process
        .wait_line("API https://", Duration::from_secs(20))
        .expect("host printed no API line");
    let api_port = api
        .parse::<SocketAddr>()
        .expect("API line holds an address")
        .port();
    GameStreamHost { process, api_port }
}

pub fn parse_result(stdout: &str) -> Value {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line in {stdout:?}"));
    serde_json::from_str(line).expect("RESULT is JSON")
}

/// Starts `pair()` in moonlight-python, waits until it is blocked in phase 1, hands `host_pin` to the
/// host with `punktfunk-host pair --pin`, and returns the client's result.
pub fn pair(
    python: &Path,
    host: &GameStreamHost,
    base: u16,
    client_dir: &Path,
    client_pin: &str,
    host_pin: &str,
    extra: &[&str],
) -> Value {
    let base = base.to_string();
    let client_dir = client_dir.to_str().unwrap();
    let mut child = Command::new(python)
        .arg(client_script())
        .args([
            "pair",
            "--port",
            &base,
            "--client-dir",
            client_dir,
            "--pin",
            client_pin,
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start moonlight_client.py pair");
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut output = String::new();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("client never started pairing: {output}"));
        output.push_str(&line);
        output.push('\n');
        if line == "PAIRING" {
            break;
        }
    }
    submit_pin(host, host_pin);
    let status = child.wait().expect("wait for moonlight_client.py");
    output.extend(lines.try_iter().map(|l| l + "\n"));
    assert!(
        status.success(),
        "moonlight_client.py pair failed: {output}"
    );
    parse_result(&output)
}

/// `punktfunk-host pair --pin`: the host answers 409 until Moonlight's phase-1 request has arrived,
/// so this retries for a while, then insists on success.
pub fn submit_pin(host: &GameStreamHost, pin: &str) {
    let start = Instant::now();
    loop {
        let out = Command::new(crate::host_bin())
            .args([
                "pair",
                "--pin",
                pin,
                "--api-port",
                &host.api_port.to_string(),
            ])
            .env("PUNKTFUNK_CONFIG_DIR", &host.process.config_dir)
            .output()
            .expect("run punktfunk-host pair");
        if out.status.success() {
            return;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the host never took the PIN: {stderr}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A host with one paired Moonlight client.
pub fn paired_host(config: &Path, client_dir: &Path, python: &Path) -> (GameStreamHost, u16) {
    paired_host_wrapped(config, client_dir, python, &[])
}

/// `paired_host` through `wrapper` (see `start_host_wrapped`).
pub fn paired_host_wrapped(
    config: &Path,
    client_dir: &Path,
    python: &Path,
    wrapper: &[String],
) -> (GameStreamHost, u16) {
    let base = free_port_base();
    let host = start_host_wrapped(config, base, true, wrapper);
    let paired = pair(python, &host, base, client_dir, "2580", "2580", &[]);
    assert_eq!(paired["paired"], true, "{paired}");
    (host, base)
}

pub fn stream_script() -> PathBuf {
    manifest_dir().join("tests/gamestream/moonlight_stream.py")
}

/// moonlight_stream.py for a paired client of the host at `base`, to add arguments to.
pub fn stream_command(python: &Path, base: u16, client_dir: &Path) -> Command {
    let mut command = Command::new(python);
    command.arg(stream_script()).args([
        "--port",
        &base.to_string(),
        "--client-dir",
        client_dir.to_str().unwrap(),
    ]);
    command
}

/// Runs moonlight_stream.py against a paired client to its `RESULT` line.
pub fn run_stream(python: &Path, base: u16, client_dir: &Path, extra: &[&str]) -> Value {
    let out = stream_command(python, base, client_dir)
        .args(extra)
        .stderr(Stdio::inherit())
        .output()
        .expect("run moonlight_stream.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "moonlight_stream.py failed: {stdout}");
    let result = parse_result(&stdout);
    assert!(result.get("error").is_none(), "streaming failed: {result}");
    result
}
