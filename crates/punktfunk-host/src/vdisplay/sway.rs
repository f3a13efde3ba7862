//! Virtual displays on sway: headless outputs made with `create_output`, set to the client's exact
//! mode with `output NAME mode --custom WxH@RHz`, captured with wlr-screencopy.
//!
//! Removing them depends on the version:
//! - sway ≥ 1.8: `output NAME unplug` destroys the output.
//! - sway 1.7 has no way to remove an output, and its headless backend (wlroots 0.15) cannot even
//!   disable one (`output NAME disable` is answered with success, the commit fails with
//!   "Unsupported output state fields: 0x8", and the stored `enable 0` then blocks every later
//!   change to that output until `enable`). So released outputs are *parked*: shrunk to a 64×64
//!   mode at 1 Hz (freeing their render buffers, almost no repaints) and kept in a pool that the
//!   next `create` reuses.
//!
//! sway answers "success" even for output changes its backend then rejects, so every change is
//! checked against GET_OUTPUTS.
//!
//! Each active display sits at its own spot in the layout with gaps between them, so a pointer
//! confined to one client's display cannot wander onto another's.

use super::headless::HeadlessSway;
use super::sway_ipc::{IpcOutput, SwayIpc, SwayVersion};
use super::{
    Capabilities, CompositorInfo, CompositorKind, DEFAULT_BACKGROUND, DisplayHandle, Mode, Rgb,
    SessionEnv, VirtualDisplay,
};
use crate::capture::CaptureSource;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

const IPC_TIMEOUT: Duration = Duration::from_secs(5);
/// The mode parked outputs get on sway 1.7.
pub const PARK_MODE: Mode = Mode::new(64, 64, 1);
/// Layout spacing between our outputs: wider than any mode, so outputs never touch.
const LAYOUT_SPACING: i64 = 20_000;

/// How outputs are given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// sway ≥ 1.8: `output NAME unplug`.
    Unplug,
    /// sway 1.7: park and pool for reuse.
    Park,
}

impl Release {
    pub fn for_version(v: &SwayVersion) -> Self {
        if v.at_least(1, 8) {
            Self::Unplug
        } else {
            Self::Park
        }
    }
}

struct Inner {
    ipc: SwayIpc,
    /// Parked outputs ready for reuse (sway 1.7).
    pool: Vec<String>,
    /// Outputs currently handed out.
    in_use: BTreeSet<String>,
}

struct Shared {
    inner: Mutex<Inner>,
    version: SwayVersion,
    release: Release,
    wayland_socket: PathBuf,
    ipc_socket: PathBuf,
    /// Our own sway, when we started it. Declared last: it is stopped after everything else.
    private: Option<HeadlessSway>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only the pool bookkeeping behind; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sway backend. Cheap to share: handles keep the connection (and a private sway) alive.
pub struct SwayBackend {
    shared: Arc<Shared>,
}

impl SwayBackend {
    /// Uses the session's sway (SWAYSOCK, WAYLAND_DISPLAY).
    pub fn connect_session(env: &SessionEnv) -> Result<Self> {
        let ipc_socket = env
            .swaysock
            .clone()
            .ok_or_else(|| anyhow::anyhow!("SWAYSOCK is not set"))?;
        let wayland_socket = env.wayland_socket().ok_or_else(|| {
            anyhow::anyhow!(
                "sway session without a Wayland socket: WAYLAND_DISPLAY or XDG_RUNTIME_DIR unset"
            )
        })?;
        Self::connect(&ipc_socket, &wayland_socket, None)
    }

    /// Starts a private headless sway and uses it.
    pub fn start_private() -> Result<Self> {
        let sway = HeadlessSway::start()?;
        let ipc = sway.ipc_socket().to_owned();
        let wayland = sway.wayland_socket().to_owned();
        Self::connect(&ipc, &wayland, Some(sway))
    }

    fn connect(
        ipc_socket: &Path,
        wayland_socket: &Path,
        private: Option<HeadlessSway>,
    ) -> Result<Self> {
        let mut ipc = SwayIpc::connect(ipc_socket, IPC_TIMEOUT)?;
        let version = ipc.get_version().context("sway GET_VERSION")?;
        if version.variant.as_deref().is_some_and(|v| v != "sway") {
            anyhow::bail!(
                "{} is not sway (variant {:?})",
                ipc_socket.display(),
                version.variant
            );
        }
        let release = Release::for_version(&version);
        tracing::info!(
            version = %version.human_readable,
            ?release,
            wayland = %wayland_socket.display(),
            "sway backend ready"
        );
        Ok(Self {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    ipc,
                    pool: Vec::new(),
                    in_use: BTreeSet::new(),
                }),
                version,
                release,
                wayland_socket: wayland_socket.to_owned(),
                ipc_socket: ipc_socket.to_owned(),
                private,
            }),
        })
    }

    pub fn version(&self) -> &SwayVersion {
        &self.shared.version
    }

    pub fn release_strategy(&self) -> Release {
        self.shared.release
    }

    pub fn wayland_socket(&self) -> &Path {
        &self.shared.wayland_socket
    }

    pub fn ipc_socket(&self) -> &Path {
        &self.shared.ipc_socket
    }

    /// Our own sway, if we started it.
    pub fn private_sway(&self) -> Option<&HeadlessSway> {
        self.shared.private.as_ref()
    }

    /// Current outputs as sway reports them.
    pub fn outputs(&self) -> Result<Vec<IpcOutput>> {
        Ok(self.shared.lock().ipc.get_outputs()?)
    }

    /// Names of parked outputs waiting for reuse (sway 1.7).
    pub fn pooled(&self) -> Vec<String> {
        self.shared.lock().pool.clone()
    }
}

