//! A private headless Mutter: our own D-Bus session bus, PipeWire, WirePlumber and
//! `mutter --headless --wayland --no-x11`, all in one runtime directory (mode 0700) and one
//! process group. For tests and for a bare machine where the user wants GNOME's compositor.
//! The same session can run `kwin_wayland --virtual` instead ([`MutterSession::start_kwin`]).
//!
//! Mutter 43 runs as root here (unlike sway). Its initial `--virtual-monitor 64x64` only exists
//! because Mutter wants one monitor at start; client displays are `RecordVirtual` monitors.
//! Its startup warning "Failed to acquire org.freedesktop.locale1 proxy" (there is no system bus)
//! is harmless: the keyboard then keeps xkbcommon's default keymap (us), which clients receive.
//! Stopping signals the whole group, waits until no member is left, then removes the directory.

use super::private_session::{PrivateSession, START_TIMEOUT};
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The bus name that says Mutter is ready for us.
pub const SCREENCAST_NAME: &str = "org.gnome.Mutter.ScreenCast";

/// A running private Mutter; dropping it stops everything and removes its directory.
pub struct MutterSession {
    /// The bus, PipeWire and WirePlumber; the compositor is spawned into the same group.
    session: PrivateSession,
    compositor: Compositor,
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
        let session = PrivateSession::start(
            "punktfunk-mutter",
            "the private compositor session",
            &[which.program()],
        )?;
        let compositor = super::headless::find_in_path(which.program())
            .with_context(|| format!("{} not installed", which.program()))?;
        let mut me = Self {
            session,
            compositor: which,
        };
        let cmd = match which {
            Compositor::Mutter => {
                let mut cmd = me.session.command(&compositor, "compositor")?;
                cmd.args([
                    "--headless",
                    "--virtual-monitor",
                    "64x64",
                    "--wayland",
                    "--no-x11",
                ])
                .env("GSETTINGS_BACKEND", "memory");
                // Mutter's own debug topics (e.g. "input,remote-desktop") into compositor.log.
                if let Some(topics) = std::env::var_os("MUTTER_DEBUG") {
                    cmd.env("MUTTER_DEBUG", topics);
                }
                cmd
            }
            Compositor::Kwin => {
                let bin = me.session.runtime_dir().join("bin");
                fs::create_dir(&bin)?;
                let copy = bin.join("kwin_wayland");
                fs::copy(&compositor, &copy).with_context(|| {
                    format!(
                        "copying {} (to drop its file capability)",
                        compositor.display()
                    )
                })?;
                let mut cmd = me.session.command(&copy, "compositor")?;
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
        me.session.spawn(cmd, "the compositor")?;

        if let Err(e) = me.wait_ready() {
            let tail = me.log_tail("compositor", 15);
            return Err(e.context(format!(
                "private {} did not start; its log:\n{tail}",
                which.program()
            )));
        }
        tracing::info!(pgid = me.pgid(), dir = %me.runtime_dir().display(), compositor = which.program(),
            "started a private headless compositor session");
        Ok(me)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let conn = zbus::blocking::connection::Builder::address(self.session.bus_address())
            .and_then(|b| b.build())
            .context("connecting to the private D-Bus")?;
        let dbus = zbus::blocking::fdo::DBusProxy::new(&conn)?;
        loop {
            self.session.check_alive()?;
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

    /// The private session bus address (`unix:path=…`).
    pub fn bus_address(&self) -> &str {
        self.session.bus_address()
    }

    pub fn runtime_dir(&self) -> &Path {
        self.session.runtime_dir()
    }

    pub fn pipewire_socket(&self) -> PathBuf {
        self.session.pipewire_socket()
    }

    pub fn wayland_socket(&self) -> PathBuf {
        match self.compositor {
            Compositor::Mutter => self.runtime_dir().join("wayland-0"),
            Compositor::Kwin => self.runtime_dir().join(KWIN_SOCKET),
        }
    }

    /// The app environment of a display on our private session, or — when the backend uses the
    /// user's own compositor — what this process inherited from that session.
    pub fn app_env_or_inherited(
        private: Option<&MutterSession>,
    ) -> std::collections::BTreeMap<String, String> {
        private.map_or_else(super::inherited_app_env, MutterSession::app_env)
    }

    /// What an app needs to show up in this session: its Wayland socket and its D-Bus.
    pub fn app_env(&self) -> std::collections::BTreeMap<String, String> {
        let mut env = super::wayland_app_env(&self.wayland_socket());
        env.insert(
            "DBUS_SESSION_BUS_ADDRESS".to_string(),
            self.bus_address().to_string(),
        );
        env
    }

    /// Process ids of the bus, PipeWire, WirePlumber and the compositor.
    pub fn pids(&self) -> Vec<u32> {
        self.session.pids()
    }

    pub fn pgid(&self) -> i32 {
        self.session.pgid()
    }

    /// The last `lines` lines of one helper's log ("compositor", "pipewire", "wireplumber",
    /// "dbus").
    pub fn log_tail(&self, name: &str, lines: usize) -> String {
        self.session.log_tail(name, lines)
    }

    pub fn stop(self) -> Result<()> {
        self.session.stop()
    }
}
