//! Shared by the audio tests: the private PipeWire + WirePlumber of `punktfunk-host audio-session`,
//! reading a child's stdout lines, and tone files to play into a sink.
#![allow(dead_code)] // each test binary uses a different part

use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// `child`'s stdout, line by line.
pub fn lines_of(child: &mut Child) -> Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next line starting with `prefix` (the whole line); panics after `timeout`.
pub fn wait_line(lines: &Receiver<String>, prefix: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return line,
            Ok(_) => {}
            Err(e) => panic!("no {prefix:?} line within {timeout:?}: {e}"),
        }
    }
}

/// The value of `name=` in a line of `key=value` fields.
pub fn field(line: &str, name: &str) -> String {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_owned))
        .unwrap_or_else(|| panic!("{name}= missing in {line:?}"))
}

/// `punktfunk-host audio-session`: stops itself when its stdin closes (on drop).
pub struct AudioSession {
    child: Child,
    stdin: Option<ChildStdin>,
    pub runtime_dir: String,
}

impl AudioSession {
    pub fn start() -> AudioSession {
        let mut child = Command::new(crate::host_bin())
            .arg("audio-session")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start punktfunk-host audio-session");
        let lines = lines_of(&mut child);
        let ready = wait_line(&lines, "READY", Duration::from_secs(30));
        AudioSession {
            stdin: child.stdin.take(),
            child,
            runtime_dir: field(&ready, "runtime_dir"),
        }
    }

    /// A command that talks to this PipeWire.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("PIPEWIRE_RUNTIME_DIR", &self.runtime_dir);
        cmd
    }
}

impl Drop for AudioSession {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                assert!(
                    !Path::new(&self.runtime_dir).exists(),
                    "audio-session left its runtime dir behind"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A 16-bit PCM WAV of one sine per channel.
pub fn write_tones(path: &Path, freqs: &[f64], seconds: f64) {
    let rate = 48_000u32;
    let frames = (seconds * f64::from(rate)) as u32;
    let channels = freqs.len() as u16;
    let data_len = frames * u32::from(channels) * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
    out.extend_from_slice(&(channels * 2).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..frames {
        let t = f64::from(i) / f64::from(rate);
        for f in freqs {
            let v = (0.4 * (std::f64::consts::TAU * f * t).sin() * 32767.0) as i16;
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::File::create(path)
        .unwrap()
        .write_all(&out)
        .unwrap();
}
