//! Per-client virtual displays: one compositor output per client at exactly its WxH@Hz.
//!
//! [`VirtualDisplay`] is one compositor backend (sway, Mutter; KWin as far as 5.27 runs here;
//! gamescope is version-checked and refused below 3.12). It creates
//! [`DisplayHandle`]s; each names its output and says where to capture it ([`CaptureSource`]).
//! [`open`] detects the session's compositor (or takes `--compositor`), logs what it chose and
//! why, and starts a private headless sway when there is no desktop session at all.
//!
//! `serve` and `compositor-probe` use these backends; mode changes in place, backgrounds and some
//! accessors are so far only exercised by tests (clients cannot change mode mid-session yet), hence
//! the allowance below.
#![allow(dead_code)]

mod detect;
pub mod gamescope;
pub mod headless;
pub mod kwin;
pub mod mutter;
pub mod mutter_session;
#[cfg(test)]
mod mutter_tests;
pub mod private_session;
mod probe;
mod process_group;
pub mod sway;
pub mod sway_ipc;
pub mod sway_pool;
#[cfg(test)]
mod sway_tests;
/// Test windows drawn on a virtual display (solid colours, animation) to check what capture sees.
#[cfg(test)]
pub mod test_client;

pub use detect::{CompositorKind, Detection, SessionEnv, detect};
#[allow(unused_imports)] // main.rs wires `compositor-probe` to it
pub use probe::compositor_probe;

use crate::platform::capture::CaptureSource;
use anyhow::Result;
use std::collections::BTreeMap;

pub use punktfunk_core::mode::Mode;

/// An sRGB colour, for display backgrounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// The default background of displays on our own compositor: a calm blue, never black (real
/// clients wait for a non-black frame before they show anything).
pub const DEFAULT_BACKGROUND: Rgb = Rgb(0x3a, 0x6e, 0xa5);

/// What a backend can do, for logs and `compositor-probe`.
#[derive(Clone, Debug, Default)]
pub struct Capabilities {
    /// Creates outputs at arbitrary custom modes.
    pub custom_modes: bool,
    /// Removes outputs it created (otherwise they are pooled and reused).
    pub removes_outputs: bool,
    /// Capture methods, best first (e.g. "wlr-screencopy v3 (shm)").
    pub capture: Vec<String>,
    /// Anything else worth knowing (input protocols, limitations).
    pub notes: Vec<String>,
}

/// Who the backend talks to.
#[derive(Clone, Debug)]
pub struct CompositorInfo {
    pub kind: CompositorKind,
    /// e.g. "sway 1.7"
    pub version: String,
    /// True when punktfunk started this compositor itself (no desktop session was found).
    pub private: bool,
    pub capabilities: Capabilities,
}

/// A compositor backend that creates per-client displays. Shared by all sessions.
pub trait VirtualDisplay: Send + Sync {
    fn info(&self) -> CompositorInfo;

    /// Creates a display at exactly `mode`. `label` names the client in logs.
    fn create(&self, mode: Mode, label: &str) -> Result<Box<dyn DisplayHandle>>;
}

/// One client's display. Dropping it releases it too (errors are then only logged); call
/// [`DisplayHandle::destroy`] to see them.
pub trait DisplayHandle: Send {
    /// The compositor's name for the output, e.g. "HEADLESS-3".
    fn name(&self) -> &str;

    fn mode(&self) -> Mode;

    /// Changes the mode in place (the client changed its resolution or rate).
    fn set_mode(&mut self, mode: Mode) -> Result<()>;

    /// Paints the display's background.
    fn set_background(&mut self, colour: Rgb) -> Result<()> {
        let _ = colour;
        anyhow::bail!("this compositor backend cannot paint display backgrounds")
    }

    /// Where frames of this display come from.
    fn capture_source(&self) -> CaptureSource;

    /// Environment an app needs to connect to this display's compositor (the app still has to be
    /// placed on this output, which is compositor specific).
    fn app_env(&self) -> BTreeMap<String, String>;

    /// Releases the display and everything it took.
    fn destroy(self: Box<Self>) -> Result<()>;

    /// An input sink bound to this display alone: absolute coordinates span this display and
    /// nothing else.
    fn input_sink(&self) -> Result<Box<dyn crate::platform::inject::InputSink>> {
        anyhow::bail!("this compositor backend has no input injection yet")
    }
}

/// `WAYLAND_DISPLAY` (an absolute socket path, which libwayland accepts) and its runtime dir.
pub fn wayland_app_env(socket: &std::path::Path) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("WAYLAND_DISPLAY".to_string(), socket.display().to_string());
    if let Some(dir) = socket.parent() {
        env.insert("XDG_RUNTIME_DIR".to_string(), dir.display().to_string());
    }
    env
}

/// For a compositor of the user's own session: what this process inherited from it.
pub fn inherited_app_env() -> BTreeMap<String, String> {
    [
        "WAYLAND_DISPLAY",
        "XDG_RUNTIME_DIR",
        "DBUS_SESSION_BUS_ADDRESS",
        "DISPLAY",
    ]
    .into_iter()
    .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
    .collect()
}

/// Detects the compositor (or uses `force`, the `--compositor` value) and opens its backend.
pub fn open(force: Option<&str>) -> Result<Box<dyn VirtualDisplay>> {
    let env = SessionEnv::from_process();
    let detection = match force {
        Some(name) => Detection::forced(CompositorKind::parse(name)?),
        None => detect(&env),
    };
    tracing::info!(
        compositor = %detection.kind,
        reason = %detection.reason,
        "virtual displays: chose compositor"
    );
    open_detected(&detection, &env)
}

/// Opens the backend for an already made detection.
pub fn open_detected(detection: &Detection, env: &SessionEnv) -> Result<Box<dyn VirtualDisplay>> {
    match detection.kind {
        CompositorKind::Sway => Ok(Box::new(sway::SwayBackend::connect_session(env)?)),
        CompositorKind::PrivateSway => Ok(Box::new(sway::SwayBackend::start_private()?)),
        CompositorKind::Mutter => Ok(Box::new(mutter::MutterBackend::open(env)?)),
        CompositorKind::Kwin => Ok(Box::new(kwin::KwinBackend::start_private()?)),
        CompositorKind::Gamescope => match gamescope::open()? {},
        other => anyhow::bail!(
            "{other} was detected ({}), but this build has no {other} backend yet \
             (only sway/wlroots; use --compositor headless to run a private headless sway)",
            detection.reason
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_parse_and_display() {
        let m = Mode::parse("1920x1080@120").expect("parse");
        assert_eq!(m, Mode::new(1920, 1080, 120));
        assert_eq!(m.to_string(), "1920x1080@120");
        let m = Mode::parse("2560x1440@59.951Hz").expect("parse");
        assert_eq!(m.refresh_mhz, 59951);
        assert_eq!(m.to_string(), "2560x1440@59.951");
        for bad in [
            "",
            "1920x1080",
            "1920@60",
            "0x10@60",
            "10x10@0",
            "axb@c",
            "10x10@nan",
        ] {
            assert!(Mode::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn rgb_hex() {
        assert_eq!(DEFAULT_BACKGROUND.hex(), "#3a6ea5");
    }
}
