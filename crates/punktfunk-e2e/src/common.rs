//! Shared by the host's integration tests: start the real `punktfunk-host` binary in a private
//! config dir, read its machine-readable stdout lines (`READY …`, `SESSIONS n`, `API …`, `PIN …`),
//! and find the other binaries of the workspace.
#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir =
            std::env::temp_dir().join(format!("pf-test-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// `serve` with everything on loopback and free ports, no mDNS: what most host tests start with.
pub const LOOPBACK_SERVE: &[&str] = &[
    "serve",
    "--bind",
    "127.0.0.1",
    "--port",
    "0",
    "--no-mdns",
    "--api-bind",
    "127.0.0.1",
    "--api-port",
    "0",
];

/// How to start a host.
pub struct HostCommand {
    /// Run the host through this command first (e.g. `ip netns exec NS`).
    pub wrapper: Vec<String>,
    pub args: Vec<String>,
    /// Config dir; a fresh temp dir when `None`.
    pub config_dir: Option<PathBuf>,
}

impl HostCommand {
    pub fn new(args: &[&str]) -> HostCommand {
        HostCommand {
            wrapper: Vec::new(),
            args: args.iter().map(|s| s.to_string()).collect(),
            config_dir: None,
        }
    }
}

/// A running host process; killed when dropped.
pub struct HostProcess {
    pub child: Child,
    /// Fields of the READY line.
    pub quic: SocketAddr,
    pub data_port: u16,
    pub fingerprint: String,
    pub config_dir: PathBuf,
    lines: Receiver<String>,
    _temp: Option<TempDir>,
}

impl HostProcess {
    pub fn start(tag: &str, command: HostCommand) -> HostProcess {
        let (temp, config_dir) = match command.config_dir {
            Some(dir) => (None, dir),
            None => {
                let t = TempDir::new(tag);
                let dir = t.0.clone();
                (Some(t), dir)
            }
        };
        let host = crate::host_bin();
        let mut cmd = match command.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(host);
                c
            }
            None => Command::new(host),
        };
        let mut child = cmd
            .args(&command.args)
            .env("PUNKTFUNK_CONFIG_DIR", &config_dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start punktfunk-host");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = loop {
            match lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.starts_with("READY ") => break line,
                Ok(_) => {}
                Err(_) => panic!("host printed no READY line"),
            }
        };
        let field = |name: &str| {
            ready
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_owned))
                .unwrap_or_else(|| panic!("READY line without {name}: {ready}"))
        };
        HostProcess {
            quic: field("quic").parse().unwrap(),
            data_port: field("data_port").parse().unwrap(),
            fingerprint: field("fingerprint"),
            config_dir,
            child,
            lines,
            _temp: temp,
        }
    }

    /// The next stdout line starting with `prefix` (prefix removed), within `timeout`.
    pub fn wait_line(&self, prefix: &str, timeout: Duration) -> Option<String> {
        let start = Instant::now();
        loop {
            let left = timeout.checked_sub(start.elapsed())?;
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return Some(rest.to_string());
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Waits until the host announces `count` live sessions; returns how long that took.
    pub fn wait_sessions(&self, count: usize, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        let want = count.to_string();
        loop {
            let left = timeout.checked_sub(start.elapsed())?;
            if self.wait_line("SESSIONS ", left)? == want {
                return Some(start.elapsed());
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        stop_gracefully(&mut self.child);
    }
}

/// SIGTERM, so the host releases its displays and stops its private compositor; SIGKILL if it has
/// not exited within 10 s.
pub fn stop_gracefully(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Another binary of the workspace next to `punktfunk-host` (e.g. `punktfunk-probe`).
pub fn workspace_bin(name: &str) -> PathBuf {
    let host = PathBuf::from(crate::host_bin());
    let bin = host.with_file_name(name);
    assert!(
        bin.exists(),
        "{} missing: build the workspace first (cargo build --workspace --bins)",
        bin.display()
    );
    bin
}

/// `<target dir>/test-artifacts`, next to the `debug`/`release` dir the host binary was built in.
pub fn artifacts_dir() -> PathBuf {
    let host = Path::new(crate::host_bin());
    let target = host
        .parent()
        .and_then(Path::parent)
        .expect("the host binary lives in <target>/<profile>/");
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).expect("create the artifacts dir");
    dir
}

/// Whether this process runs as root (network namespaces, nftables).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|uids| uids.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}
