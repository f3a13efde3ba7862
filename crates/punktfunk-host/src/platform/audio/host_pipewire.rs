//! Which PipeWire the host's audio nodes (session sinks, virtual microphones) live in, chosen once
//! at `serve` start:
//!
//! 1. the session's PipeWire when its socket answers (`PIPEWIRE_REMOTE`, `PIPEWIRE_RUNTIME_DIR`,
//!    `XDG_RUNTIME_DIR`, as libpipewire looks it up) — a desktop, or a user service with linger;
//! 2. otherwise, when there is no desktop session (the case where `serve` also starts its own
//!    headless sway), a private D-Bus + PipeWire + WirePlumber that `serve` starts and owns
//!    ([`PrivateSession`], the same one `audio-session` runs), plus `pipewire-pulse` when installed;
//! 3. otherwise (a desktop session without a reachable PipeWire) none: sessions get no audio and the
//!    log says why.
//!
//! The choice is process-wide: [`connect_fd`] hands every node a socket to the chosen daemon, and
//! [`app_env`] points apps launched on our displays at it.

use crate::platform::vdisplay::private_session::PrivateSession;
use crate::platform::vdisplay::{CompositorKind, SessionEnv, detect};
use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The socket of the PipeWire chosen by [`HostPipewire::open`].
static CHOSEN: OnceLock<PathBuf> = OnceLock::new();

const DEFAULT_NAME: &str = "pipewire-0";

/// The PipeWire the host uses; a private one stops when this is dropped.
pub struct HostPipewire {
    /// Ours, started because there was no desktop session and no PipeWire; `None` when the session's
    /// is used or none is usable (the reason was logged).
    _private: Option<PrivateSession>,
}

impl HostPipewire {
    /// Chooses (and, on a bare machine, starts) the PipeWire for this process; logs the choice and
    /// why.
    pub fn open() -> HostPipewire {
        let socket = session_socket(&EnvLookup::process());
        if let Some(path) = &socket
            && reachable(path)
        {
            tracing::info!(
                socket = %path.display(),
                "audio: using the session's PipeWire (its socket answers)"
            );
            let _ = CHOSEN.set(path.clone());
            return HostPipewire { _private: None };
        }
        let looked = socket.as_deref().map_or_else(
            || "no PIPEWIRE_RUNTIME_DIR or XDG_RUNTIME_DIR".to_owned(),
            |p| format!("nothing answers at {}", p.display()),
        );
        let session = detect(&SessionEnv::from_process());
        if session.kind != CompositorKind::PrivateSway {
            tracing::warn!(
                "audio: no PipeWire for this {} session ({looked}); sessions get no audio \
                 (start the desktop's PipeWire, or run the host inside the desktop session)",
                session.kind
            );
            return HostPipewire { _private: None };
        }
        match start_private() {
            Ok(private) => {
                tracing::info!(
                    dir = %private.runtime_dir().display(),
                    "audio: no desktop session and no PipeWire ({looked}): started a private \
                     PipeWire + WirePlumber"
                );
                let _ = CHOSEN.set(private.pipewire_socket());
                // Machine-readable, next to READY: where to play into the sessions' sinks from.
                crate::services::status_line::status_line!(
                    "PIPEWIRE private runtime_dir={}",
                    private.runtime_dir().display()
                );
                HostPipewire {
                    _private: Some(private),
                }
            }
            Err(e) => {
                tracing::warn!(
                    "audio: no desktop session, no PipeWire ({looked}), and the private one did \
                     not start: {e:#}; sessions get no audio"
                );
                HostPipewire { _private: None }
            }
        }
    }
}

fn start_private() -> anyhow::Result<PrivateSession> {
    let mut private = PrivateSession::start("punktfunk-audio", "the private PipeWire", &[])?;
    // PulseAudio-only apps (many games) reach the sinks through pipewire-pulse, when installed.
    match crate::platform::vdisplay::headless::find_in_path("pipewire-pulse") {
        Some(pulse) => {
            let cmd = private.command(&pulse, "pipewire-pulse")?;
            private.spawn(cmd, "pipewire-pulse")?;
            tracing::info!("audio: started pipewire-pulse for PulseAudio apps");
        }
        None => tracing::info!(
            "audio: pipewire-pulse is not installed; PulseAudio-only apps will have no sound"
        ),
    }
    Ok(private)
}

