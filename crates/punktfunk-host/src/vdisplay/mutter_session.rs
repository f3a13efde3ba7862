//! A private headless Mutter: our own D-Bus session bus, PipeWire, WirePlumber and
//! `mutter --headless --wayland --no-x11`, all in one runtime directory (mode 0700) and one
//! process group. For tests and for a bare machine where the user wants GNOME's compositor.
//! The same session can run `kwin_wayland --virtual` instead ([`MutterSession::start_kwin`]).
//!
//! Mutter 43 runs as root here (unlike sway). Its initial `--virtual-monitor 64x64` only exists
//! because Mutter wants one monitor at start; client displays are `RecordVirtual` monitors.
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

const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(3);
/// The bus name that says Mutter is ready for us.
pub const SCREENCAST_NAME: &str = "org.gnome.Mutter.ScreenCast";

static INSTANCE: AtomicU32 = AtomicU32::new(0);

/// A running private Mutter; dropping it stops everything and removes its directory.
pub struct MutterSession {
    /// dbus-daemon, the process-group leader; then pipewire, wireplumber, mutter.
    children: Vec<Child>,
    pgid: i32,
    dir: PathBuf,
    bus_address: String,
    compositor: Compositor,
    stopped: bool,
}

/// Which compositor the session runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compositor {
    Mutter,
    Kwin,
}

impl Compositor {
    fn program(self) -> &'static str {
        match self {
            Self::Mutter => "mutter",
            Self::Kwin => "kwin_wayland",
        }
    }
}

/// The Wayland socket name of a private KWin.
const KWIN_SOCKET: &str = "kwin-0";

impl MutterSession {
    /// Starts the bus, PipeWire, WirePlumber and Mutter, and waits until Mutter owns its
    /// ScreenCast name and the PipeWire and Wayland sockets exist.
    pub fn start() -> Result<Self> {
        Self::start_compositor(Compositor::Mutter)
    }

    /// Starts the bus, PipeWire, WirePlumber and `kwin_wayland --virtual` (KWin's virtual
    /// backend), waiting for its Wayland socket `kwin-0`. kwin_wayland carries a file capability
    /// (cap_sys_resource), which makes the loader ignore our environment and KWin refuse
    /// `KWIN_WAYLAND_NO_PERMISSION_CHECKS`; a copy in the runtime dir has no capability. The
    /// copy must still be called `kwin_wayland`: KWin's built-in Qt platform plugin refuses to
    /// load in a binary of any other name.
    pub fn start_kwin() -> Result<Self> {
        Self::start_compositor(Compositor::Kwin)
    }

