//! An app started for a session: run through `sh -c` in its own process group with the session
//! display's environment, watched so that whoever owns it hears when it exits (GameStream then ends
//! the stream — Moonlight shows "the app quit"; punktfunk/1 tells its client), and stopped — the whole
//! group, SIGTERM first, SIGKILL after a grace time — when it is dropped. A GameStream app whose client
//! went away without quitting outlives its stream, parked, and is handed to the stream that resumes it.

use crate::services::settings::AppConfig;
use anyhow::{Context, Result};
use rustix::process::{Pid, Signal};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// Who hears that a [`RunningApp`] exited.
pub trait AppOwner: Send + Sync {
    /// The app's process exited. `by_host`: because the host stopped it (not the app quitting).
    fn app_exited(&self, name: &str, by_host: bool);
}

/// Time the app gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

pub struct RunningApp {
    name: String,
    pgid: Pid,
    /// Set by the watcher when the app has exited (then there is nothing left to stop).
    exited: Arc<AtomicBool>,
    /// Set before the host stops the app, so the watcher does not report that as "the app quit".
    stopping: Arc<AtomicBool>,
    /// Who hears of the app's exit (a dead `Weak`: nobody, e.g. while a GameStream app is parked).
    owner: Arc<Mutex<Weak<dyn AppOwner>>>,
}

impl RunningApp {
    /// Starts `app` with `display_env` (the app's own `env` entries win) and watches it.
    pub fn start(
        app: &AppConfig,
        display_env: &BTreeMap<String, String>,
        owner: Weak<dyn AppOwner>,
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
        let owner = Arc::new(Mutex::new(owner));
        let (name, exited_w, stopping_w) = (app.name.clone(), exited.clone(), stopping.clone());
        let owner_w = owner.clone();
        std::thread::Builder::new()
            .name("app-watch".into())
            .spawn(move || {
                let status = child.wait();
                exited_w.store(true, Ordering::Release);
                tracing::info!(app = %name, ?status, "app exited");
                let owner = owner_w
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .upgrade();
                if let Some(owner) = owner {
                    owner.app_exited(&name, stopping_w.load(Ordering::Acquire));
                }
            })
            .context("starting the app watcher")?;
        tracing::info!(app = %app.name, pid, "app started");
        Ok(RunningApp {
            name: app.name.clone(),
            pgid,
            exited,
            stopping,
            owner,
        })
    }

    /// From now on `owner` hears of the app's exit.
    pub fn hand_to(&self, owner: Weak<dyn AppOwner>) {
        *self.owner.lock().unwrap_or_else(PoisonError::into_inner) = owner;
    }

    /// Whether the app has exited by itself (nothing left to resume).
    pub fn exited(&self) -> bool {
        self.exited.load(Ordering::Acquire)
    }

    pub fn name(&self) -> &str {
        &self.name
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
        tracing::info!(app = %self.name, "app stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what the watcher reported.
    #[derive(Default)]
    struct Recorder {
        exits: Mutex<Vec<(String, bool)>>,
    }

    impl AppOwner for Recorder {
        fn app_exited(&self, name: &str, by_host: bool) {
            self.exits.lock().unwrap().push((name.to_string(), by_host));
        }
    }

    impl Recorder {
        fn exits(&self) -> Vec<(String, bool)> {
            self.exits.lock().unwrap().clone()
        }
    }

    fn app(cmd: &str) -> AppConfig {
        AppConfig {
            name: "test app".into(),
            cmd: cmd.into(),
            working_dir: None,
            env: BTreeMap::from([("APP_OWN".into(), "mine".into())]),
        }
    }

    fn group_alive(pgid: Pid) -> bool {
        // Signal 0 is not in rustix's `Signal`; SIGCONT is harmless to a running or stopped group.
        rustix::process::kill_process_group(pgid, Signal::CONT).is_ok()
    }

    #[test]
    fn an_exiting_app_tells_its_owner_and_had_the_display_env() {
        let dir = std::env::temp_dir().join(format!("pf-app-runner-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("env");
        let config = app(&format!(
            "echo \"$WAYLAND_DISPLAY $APP_OWN\" > {}",
            out.display()
        ));
        let owner = Arc::new(Recorder::default());
        let env = BTreeMap::from([("WAYLAND_DISPLAY".into(), "wayland-test".into())]);
        let weak: Weak<Recorder> = Arc::downgrade(&owner);
        let running = RunningApp::start(&config, &env, weak).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while owner.exits().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(owner.exits(), [("test app".to_string(), false)]);
        assert!(running.exited());
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            "wayland-test mine"
        );
        drop(running);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn stopping_the_app_stops_its_whole_group_and_says_the_host_did_it() {
        // A child that ignores SIGTERM, in the background: the group needs SIGKILL.
        let config = app("trap '' TERM; sleep 30 & sleep 30; wait");
        let owner = Arc::new(Recorder::default());
        let weak: Weak<Recorder> = Arc::downgrade(&owner);
        let running = RunningApp::start(&config, &BTreeMap::new(), weak).unwrap();
        let pgid = running.pgid;
        std::thread::sleep(Duration::from_millis(200));
        assert!(group_alive(pgid));
        let started = Instant::now();
        drop(running);
        assert!(started.elapsed() < GRACE + Duration::from_secs(2));
        let deadline = Instant::now() + Duration::from_secs(2);
        while group_alive(pgid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!group_alive(pgid), "no process of the app is left");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            owner.exits(),
            [("test app".to_string(), true)],
            "the host stopping the app is not the app quitting"
        );
    }
}
