//! Our own private headless sway, for a machine without a desktop session.
//!
//! sway runs with the headless backend and the pixman renderer (no GPU needed), no initial output
//! (`WLR_HEADLESS_OUTPUTS=0`: every output is one we create), no Xwayland, and a config whose only
//! job is a visible default background. It gets a runtime directory of its own (mode 0700), which
//! holds its Wayland socket, its IPC socket (`SWAYSOCK`), its config and its log.
//!
//! sway refuses to run as root, so when we are root it runs as an unprivileged user: `nobody`, or
//! `PUNKTFUNK_SWAY_USER`. Root can still connect to that user's sockets.
//!
//! sway runs in a process group of its own, which its helpers (swaybg) inherit; stopping it
//! signals the whole group and waits until no member is left, then removes the runtime directory.

use super::process_group;
use super::sway_ipc::SwayIpc;
use anyhow::{Context, Result};
use rustix::process::{Pid, Signal};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long sway may take to come up (pixman, no GPU: normally ~100 ms).
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long sway and its helpers get to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// The account sway runs as when we are root, unless PUNKTFUNK_SWAY_USER names another.
const DEFAULT_USER: &str = "nobody";

static INSTANCE: AtomicU32 = AtomicU32::new(0);

/// The unprivileged account sway runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// A running private sway. Dropping it stops sway and its helpers and removes its directory.
pub struct HeadlessSway {
    child: Child,
    dir: PathBuf,
    ipc_socket: PathBuf,
    wayland_socket: PathBuf,
    run_as: Option<RunAs>,
    stopped: bool,
}

