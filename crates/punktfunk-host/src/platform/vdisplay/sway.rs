//! Virtual displays on sway: headless outputs made with `create_output`, set to the client's exact
//! mode with `output NAME mode --custom WxH@RHz`, captured with wlr-screencopy.
//!
//! Removing them depends on the version:
//! - sway ≥ 1.8: `output NAME unplug` destroys the output.
//! - sway 1.7 has no way to remove an output, and its headless backend (wlroots 0.15) cannot even
//!   disable one (`output NAME disable` is answered with success, the commit fails with
//!   "Unsupported output state fields: 0x8", and the stored `enable 0` then blocks every later
//!   change to that output until `enable`). So released outputs go back to a pool that the next
//!   `create` reuses (the pool never outgrows the most displays ever in use at once):
//!   - *warm* first: kept at the mode they had, with the default background painted again. A
//!     later session at the same mode takes one with no IPC at all. An idle warm output costs
//!     next to no CPU (no views and no screencopy client: wlroots' frame timer fires, sway finds no
//!     damage and renders nothing — measured ≈ 0.4 % of a core for 1080p60, 1 % for 4K120) but
//!     holds its render buffers (≈ 65 MB at 4K), so at most a few stay warm, and only for a while.
//!   - then *parked*: shrunk to 64×64 (freeing the buffers) at [`PARK_MODE`]'s refresh.
//!
//! Why the refresh of a pooled output matters: wlroots 0.15's headless frame timer keeps the delay
//! of the mode it was armed with, so after a mode change the first frame a screencopy client asks
//! for waits until the *old* timer fires. Parked at 1 Hz that was up to a second (≈ 0.8 s from
//! connect to first datagram for every session after the first); parked at 30 Hz it is ≤ 33 ms.
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
use crate::platform::capture::CaptureSource;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

pub use super::sway_pool::{PARK_MODE, Pooled, Release, WARM_FOR, WARM_MAX, pick_pooled, to_park};

const IPC_TIMEOUT: Duration = Duration::from_secs(5);
/// The mode of the output a private sway 1.7 starts with in its pool: the most common client
/// mode. Another mode re-modes it, which is still faster than making an output (its frame timer
/// ticks at 60 Hz; see the module docs); after [`WARM_FOR`] unused it is parked like any other.
pub const FIRST_OUTPUT_MODE: Mode = Mode::new(1920, 1080, 60);
/// How often the housekeeping thread looks for warm outputs to park.
const PARK_TICK: Duration = Duration::from_millis(250);
/// Layout spacing between our outputs: wider than any mode, so outputs never touch.
const LAYOUT_SPACING: i64 = 20_000;

struct Inner {
    ipc: SwayIpc,
    /// Released outputs ready for reuse (sway 1.7), warm or parked.
    pool: Vec<Pooled>,
    /// Outputs currently handed out.
    in_use: BTreeSet<String>,
    warm_max: usize,
    warm_for: Duration,
}

impl Inner {
    /// Parks the warm outputs that are warm for too long and, with `by_count`, those beyond
    /// `warm_max`. The housekeeping thread leaves the count to releases: a park that sway refuses
    /// is then retried at the next release, not every tick.
    fn park_expired(&mut self, now: Instant, by_count: bool) {
        let max = if by_count { self.warm_max } else { usize::MAX };
        // From the back, so removing one does not move the others.
        for i in to_park(&self.pool, now, max, self.warm_for)
            .into_iter()
            .rev()
        {
            let name = self.pool[i].name.clone();
            let t = Instant::now();
            match apply_mode(&mut self.ipc, &name, PARK_MODE) {
                Ok(()) => {
                    self.pool[i].mode = PARK_MODE;
                    tracing::debug!(output = %name, took = ?t.elapsed(), "parked a warm output");
                }
                Err(e) if find_output(&mut self.ipc, &name).is_err() => {
                    tracing::warn!(output = %name, "a pooled output vanished: {e:#}");
                    self.pool.remove(i);
                    continue;
                }
                // It stays warm (and usable at its mode); try again after another `warm_for`.
                Err(e) => tracing::warn!(output = %name, "parking a warm output: {e:#}"),
            }
            self.pool[i].since = now;
        }
    }
}