impl VirtualDisplay for SwayBackend {
    fn info(&self) -> CompositorInfo {
        let unplug = self.shared.release == Release::Unplug;
        let mut notes = vec![format!(
            "IPC {}, Wayland {}",
            self.shared.ipc_socket.display(),
            self.shared.wayland_socket.display()
        )];
        if !unplug {
            notes.push(
                "sway < 1.8 cannot remove or disable headless outputs: released displays are \
                 parked at 64x64@1 and reused"
                    .into(),
            );
        }
        if let Some(p) = &self.shared.private {
            notes.push(format!("private headless sway: {}", p.describe()));
        }
        CompositorInfo {
            kind: if self.shared.private.is_some() {
                CompositorKind::PrivateSway
            } else {
                CompositorKind::Sway
            },
            version: format!("sway {}", self.shared.version.human_readable),
            private: self.shared.private.is_some(),
            capabilities: Capabilities {
                custom_modes: true,
                removes_outputs: unplug,
                capture: vec!["wlr-screencopy (shm, damage tracking)".into()],
                notes,
            },
        }
    }

    fn create(&self, mode: Mode, label: &str) -> Result<Box<dyn DisplayHandle>> {
        let mut inner = self.shared.lock();
        let (name, reused) = match inner.pool.pop() {
            Some(name) => (name, true),
            None => (create_output(&mut inner.ipc)?, false),
        };
        let setup = (|| -> Result<()> {
            apply_mode(&mut inner.ipc, &name, mode)?;
            let x = layout_x(&name);
            inner.ipc.run_command(&format!("output {name} pos {x} 0"))?;
            if reused {
                // The previous holder may have painted it.
                set_bg(&mut inner.ipc, &name, DEFAULT_BACKGROUND)?;
            }
            Ok(())
        })();
        if let Err(e) = setup {
            // Give the output back rather than leak it.
            if let Err(e2) = release_output(&mut inner, self.shared.release, &name) {
                tracing::warn!(output = %name, "releasing after a failed create: {e2:#}");
            }
            return Err(e.context(format!("setting up {name} at {mode}")));
        }
        inner.in_use.insert(name.clone());
        tracing::info!(output = %name, %mode, client = label, reused, "created virtual display");
        Ok(Box::new(SwayDisplay {
            shared: self.shared.clone(),
            name,
            mode,
            released: false,
        }))
    }
}

/// One client's output on sway.
pub struct SwayDisplay {
    shared: Arc<Shared>,
    name: String,
    mode: Mode,
    released: bool,
}

impl SwayDisplay {
    fn release(&mut self) -> Result<()> {
        if self.released {
            return Ok(());
        }
        self.released = true;
        let mut inner = self.shared.lock();
        inner.in_use.remove(&self.name);
        release_output(&mut inner, self.shared.release, &self.name)?;
        tracing::info!(output = %self.name, how = ?self.shared.release, "released virtual display");
        Ok(())
    }
}

impl DisplayHandle for SwayDisplay {
    fn name(&self) -> &str {
        &self.name
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn set_mode(&mut self, mode: Mode) -> Result<()> {
        apply_mode(&mut self.shared.lock().ipc, &self.name, mode)?;
        self.mode = mode;
        Ok(())
    }

    fn set_background(&mut self, colour: Rgb) -> Result<()> {
        set_bg(&mut self.shared.lock().ipc, &self.name, colour)
    }

    fn capture_source(&self) -> CaptureSource {
        CaptureSource::WlrOutput {
            wayland_socket: self.shared.wayland_socket.clone(),
            output: self.name.clone(),
        }
    }

    fn app_env(&self) -> BTreeMap<String, String> {
        let mut env = super::wayland_app_env(&self.shared.wayland_socket);
        env.insert(
            "SWAYSOCK".to_string(),
            self.shared.ipc_socket.display().to_string(),
        );
        env
    }

    fn destroy(mut self: Box<Self>) -> Result<()> {
        self.release()
    }

    fn input_sink(&self) -> Result<Box<dyn crate::inject::InputSink>> {
        let sink = crate::inject::wlr::WlrInput::connect(
            &self.shared.wayland_socket,
            &self.name,
            self.mode,
        )?;
        Ok(Box::new(sink))
    }
}

impl Drop for SwayDisplay {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            tracing::warn!(output = %self.name, "releasing virtual display: {e:#}");
        }
    }
}

