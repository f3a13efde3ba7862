//! Helpers shared by the private compositors ([`super::headless`], [`super::mutter_session`]):
//! each runs in a runtime directory of its own (mode 0700) and a process group of its own, which
//! stopping empties before the directory goes.
// Needs `unsafe` for setpgid/prctl in a forked child before exec; every block says why it is sound (`// SAFETY:`).
#![allow(unsafe_code)]

use anyhow::{Context, Result};
use rustix::process::{Pid, Signal};
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Makes the child get SIGTERM when the thread that spawns it dies — even by SIGKILL, when no
/// cleanup of ours runs — so a killed host does not leave its private compositor running. Spawn
/// from a thread that lives as long as the child should (the kernel ties this to the spawning
/// thread, not the process).
pub fn terminate_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls prctl (through
    // rustix), which is async-signal-safe; it allocates nothing and touches no locks. It runs after
    // std changed the uid, which would otherwise clear the setting.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(Signal::TERM))
                .map_err(std::io::Error::from)
        });
    }
}

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
    sweep_dead_runtime_dirs(base, prefix);
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

/// Removes `<base>/<prefix>-<pid>-<n>` directories whose host process is gone (a host killed with
/// SIGKILL cannot clean up; its compositor died with it, see [`terminate_with_parent`]).
fn sweep_dead_runtime_dirs(base: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix)?.strip_prefix('-'))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, n)| n.parse::<u32>().ok().and(pid.parse::<u32>().ok()))
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            match fs::remove_dir_all(entry.path()) {
                Ok(()) => {
                    tracing::info!(dir = %entry.path().display(), "removed a dead host's runtime dir")
                }
                Err(e) => tracing::debug!(dir = %entry.path().display(), "cannot remove: {e}"),
            }
        }
    }
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

/// Processes of process group `pgid` that are alive (zombies don't count), as (pid, name).
pub fn live_group_members(pgid: i32) -> Vec<(i32, String)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((name, state, group)) = parse_stat(&stat)
            && group == pgid
            && state != 'Z'
            && state != 'X'
        {
            found.push((pid, name));
        }
    }
    found
}

/// From /proc/<pid>/stat: (comm, state, pgrp). comm may contain spaces and parentheses, so it
/// ends at the last ')'.
fn parse_stat(stat: &str) -> Option<(String, char, i32)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let _ppid = rest.next()?;
    let pgrp = rest.next()?.parse().ok()?;
    Some((name, state, pgrp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_hosts_runtime_dirs_are_swept_live_ones_kept() {
        let base = std::env::temp_dir().join(format!("pf-sweep-{}", std::process::id()));
        fs::create_dir_all(&base).unwrap();
        let dead = base.join("pfx-999999999-0"); // above the kernel's pid limit: never alive
        let ours = base.join(format!("pfx-{}-0", std::process::id()));
        let other = base.join("unrelated-999999999-0");
        for d in [&dead, &ours, &other] {
            fs::create_dir_all(d).unwrap();
        }
        let fresh = fresh_runtime_dir(&base, "pfx", 1).unwrap();
        assert!(!dead.exists(), "a dead host's dir is removed");
        assert!(ours.exists() && other.exists() && fresh.exists());
        fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn stat_parsing() {
        let stat = "1234 (sway (x) y) S 1 1200 1200 0 -1 4194560 100";
        assert_eq!(parse_stat(stat), Some(("sway (x) y".into(), 'S', 1200)));
        assert_eq!(parse_stat("garbage"), None);
    }
}
