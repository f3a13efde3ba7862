//! Which compositor are we in? Decided from the session's environment as a pure function, so each
//! rule is testable; `--compositor` overrides it.
//!
//! Not consulted yet: D-Bus names (`org.gnome.Mutter.ScreenCast`, `org.kde.KWin`). They arrive with
//! the Mutter/KWin backends, which bring a D-Bus client; until then XDG_CURRENT_DESKTOP decides.

use anyhow::Result;
use std::fmt;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompositorKind {
    /// The user's running sway, reached through SWAYSOCK.
    Sway,
    /// A headless sway that punktfunk starts and owns (no desktop session).
    PrivateSway,
    Mutter,
    Kwin,
    Gamescope,
    /// A Wayland session we have no backend for (the reason says which).
    Unsupported,
}

impl CompositorKind {
    /// Parses a `--compositor` value.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "sway" | "wlroots" => Self::Sway,
            "headless" | "private-sway" | "own" => Self::PrivateSway,
            "mutter" | "gnome" => Self::Mutter,
            "kwin" | "kde" => Self::Kwin,
            "gamescope" => Self::Gamescope,
            other => anyhow::bail!(
                "unknown compositor {other:?}; expected one of: sway, headless, mutter, kwin, gamescope"
            ),
        })
    }
}

impl fmt::Display for CompositorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sway => "sway",
            Self::PrivateSway => "private headless sway",
            Self::Mutter => "Mutter",
            Self::Kwin => "KWin",
            Self::Gamescope => "gamescope",
            Self::Unsupported => "an unsupported compositor",
        })
    }
}

/// The parts of the environment detection looks at.
#[derive(Clone, Debug, Default)]
pub struct SessionEnv {
    pub wayland_display: Option<String>,
    pub swaysock: Option<PathBuf>,
    /// Whether `swaysock` names an existing socket file.
    pub swaysock_exists: bool,
    pub xdg_current_desktop: Option<String>,
    pub xdg_runtime_dir: Option<PathBuf>,
    pub gamescope_wayland_display: Option<String>,
}

impl SessionEnv {
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let swaysock = var("SWAYSOCK").map(PathBuf::from);
        let swaysock_exists = swaysock.as_deref().is_some_and(|p| p.exists());
        Self {
            wayland_display: var("WAYLAND_DISPLAY"),
            swaysock,
            swaysock_exists,
            xdg_current_desktop: var("XDG_CURRENT_DESKTOP"),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
            gamescope_wayland_display: var("GAMESCOPE_WAYLAND_DISPLAY"),
        }
    }

    /// The Wayland socket path WAYLAND_DISPLAY names (relative names live in XDG_RUNTIME_DIR).
    pub fn wayland_socket(&self) -> Option<PathBuf> {
        let display = self.wayland_display.as_deref()?;
        let path = PathBuf::from(display);
        if path.is_absolute() {
            Some(path)
        } else {
            Some(self.xdg_runtime_dir.as_ref()?.join(path))
        }
    }
}

/// The chosen compositor and the evidence for it (logged, and shown by `compositor-probe`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    pub kind: CompositorKind,
    pub reason: String,
}

impl Detection {
    pub fn forced(kind: CompositorKind) -> Self {
        Self {
            kind,
            reason: "forced with --compositor".into(),
        }
    }
}