/// `create_output`, returning the new output's name (the one that was not there before).
fn create_output(ipc: &mut SwayIpc) -> Result<String> {
    let before: BTreeSet<String> = ipc.get_outputs()?.into_iter().map(|o| o.name).collect();
    ipc.run_command("create_output").context(
        "sway create_output (is the headless backend enabled? sway needs it among WLR_BACKENDS)",
    )?;
    let after = ipc.get_outputs()?;
    let mut new: Vec<String> = after
        .into_iter()
        .map(|o| o.name)
        .filter(|n| !before.contains(n))
        .collect();
    match new.len() {
        1 => Ok(new.remove(0)),
        0 => anyhow::bail!("sway accepted create_output but no new output appeared"),
        _ => anyhow::bail!("several outputs appeared at once ({new:?}); cannot tell which is ours"),
    }
}

fn mode_command(name: &str, mode: Mode) -> String {
    let (int, frac) = (mode.refresh_mhz / 1000, mode.refresh_mhz % 1000);
    format!(
        "output {name} mode --custom {}x{}@{int}.{frac:03}Hz",
        mode.width, mode.height
    )
}

/// Sets the mode and checks that sway really applied it.
fn apply_mode(ipc: &mut SwayIpc, name: &str, mode: Mode) -> Result<()> {
    ipc.run_command(&mode_command(name, mode))?;
    let output = find_output(ipc, name)?;
    let current = output.current_mode.unwrap_or_default();
    let refresh_ok = current.refresh.abs_diff(mode.refresh_mhz) <= 1;
    anyhow::ensure!(
        current.width == mode.width && current.height == mode.height && refresh_ok,
        "sway accepted mode {mode} for {name} but reports {}x{}@{}mHz (see sway's log for the \
         failed commit)",
        current.width,
        current.height,
        current.refresh
    );
    Ok(())
}

fn set_bg(ipc: &mut SwayIpc, name: &str, colour: Rgb) -> Result<()> {
    ipc.run_command(&format!("output {name} bg {} solid_color", colour.hex()))?;
    Ok(())
}

fn find_output(ipc: &mut SwayIpc, name: &str) -> Result<IpcOutput> {
    ipc.get_outputs()?
        .into_iter()
        .find(|o| o.name == name)
        .ok_or_else(|| anyhow::anyhow!("output {name} is gone"))
}

fn release_output(inner: &mut Inner, how: Release, name: &str) -> Result<()> {
    match how {
        Release::Unplug => {
            inner.ipc.run_command(&format!("output {name} unplug"))?;
            let still = inner.ipc.get_outputs()?.iter().any(|o| o.name == name);
            anyhow::ensure!(
                !still,
                "sway accepted `output {name} unplug` but still lists it"
            );
        }
        Release::Park => {
            apply_mode(&mut inner.ipc, name, PARK_MODE)?;
            inner.pool.push(name.to_owned());
        }
    }
    Ok(())
}

/// x position of an output in the layout: `HEADLESS-n` → n × spacing; others 0.
fn layout_x(name: &str) -> i64 {
    let n = name
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse::<i64>().ok())
        .unwrap_or(0);
    n.saturating_mul(LAYOUT_SPACING).min(i64::from(i32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(
            mode_command("HEADLESS-2", Mode::new(1920, 1080, 120)),
            "output HEADLESS-2 mode --custom 1920x1080@120.000Hz"
        );
        let m = Mode::parse("1280x720@59.94").expect("mode");
        assert_eq!(
            mode_command("X", m),
            "output X mode --custom 1280x720@59.940Hz"
        );
        assert_eq!(layout_x("HEADLESS-3"), 3 * LAYOUT_SPACING);
        assert_eq!(layout_x("eDP-1"), LAYOUT_SPACING);
        assert_eq!(layout_x("weird"), 0);
    }

    #[test]
    fn release_by_version() {
        let v = |major, minor| SwayVersion {
            major,
            minor,
            patch: 0,
            human_readable: String::new(),
            variant: None,
        };
        assert_eq!(Release::for_version(&v(1, 7)), Release::Park);
        assert_eq!(Release::for_version(&v(1, 8)), Release::Unplug);
        assert_eq!(Release::for_version(&v(1, 10)), Release::Unplug);
        assert_eq!(Release::for_version(&v(2, 0)), Release::Unplug);
    }
}