/// A connected socket to the chosen PipeWire, for `pw_context_connect_fd`; `None` means the
/// default lookup (nothing was chosen: `audio-session` and the tests).
pub fn connect_fd() -> anyhow::Result<Option<std::os::fd::OwnedFd>> {
    let Some(path) = CHOSEN.get() else {
        return Ok(None);
    };
    let stream = UnixStream::connect(path)
        .map_err(|e| anyhow::anyhow!("connecting to PipeWire at {}: {e}", path.display()))?;
    Ok(Some(stream.into()))
}

/// Environment for apps on our displays: the chosen PipeWire (and its PulseAudio socket).
pub fn app_env() -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if let Some(path) = CHOSEN.get()
        && let (Some(dir), Some(name)) = (path.parent(), path.file_name())
    {
        env.insert("PIPEWIRE_RUNTIME_DIR".into(), dir.display().to_string());
        env.insert(
            "PIPEWIRE_REMOTE".into(),
            name.to_string_lossy().into_owned(),
        );
        let pulse = dir.join("pulse").join("native");
        if pulse.exists() {
            env.insert("PULSE_SERVER".into(), format!("unix:{}", pulse.display()));
        }
    }
    env
}

/// The environment variables the socket lookup reads.
#[derive(Default)]
pub struct EnvLookup {
    pub remote: Option<String>,
    pub pipewire_runtime_dir: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
}

impl EnvLookup {
    pub fn process() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        EnvLookup {
            remote: var("PIPEWIRE_REMOTE"),
            pipewire_runtime_dir: var("PIPEWIRE_RUNTIME_DIR").map(PathBuf::from),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
        }
    }
}

/// Where libpipewire would look for the daemon's socket: `PIPEWIRE_REMOTE` (a name, or an absolute
/// path) in `PIPEWIRE_RUNTIME_DIR`, else `XDG_RUNTIME_DIR`.
pub fn session_socket(env: &EnvLookup) -> Option<PathBuf> {
    let name = env.remote.as_deref().unwrap_or(DEFAULT_NAME);
    if name.starts_with('/') {
        return Some(PathBuf::from(name));
    }
    let dir = env
        .pipewire_runtime_dir
        .as_ref()
        .or(env.xdg_runtime_dir.as_ref())?;
    Some(dir.join(name))
}

/// Whether a PipeWire daemon accepts connections at `socket`.
pub fn reachable(socket: &Path) -> bool {
    // A connect to a Unix socket succeeds at once or is refused; it never waits for the peer.
    UnixStream::connect(socket).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_lookup_follows_libpipewire() {
        let env = |remote: Option<&str>, pw: Option<&str>, xdg: Option<&str>| EnvLookup {
            remote: remote.map(str::to_owned),
            pipewire_runtime_dir: pw.map(PathBuf::from),
            xdg_runtime_dir: xdg.map(PathBuf::from),
        };
        assert_eq!(session_socket(&env(None, None, None)), None);
        assert_eq!(
            session_socket(&env(None, None, Some("/run/user/1000"))),
            Some(PathBuf::from("/run/user/1000/pipewire-0"))
        );
        assert_eq!(
            session_socket(&env(None, Some("/tmp/pw"), Some("/run/user/1000"))),
            Some(PathBuf::from("/tmp/pw/pipewire-0"))
        );
        assert_eq!(
            session_socket(&env(Some("pipewire-1"), None, Some("/run/user/1"))),
            Some(PathBuf::from("/run/user/1/pipewire-1"))
        );
        assert_eq!(
            session_socket(&env(Some("/x/sock"), None, None)),
            Some(PathBuf::from("/x/sock"))
        );
    }

    #[test]
    fn nothing_answers_at_a_missing_socket() {
        assert!(!reachable(Path::new("/nonexistent/pipewire-0")));
    }
}