impl HeadlessSway {
    /// Starts sway and waits until its IPC answers and its Wayland socket exists.
    pub fn start() -> Result<Self> {
        let sway = find_in_path("sway").ok_or_else(|| {
            anyhow::anyhow!(
                "sway is not installed (no `sway` in PATH); run scripts/setup.sh, which installs it"
            )
        })?;
        let run_as = if rustix::process::geteuid().is_root() {
            let name = std::env::var("PUNKTFUNK_SWAY_USER").unwrap_or_else(|_| DEFAULT_USER.into());
            let passwd = fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
            let user = lookup_user(&passwd, &name).ok_or_else(|| {
                anyhow::anyhow!(
                    "sway refuses to run as root and user {name:?} (PUNKTFUNK_SWAY_USER) is not in \
                     /etc/passwd"
                )
            })?;
            anyhow::ensure!(
                user.uid != 0,
                "PUNKTFUNK_SWAY_USER={name} is root; sway refuses to run as root"
            );
            Some(user)
        } else {
            None
        };

        let dir = make_runtime_dir(run_as.as_ref())?;
        let mut guard = DirGuard(Some(dir.clone()));
        let config = dir.join("config");
        fs::write(&config, config_text()).context("writing the sway config")?;
        fs::set_permissions(&config, fs::Permissions::from_mode(0o644))?;
        let log_path = dir.join("sway.log");
        let log = fs::File::create(&log_path).context("creating the sway log")?;
        let ipc_socket = dir.join("ipc.sock");

        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
        let mut cmd = Command::new(&sway);
        cmd.arg("-c")
            .arg(&config)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &dir)
            .env("XDG_RUNTIME_DIR", &dir)
            .env("XDG_CONFIG_HOME", &dir)
            .env("SWAYSOCK", &ipc_socket)
            .env("WLR_BACKENDS", "headless")
            .env("WLR_RENDERER", "pixman")
            .env("WLR_LIBINPUT_NO_DEVICES", "1")
            .env("WLR_HEADLESS_OUTPUTS", "0")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        if let Some(user) = &run_as {
            // std drops the supplementary groups too when it changes the uid as root.
            cmd.uid(user.uid).gid(user.gid);
        }
        super::process_group::terminate_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", sway.display()))?;
        guard.0 = None; // the HeadlessSway owns the directory now
        let mut me = Self {
            child,
            dir,
            ipc_socket,
            wayland_socket: PathBuf::new(),
            run_as,
            stopped: false,
        };
        if let Err(e) = me.wait_ready() {
            let tail = me.log_tail(15);
            drop(me);
            return Err(e.context(format!(
                "private headless sway did not start; its log:\n{tail}"
            )));
        }
        tracing::info!(
            pid = me.pid(),
            user = me.run_as.as_ref().map_or("(self)", |u| u.name.as_str()),
            dir = %me.dir.display(),
            "started a private headless sway"
        );
        Ok(me)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("sway exited during start-up ({status})");
            }
            if self.ipc_socket.exists()
                && let Some(wayland) = find_wayland_socket(&self.dir)?
                && SwayIpc::connect(&self.ipc_socket, Duration::from_secs(2))
                    .and_then(|mut ipc| ipc.get_version())
                    .is_ok()
            {
                self.wayland_socket = wayland;
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "sway did not answer on {} within {START_TIMEOUT:?}",
                self.ipc_socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn ipc_socket(&self) -> &Path {
        &self.ipc_socket
    }

    pub fn wayland_socket(&self) -> &Path {
        &self.wayland_socket
    }

    pub fn runtime_dir(&self) -> &Path {
        &self.dir
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The user sway runs as, when we are root.
    pub fn run_as(&self) -> Option<&RunAs> {
        self.run_as.as_ref()
    }

    /// One line for logs and `compositor-probe`.
    pub fn describe(&self) -> String {
        let user = match &self.run_as {
            Some(u) => format!("user {} (uid {})", u.name, u.uid),
            None => "our own user".into(),
        };
        format!(
            "pid {} as {user}, runtime dir {}",
            self.pid(),
            self.dir.display()
        )
    }

    /// The last `lines` lines of sway's log.
    pub fn log_tail(&self, lines: usize) -> String {
        process_group::log_tail(&self.dir.join("sway.log"), lines)
    }

    /// Stops sway and every process of its group, then removes the runtime directory.
    pub fn stop(mut self) -> Result<()> {
        self.terminate()
    }

    fn terminate(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let pgid = Pid::from_raw(self.child.id() as i32)
            .ok_or_else(|| anyhow::anyhow!("sway has an invalid pid"))?;
        let _ = rustix::process::kill_process_group(pgid, Signal::TERM);
        let deadline = Instant::now() + STOP_GRACE;
        while self.child.try_wait()?.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if self.child.try_wait()?.is_none() {
            tracing::warn!("private sway ignored SIGTERM; killing it");
            let _ = rustix::process::kill_process_group(pgid, Signal::KILL);
            self.child.wait()?;
        }
        // Helpers sway started (swaybg) are in the same group; make sure none outlives it.
        process_group::empty_group(pgid, STOP_GRACE, "the private sway", || {})?;
        fs::remove_dir_all(&self.dir)
            .with_context(|| format!("removing {}", self.dir.display()))?;
        tracing::info!("stopped the private headless sway");
        Ok(())
    }
}

impl Drop for HeadlessSway {
    fn drop(&mut self) {
        if let Err(e) = self.terminate() {
            tracing::warn!("stopping the private sway: {e:#}");
        }
    }
}

/// Removes a half-made runtime directory if start-up fails before sway runs.
struct DirGuard(Option<PathBuf>);

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

fn config_text() -> String {
    format!(
        "# Written by punktfunk-host for its private headless sway.\n\
         xwayland disable\n\
         default_border none\n\
         output * bg {} solid_color\n",
        super::DEFAULT_BACKGROUND.hex()
    )
}

/// Makes `<base>/punktfunk-sway-<pid>-<n>` with mode 0700, owned by the user sway runs as.
/// As root the base is /run/punktfunk (TMPDIR may be private to root); otherwise XDG_RUNTIME_DIR
/// or the temp directory.
fn make_runtime_dir(run_as: Option<&RunAs>) -> Result<PathBuf> {
    let base = if run_as.is_some() {
        let base = PathBuf::from("/run/punktfunk");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&base)
            .with_context(|| format!("creating {}", base.display()))?;
        base
    } else {
        process_group::default_runtime_base()
    };
    let n = INSTANCE.fetch_add(1, Ordering::Relaxed);
    let dir = process_group::fresh_runtime_dir(&base, "punktfunk-sway", n)?;
    if let Some(user) = run_as {
        std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid))
            .with_context(|| format!("giving {} to {}", dir.display(), user.name))?;
    }
    Ok(dir)
}

fn find_wayland_socket(dir: &Path) -> Result<Option<PathBuf>> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("wayland-")
            && !name.ends_with(".lock")
            && entry.file_type()?.is_socket()
        {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

pub fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Looks `name` up in passwd(5) text.
pub fn lookup_user(passwd: &str, name: &str) -> Option<RunAs> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some(RunAs {
            name: name.to_owned(),
            uid,
            gid,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lookup() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
                      broken:x:abc\n";
        assert_eq!(
            lookup_user(passwd, "nobody"),
            Some(RunAs {
                name: "nobody".into(),
                uid: 65534,
                gid: 65534
            })
        );
        assert_eq!(lookup_user(passwd, "broken"), None);
        assert_eq!(lookup_user(passwd, "nob"), None);
    }

    #[test]
    fn config_has_visible_background() {
        assert!(config_text().contains("output * bg #3a6ea5 solid_color"));
    }
}
