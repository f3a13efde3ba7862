//! Helpers shared by the private compositors ([`super::headless`], [`super::mutter_session`]):
//! each runs in a runtime directory of its own (mode 0700) and a process group of its own, which
//! stopping empties before the directory goes.

use super::headless::live_group_members;
use anyhow::{Context, Result};
use rustix::process::{Pid, Signal};
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// XDG_RUNTIME_DIR if it is a directory, else the temp directory.
pub fn default_runtime_base() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir)
}

/// Makes `<base>/<prefix>-<our pid>-<n>` with mode 0700, replacing one left over from an earlier
/// process with our pid.
pub fn fresh_runtime_dir(base: &Path, prefix: &str, n: u32) -> Result<PathBuf> {
    let dir = base.join(format!("{prefix}-{}-{n}", std::process::id()));
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing stale {}", dir.display()))?;
    }
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The last `lines` lines of the log file at `path` (empty if unreadable).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Until no member of process group `pgid` is left: calls `reap` (to collect our own exited
/// children), then signals the group — SIGTERM, and SIGKILL once `grace` has passed. Fails if
/// members survive SIGKILL too; `what` names the group for that error ("the private sway").
pub fn empty_group(pgid: Pid, grace: Duration, what: &str, mut reap: impl FnMut()) -> Result<()> {
    let deadline = Instant::now() + grace;
    let mut signal = Signal::TERM;
    loop {
        reap();
        let left = live_group_members(pgid.as_raw_nonzero().get());
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            if signal == Signal::KILL {
                anyhow::bail!("processes of {what} survive SIGKILL: {left:?}");
            }
            signal = Signal::KILL;
        }
        let _ = rustix::process::kill_process_group(pgid, signal);
        std::thread::sleep(Duration::from_millis(20));
    }
}