    fn start_compositor(which: Compositor) -> Result<Self> {
        let mut missing = Vec::new();
        let mut find = |p: &str| {
            find_in_path(p).unwrap_or_else(|| {
                missing.push(p.to_owned());
                PathBuf::new()
            })
        };
        let (dbus, pipewire, wireplumber, mutter) = (
            find("dbus-daemon"),
            find("pipewire"),
            find("wireplumber"),
            find(which.program()),
        );
        anyhow::ensure!(
            missing.is_empty(),
            "cannot start a private Mutter: {} not installed; run scripts/setup.sh",
            missing.join(", ")
        );
        let dir = make_dir()?;
        let socket = dir.join("bus");
        let bus_address = format!("unix:path={}", socket.display());
        let log = |name: &str| -> Result<fs::File> {
            fs::File::create(dir.join(format!("{name}.log")))
                .with_context(|| format!("creating {name}.log"))
        };
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
        let base = |program: &Path, logname: &str| -> Result<Command> {
            let mut cmd = Command::new(program);
            let log = log(logname)?;
            cmd.env_clear()
                .env("PATH", &path)
                .env("HOME", &dir)
                .env("XDG_RUNTIME_DIR", &dir)
                .env("XDG_CONFIG_HOME", dir.join("config"))
                .env("XDG_STATE_HOME", dir.join("state"))
                .env("XDG_CACHE_HOME", dir.join("cache"))
                .env("DBUS_SESSION_BUS_ADDRESS", &bus_address)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            Ok(cmd)
        };

        let mut me = Self {
            children: Vec::new(),
            pgid: 0,
            dir: dir.clone(),
            bus_address: bus_address.clone(),
            compositor: which,
            stopped: false,
        };
        let mut cmd = base(&dbus, "dbus")?;
        cmd.args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address={bus_address}"))
            .process_group(0);
        let leader = cmd.spawn().context("starting dbus-daemon")?;
        me.pgid = leader.id() as i32;
        me.children.push(leader);
        wait_for(&socket, "the D-Bus socket", &mut me)?;

        let mut cmd = base(&pipewire, "pipewire")?;
        cmd.process_group(me.pgid);
        me.children.push(cmd.spawn().context("starting pipewire")?);
        wait_for(&dir.join("pipewire-0"), "the PipeWire socket", &mut me)?;

        let mut cmd = base(&wireplumber, "wireplumber")?;
        cmd.process_group(me.pgid);
        me.children
            .push(cmd.spawn().context("starting wireplumber")?);

        let mut cmd = match which {
            Compositor::Mutter => {
                let mut cmd = base(&mutter, "compositor")?;
                cmd.args([
                    "--headless",
                    "--virtual-monitor",
                    "64x64",
                    "--wayland",
                    "--no-x11",
                ])
                .env("GSETTINGS_BACKEND", "memory");
                cmd
            }
            Compositor::Kwin => {
                let bin = dir.join("bin");
                fs::create_dir(&bin)?;
                let copy = bin.join("kwin_wayland");
                fs::copy(&mutter, &copy).with_context(|| {
                    format!("copying {} (to drop its file capability)", mutter.display())
                })?;
                let mut cmd = base(&copy, "compositor")?;
                cmd.args([
                    "--virtual",
                    "--no-lockscreen",
                    "--no-global-shortcuts",
                    "--socket",
                    KWIN_SOCKET,
                    "--width",
                    "1280",
                    "--height",
                    "720",
                ])
                .env("KWIN_WAYLAND_NO_PERMISSION_CHECKS", "1")
                .env("QT_QPA_PLATFORM", "wayland-org.kde.kwin.qpa");
                cmd
            }
        };
        cmd.process_group(me.pgid);
        me.compositor = which;
        me.children
            .push(cmd.spawn().context("starting the compositor")?);

        if let Err(e) = me.wait_ready() {
            let tail = me.log_tail("compositor", 15);
            return Err(e.context(format!(
                "private {} did not start; its log:\n{tail}",
                which.program()
            )));
        }
        tracing::info!(pgid = me.pgid, dir = %me.dir.display(), compositor = which.program(),
            "started a private headless compositor session");
        Ok(me)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let conn = zbus::blocking::connection::Builder::address(self.bus_address.as_str())
            .and_then(|b| b.build())
            .context("connecting to the private D-Bus")?;
        let dbus = zbus::blocking::fdo::DBusProxy::new(&conn)?;
        loop {
            self.check_alive()?;
            let name = zbus::names::BusName::try_from(SCREENCAST_NAME)?;
            let ready = match self.compositor {
                Compositor::Mutter => dbus.name_has_owner(name).unwrap_or(false),
                Compositor::Kwin => true,
            };
            if ready && self.wayland_socket().exists() {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} was not ready ({SCREENCAST_NAME} owned for Mutter, Wayland socket {}) within \
                 {START_TIMEOUT:?}",
                self.compositor.program(),
                self.wayland_socket().display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn check_alive(&mut self) -> Result<()> {
        for (child, name) in self.children.iter_mut().zip([
            "dbus-daemon",
            "pipewire",
            "wireplumber",
            "the compositor",
        ]) {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("{name} exited during start-up ({status})");
            }
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

    pub fn wayland_socket(&self) -> PathBuf {
        match self.compositor {
            Compositor::Mutter => self.dir.join("wayland-0"),
            Compositor::Kwin => self.dir.join(KWIN_SOCKET),
        }
    }

    /// Process ids of the bus, PipeWire, WirePlumber and Mutter.
    /// What an app needs to show up in this session: its Wayland socket and its D-Bus.
    pub fn app_env(&self) -> std::collections::BTreeMap<String, String> {
        let mut env = super::wayland_app_env(&self.wayland_socket());
        env.insert(
            "DBUS_SESSION_BUS_ADDRESS".to_string(),
            self.bus_address().to_string(),
        );
        env
    }

    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    pub fn pgid(&self) -> i32 {
        self.pgid
    }

    /// The last `lines` lines of one helper's log ("compositor", "pipewire", "wireplumber",
    /// "dbus").
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
            process_group::empty_group(pgid, STOP_GRACE, "the private Mutter", || {
                for child in &mut self.children {
                    let _ = child.try_wait();
                }
            })?;
            for child in &mut self.children {
                let _ = child.wait();
            }
        }
        fs::remove_dir_all(&self.dir)
            .with_context(|| format!("removing {}", self.dir.display()))?;
        tracing::info!(
            compositor = self.compositor.program(),
            "stopped the private compositor session"
        );
        Ok(())
    }
}

impl Drop for MutterSession {
    fn drop(&mut self) {
        if let Err(e) = self.terminate() {
            tracing::warn!("stopping the private Mutter: {e:#}");
        }
    }
}

fn wait_for(path: &Path, what: &str, session: &mut MutterSession) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while !path.exists() {
        session.check_alive()?;
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what} ({}) did not appear within {START_TIMEOUT:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// `<XDG_RUNTIME_DIR or /run/punktfunk or tmp>/punktfunk-mutter-<pid>-<n>`, mode 0700.
fn make_dir() -> Result<PathBuf> {
    let n = INSTANCE.fetch_add(1, Ordering::Relaxed);
    process_group::fresh_runtime_dir(
        &process_group::default_runtime_base(),
        "punktfunk-mutter",
        n,
    )
}