struct Shared {
    /// Its own `Arc` so the housekeeping thread can hold it weakly without keeping a private sway
    /// alive (that is stopped when the last `Shared` goes).
    inner: Arc<Mutex<Inner>>,
    version: SwayVersion,
    release: Release,
    wayland_socket: PathBuf,
    ipc_socket: PathBuf,
    /// Our own sway, when we started it. Declared last: it is stopped after everything else.
    private: Option<HeadlessSway>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock_inner(&self.inner)
    }
}

fn lock_inner(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A panic while holding the lock leaves only the pool bookkeeping behind; keep going.
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

/// Parks warm outputs once they expire; ends when the backend is gone.
fn spawn_parker(inner: Weak<Mutex<Inner>>) -> Result<()> {
    std::thread::Builder::new()
        .name("sway-pool".into())
        .spawn(move || {
            loop {
                std::thread::sleep(PARK_TICK);
                let Some(inner) = inner.upgrade() else { return };
                let mut inner = lock_inner(&inner);
                inner.park_expired(Instant::now(), false);
            }
        })
        .context("starting the sway output pool thread")?;
    Ok(())
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
    ///
    /// With sway 1.7 it starts with one output already in the pool (see [`FIRST_OUTPUT_MODE`]):
    /// making an output (and the swaybg that paints it) costs the first session ≈ 50–80 ms that
    /// taking a pooled one does not. Only for our own sway: on a user's sway it would be a
    /// monitor appearing on their desktop before anyone connects.
    pub fn start_private() -> Result<Self> {
        let sway = HeadlessSway::start()?;
        let ipc = sway.ipc_socket().to_owned();
        let wayland = sway.wayland_socket().to_owned();
        let backend = Self::connect(&ipc, &wayland, Some(sway))?;
        if backend.shared.release == Release::Park
            && let Err(e) = backend.prefill(FIRST_OUTPUT_MODE)
        {
            // Only the first session's start-up is slower without it.
            tracing::warn!("pooling a first output: {e:#}");
        }
        Ok(backend)
    }

    /// Makes an output at `mode` and puts it in the pool, warm.
    fn prefill(&self, mode: Mode) -> Result<()> {
        let mut inner = self.shared.lock();
        let name = create_output(&mut inner.ipc)?;
        apply_mode_at(&mut inner.ipc, &name, mode, Some(layout_x(&name)))?;
        inner.pool.push(Pooled {
            name,
            mode,
            since: Instant::now(),
        });
        Ok(())
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
        let inner = Arc::new(Mutex::new(Inner {
            ipc,
            pool: Vec::new(),
            in_use: BTreeSet::new(),
            warm_max: WARM_MAX,
            warm_for: WARM_FOR,
        }));
        if release == Release::Park {
            spawn_parker(Arc::downgrade(&inner))?;
        }
        Ok(Self {
            shared: Arc::new(Shared {
                inner,
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

    /// Names of released outputs waiting for reuse, warm or parked (sway 1.7).
    pub fn pooled(&self) -> Vec<String> {
        self.shared
            .lock()
            .pool
            .iter()
            .map(|p| p.name.clone())
            .collect()
    }

    /// Released outputs waiting for reuse, with their modes (sway 1.7).
    pub fn pool(&self) -> Vec<Pooled> {
        self.shared.lock().pool.clone()
    }

    /// How many released outputs stay warm, and for how long (defaults [`WARM_MAX`],
    /// [`WARM_FOR`]); `0` parks every output as soon as it is released. Applies at once.
    pub fn set_warm_pool(&self, max: usize, keep: Duration) {
        let mut inner = self.shared.lock();
        inner.warm_max = max;
        inner.warm_for = keep;
        inner.park_expired(Instant::now(), true);
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
                 kept warm at their mode for a while (a few at most), then parked at 64x64, and \
                 reused"
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
        let t = Instant::now();
        let mut inner = self.shared.lock();
        let pooled = pick_pooled(&inner.pool, mode).map(|i| inner.pool.remove(i));
        // Reused outputs keep their layout spot (it follows the name) and had the default
        // background painted again when they were released, so only a different mode needs a
        // change. One GET_OUTPUTS (≈ 1 ms) checks that nobody else re-moded or removed it
        // meanwhile (a session's own sway is shared with its user).
        let (name, reused, setup) = match pooled {
            Some(p) if p.mode == mode && reports_mode(&mut inner.ipc, &p.name, mode) => {
                (p.name, "same mode", Ok(()))
            }
            Some(p) => {
                let from = if p.is_warm() { "warm" } else { "parked" };
                let set = apply_mode(&mut inner.ipc, &p.name, mode);
                (p.name, from, set)
            }
            None => {
                let name = create_output(&mut inner.ipc)?;
                let x = layout_x(&name);
                // Mode and position in one command: one output commit instead of two.
                let set = apply_mode_at(&mut inner.ipc, &name, mode, Some(x));
                (name, "new", set)
            }
        };
        if let Err(e) = setup {
            // Give the output back rather than leak it, unless it is gone (then pooling it again
            // would only fail the next create too).
            match find_output(&mut inner.ipc, &name) {
                Ok(output) => {
                    let current = output.current_mode.map_or(PARK_MODE, |m| Mode {
                        width: m.width,
                        height: m.height,
                        refresh_mhz: m.refresh,
                    });
                    if let Err(e2) = release_output(&mut inner, self.shared.release, &name, current)
                    {
                        tracing::warn!(output = %name, "releasing after a failed create: {e2:#}");
                    }
                }
                Err(gone) => tracing::warn!(output = %name, "not pooled again: {gone:#}"),
            }
            return Err(e.context(format!("setting up {name} at {mode}")));
        }
        inner.in_use.insert(name.clone());
        tracing::info!(
            output = %name, %mode, client = label, from = reused, took = ?t.elapsed(),
            "created virtual display"
        );
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
        release_output(&mut inner, self.shared.release, &self.name, self.mode)?;
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

    fn input_sink(&self) -> Result<Box<dyn crate::platform::inject::InputSink>> {
        let sink = crate::platform::inject::wlr::WlrInput::connect(
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
    apply_mode_at(ipc, name, mode, None)
}

/// Sets the mode (and the layout x position, if given) and checks that sway applied the mode.
fn apply_mode_at(ipc: &mut SwayIpc, name: &str, mode: Mode, x: Option<i64>) -> Result<()> {
    let mut command = mode_command(name, mode);
    if let Some(x) = x {
        command.push_str(&format!(" pos {x} 0"));
    }
    ipc.run_command(&command)?;
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

/// Whether sway lists `name` at exactly `mode` (false on any IPC error: the caller then sets it).
fn reports_mode(ipc: &mut SwayIpc, name: &str, mode: Mode) -> bool {
    find_output(ipc, name)
        .ok()
        .and_then(|o| o.current_mode)
        .is_some_and(|m| {
            (m.width, m.height) == (mode.width, mode.height)
                && m.refresh.abs_diff(mode.refresh_mhz) <= 1
        })
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

/// Gives an output at `mode` back: unplugs it, or pools it warm (default background painted again,
/// so the next client does not see the last one's colour) and parks what is then too much.
fn release_output(inner: &mut Inner, how: Release, name: &str, mode: Mode) -> Result<()> {
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
            // Pooled even if repainting fails: a reused output with the wrong colour beats one
            // leaked for good.
            let painted = set_bg(&mut inner.ipc, name, DEFAULT_BACKGROUND);
            inner.pool.push(Pooled {
                name: name.to_owned(),
                mode,
                since: Instant::now(),
            });
            inner.park_expired(Instant::now(), true);
            painted?;
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
}