pub fn detect(env: &SessionEnv) -> Detection {
    let found = |kind, reason: String| Detection { kind, reason };
    if let Some(sock) = &env.swaysock
        && env.swaysock_exists
    {
        return found(
            CompositorKind::Sway,
            format!("SWAYSOCK={} is a live socket", sock.display()),
        );
    }
    let desktops: Vec<String> = env
        .xdg_current_desktop
        .as_deref()
        .unwrap_or("")
        .split(':')
        .map(str::to_ascii_lowercase)
        .collect();
    let desktop_is = |name: &str| desktops.iter().any(|d| d == name);
    let desktop = env.xdg_current_desktop.as_deref().unwrap_or("");
    if env.gamescope_wayland_display.is_some() || desktop_is("gamescope") {
        return found(
            CompositorKind::Gamescope,
            "GAMESCOPE_WAYLAND_DISPLAY or XDG_CURRENT_DESKTOP=gamescope is set".into(),
        );
    }
    if desktop_is("gnome") || desktop_is("ubuntu") {
        return found(
            CompositorKind::Mutter,
            format!("XDG_CURRENT_DESKTOP={desktop}"),
        );
    }
    if desktop_is("kde") {
        return found(
            CompositorKind::Kwin,
            format!("XDG_CURRENT_DESKTOP={desktop}"),
        );
    }
    if desktop_is("sway") {
        return found(
            CompositorKind::Unsupported,
            format!(
                "XDG_CURRENT_DESKTOP={desktop} but SWAYSOCK is {}; sway's IPC socket is needed to \
                 create outputs",
                match &env.swaysock {
                    Some(p) => format!("{} (no such socket)", p.display()),
                    None => "unset".into(),
                }
            ),
        );
    }
    if let Some(display) = &env.wayland_display {
        return found(
            CompositorKind::Unsupported,
            format!(
                "WAYLAND_DISPLAY={display} with XDG_CURRENT_DESKTOP={desktop:?}: no backend for this \
                 compositor (supported: sway via SWAYSOCK; or unset WAYLAND_DISPLAY / use \
                 --compositor headless for a private headless sway)"
            ),
        );
    }
    found(
        CompositorKind::PrivateSway,
        "no desktop session (no SWAYSOCK, WAYLAND_DISPLAY or XDG_CURRENT_DESKTOP): starting a \
         private headless sway"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_box_gets_private_sway() {
        assert_eq!(
            detect(&SessionEnv::default()).kind,
            CompositorKind::PrivateSway
        );
    }

    #[test]
    fn live_swaysock_wins() {
        let env = SessionEnv {
            swaysock: Some("/run/user/1000/sway-ipc.sock".into()),
            swaysock_exists: true,
            wayland_display: Some("wayland-1".into()),
            xdg_current_desktop: Some("GNOME".into()),
            ..Default::default()
        };
        assert_eq!(detect(&env).kind, CompositorKind::Sway);
    }

    #[test]
    fn desktops() {
        let with = |desktop: &str| SessionEnv {
            wayland_display: Some("wayland-0".into()),
            xdg_current_desktop: Some(desktop.into()),
            ..Default::default()
        };
        assert_eq!(detect(&with("ubuntu:GNOME")).kind, CompositorKind::Mutter);
        assert_eq!(detect(&with("KDE")).kind, CompositorKind::Kwin);
        assert_eq!(detect(&with("gamescope")).kind, CompositorKind::Gamescope);
        let stale = detect(&with("sway"));
        assert_eq!(stale.kind, CompositorKind::Unsupported);
        assert!(stale.reason.contains("SWAYSOCK"), "{}", stale.reason);
        assert_eq!(detect(&with("Hyprland")).kind, CompositorKind::Unsupported);
    }

    #[test]
    fn wayland_socket_path() {
        let env = SessionEnv {
            wayland_display: Some("wayland-1".into()),
            xdg_runtime_dir: Some("/run/user/1000".into()),
            ..Default::default()
        };
        assert_eq!(
            env.wayland_socket(),
            Some(PathBuf::from("/run/user/1000/wayland-1"))
        );
        let abs = SessionEnv {
            wayland_display: Some("/tmp/x/wayland-9".into()),
            ..Default::default()
        };
        assert_eq!(
            abs.wayland_socket(),
            Some(PathBuf::from("/tmp/x/wayland-9"))
        );
    }

    #[test]
    fn forced_names() {
        assert_eq!(
            CompositorKind::parse("headless").expect("parse"),
            CompositorKind::PrivateSway
        );
        assert_eq!(
            CompositorKind::parse("SWAY").expect("parse"),
            CompositorKind::Sway
        );
        assert!(CompositorKind::parse("weston").is_err());
    }
}
