//! A private desktop-session skeleton: our own D-Bus session bus, PipeWire and WirePlumber in one
//! runtime directory (mode 0700) and one process group. The private Mutter/KWin sessions run their
//! compositor inside one ([`super::mutter_session`]); `punktfunk-host audio-session` runs just this,
//! for audio on a machine without a desktop (and for the audio tests).
//!
//! Stopping signals the whole group, waits until no member is left, then removes the directory.

use super::headless::find_in_path;
use super::process_group;
use anyhow::{Context, Result};
use rustix::process::{Pid, Signal};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(3);

static INSTANCE: AtomicU32 = AtomicU32::new(0);

/// A running bus + PipeWire + WirePlumber (and whatever else was spawned into the group); dropping
/// it stops everything and removes its directory.
pub struct PrivateSession {
    /// dbus-daemon (the process-group leader), pipewire, wireplumber, then anything spawned later.
    children: Vec<(Child, &'static str)>,
    pgid: i32,
    dir: PathBuf,
    bus_address: String,
    /// For log lines: "the private Mutter", "the private audio session".
    what: &'static str,
    stopped: bool,
}

impl PrivateSession {
    /// Starts the bus, PipeWire and WirePlumber in `<runtime base>/<prefix>-<pid>-<n>` and waits for
    /// the bus and PipeWire sockets. `extra` programs must also be installed (checked up front, so
    /// one message names everything missing).
    pub fn start(prefix: &str, what: &'static str, extra: &[&str]) -> Result<Self> {
        let mut missing = Vec::new();
        let mut find = |p: &str| {
            find_in_path(p).unwrap_or_else(|| {
                missing.push(p.to_owned());
                PathBuf::new()
            })
        };
        let (dbus, pipewire, wireplumber) =
            (find("dbus-daemon"), find("pipewire"), find("wireplumber"));
        for p in extra {
            find(p);
        }
        anyhow::ensure!(
            missing.is_empty(),
            "cannot start {what}: {} not installed; run scripts/setup.sh",
            missing.join(", ")
        );
        let n = INSTANCE.fetch_add(1, Ordering::Relaxed);
        let dir =
            process_group::fresh_runtime_dir(&process_group::default_runtime_base(), prefix, n)?;
        let socket = dir.join("bus");
        let mut me = PrivateSession {
            children: Vec::new(),
            pgid: 0,
            bus_address: format!("unix:path={}", socket.display()),
            dir,
            what,
            stopped: false,
        };
        let mut cmd = me.command(&dbus, "dbus")?;
        cmd.args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={}", me.bus_address))
            .process_group(0);
        let leader = cmd.spawn().context("starting dbus-daemon")?;
        me.pgid = leader.id() as i32;
        me.children.push((leader, "dbus-daemon"));
        me.wait_for(&socket, "the D-Bus socket")?;

        let cmd = me.command(&pipewire, "pipewire")?;
        me.spawn(cmd, "pipewire")?;
        me.wait_for(&me.pipewire_socket(), "the PipeWire socket")?;
        let cmd = me.command(&wireplumber, "wireplumber")?;
        me.spawn(cmd, "wireplumber")?;
        Ok(me)
    }

    /// A command for a program of this session: cleared environment pointing at our runtime dir
    /// and bus, output to `<logname>.log`, in our process group (once there is one).
    pub fn command(&self, program: &Path, logname: &str) -> Result<Command> {
        let log = fs::File::create(self.dir.join(format!("{logname}.log")))
            .with_context(|| format!("creating {logname}.log"))?;
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", &path)
            .env("HOME", &self.dir)
            .env("XDG_RUNTIME_DIR", &self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("XDG_STATE_HOME", self.dir.join("state"))
            .env("XDG_CACHE_HOME", self.dir.join("cache"))
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if self.pgid > 0 {
            cmd.process_group(self.pgid);
        }
        process_group::terminate_with_parent(&mut cmd);
        Ok(cmd)
    }

    /// Spawns `cmd` (from [`command`](Self::command)) as a member of the session.
    pub fn spawn(&mut self, mut cmd: Command, name: &'static str) -> Result<()> {
        let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        self.children.push((child, name));
        Ok(())
    }

    /// Fails if any member has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        for (child, name) in &mut self.children {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("{name} exited ({status})");
            }
        }
        Ok(())
    }

    /// Waits (up to [`START_TIMEOUT`]) for `path` to appear while every member stays alive.
    pub fn wait_for(&mut self, path: &Path, what: &str) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        while !path.exists() {
            self.check_alive()?;
            anyhow::ensure!(
                Instant::now() < deadline,
                "{what} ({}) did not appear within {START_TIMEOUT:?}",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// The private session bus address (`unix:path=…`).
    pub fn bus_address(&self) -> &str {
        &self.bus_address
    }

    pub fn runtime_dir(&self) -> &Path {
        &self.dir
    }

    pub fn pipewire_socket(&self) -> PathBuf {
        self.dir.join("pipewire-0")
    }

    /// Process ids of every member, in start order.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|(c, _)| c.id()).collect()
    }

    pub fn pgid(&self) -> i32 {
        self.pgid
    }

    /// The last `lines` lines of one member's log ("dbus", "pipewire", "wireplumber", …).
    pub fn log_tail(&self, name: &str, lines: usize) -> String {
        process_group::log_tail(&self.dir.join(format!("{name}.log")), lines)
    }

    pub fn stop(mut self) -> Result<()> {
        self.terminate()
    }

    fn terminate(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        if self.pgid > 0 {
            let pgid =
                Pid::from_raw(self.pgid).ok_or_else(|| anyhow::anyhow!("invalid process group"))?;
            let _ = rustix::process::kill_process_group(pgid, Signal::TERM);
            process_group::empty_group(pgid, STOP_GRACE, self.what, || {
                for (child, _) in &mut self.children {
                    let _ = child.try_wait();
                }
            })?;
            for (child, _) in &mut self.children {
                let _ = child.wait();
            }
        }
        fs::remove_dir_all(&self.dir)
            .with_context(|| format!("removing {}", self.dir.display()))?;
        tracing::info!("stopped {}", self.what);
        Ok(())
    }
}

impl Drop for PrivateSession {
    fn drop(&mut self) {
        if let Err(e) = self.terminate() {
            tracing::warn!("stopping {}: {e:#}", self.what);
        }
    }
}
