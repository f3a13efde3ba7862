//! A configured app started for a GameStream session: run through `sh -c` in its own process group
//! with the session display's environment, watched so that its exit ends the stream (Moonlight then
//! shows "the app quit"), and stopped — the whole group — when the session ends first.

use super::stream::Session;
use crate::settings::AppConfig;
use anyhow::{Context, Result};
use rustix::process::{Pid, Signal};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::Weak;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Time the app gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

pub struct RunningApp {
    name: String,
    pgid: Pid,
    /// Set by the watcher when the app has exited (then there is nothing left to stop).
    exited: Arc<AtomicBool>,
    /// Set before the host stops the app, so the watcher does not report that as "the app quit".
    stopping: Arc<AtomicBool>,
}

impl RunningApp {
    /// Starts `app` with `display_env` (the app's own `env` entries win) and watches it.
    pub fn start(
        app: &AppConfig,
        display_env: &BTreeMap<String, String>,
        session: Weak<Session>,
    ) -> Result<RunningApp> {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&app.cmd)
            .envs(display_env)
            .envs(&app.env)
            .stdin(Stdio::null())
            .process_group(0);
        if let Some(dir) = &app.working_dir {
            command.current_dir(dir);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("running {:?}", app.cmd))?;
        let pid = i32::try_from(child.id()).context("child pid out of range")?;
        let pgid = Pid::from_raw(pid).context("child pid 0")?;
        let exited = Arc::new(AtomicBool::new(false));
        let stopping = Arc::new(AtomicBool::new(false));
        let (name, exited_w, stopping_w) = (app.name.clone(), exited.clone(), stopping.clone());
        std::thread::Builder::new()
            .name("gs-app-watch".into())
            .spawn(move || {
                let status = child.wait();
                exited_w.store(true, Ordering::Release);
                tracing::info!(app = %name, ?status, "GameStream app exited");
                if !stopping_w.load(Ordering::Acquire)
                    && let Some(session) = session.upgrade()
                {
                    session.end(&format!("the app {name} exited"));
                }
            })
            .context("starting the app watcher")?;
        tracing::info!(app = %app.name, pid, "GameStream app started");
        Ok(RunningApp {
            name: app.name.clone(),
            pgid,
            exited,
            stopping,
        })
    }
}

impl Drop for RunningApp {
    /// Stops the app's whole process group: SIGTERM, then SIGKILL after the grace time.
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        let deadline = Instant::now() + GRACE;
        let mut signal = Signal::TERM;
        loop {
            // ESRCH: nothing of the group is left (the watcher has reaped the leader).
            if rustix::process::kill_process_group(self.pgid, signal).is_err() {
                break;
            }
            if self.exited.load(Ordering::Acquire) && signal == Signal::KILL {
                break;
            }
            if Instant::now() >= deadline {
                if signal == Signal::KILL {
                    tracing::warn!(app = %self.name, "app processes survive SIGKILL");
                    break;
                }
                signal = Signal::KILL;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        tracing::info!(app = %self.name, "GameStream app stopped");
    }
}
