//! An app started for a session: run through `sh -c` in its own process group with the session
//! display's environment, watched so that whoever owns it hears when it exits (GameStream then ends
//! the stream — Moonlight shows "the app quit"; punktfunk/1 tells its client), and stopped — the whole
//! group and every process [`Followed`] finds, SIGTERM first, SIGKILL after a grace time — when it is
//! dropped. The app has exited when its launcher has and none of its followed processes is left
//! (a store launcher that hands the game to a running client: once the game is gone). A GameStream
//! app whose client went away without quitting outlives its stream, parked, and is handed to the
//! stream that resumes it.

use super::followed::Followed;
use crate::services::settings::AppConfig;
use anyhow::{Context, Result};
use rustix::process::{Pid, Signal};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
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
/// How long after a store launcher handed a game off the game may take to appear (a store client
/// that is not running yet starts, signs in, maybe updates the game first).
const HAND_OFF_WAIT: Duration = Duration::from_secs(90);
/// How often the followed processes are looked for once the launcher is not the whole app.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

pub struct RunningApp {
    name: String,
    pgid: Pid,
    /// Set by the watcher when the app has exited (then there is nothing left to stop).
    exited: Arc<AtomicBool>,
    /// Set before the host stops the app, so the watcher does not report that as "the app quit".
    stopping: Arc<AtomicBool>,
    /// Who hears of the app's exit (a dead `Weak`: nobody, e.g. while a GameStream app is parked).
    owner: Arc<Mutex<Weak<dyn AppOwner>>>,
    /// The app's processes outside its group.
    followed: Followed,
}

impl RunningApp {
    /// Starts `app` with `display_env` (the app's own `env` entries win) and watches it.
    pub fn start(
        app: &AppConfig,
        display_env: &BTreeMap<String, String>,
        owner: Weak<dyn AppOwner>,
    ) -> Result<RunningApp> {
        let followed = Followed::for_command(&app.cmd);
        let (token_var, token) = followed.env();
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&app.cmd)
            .envs(display_env)
            .envs(&app.env)
            .env(token_var, token)
            .stdin(Stdio::null())
            .process_group(0);
        if let Some(dir) = &app.working_dir {
            command.current_dir(dir);
        }
        let child = command
            .spawn()
            .with_context(|| format!("running {:?}", app.cmd))?;
        let pid = i32::try_from(child.id()).context("child pid out of range")?;
        let pgid = Pid::from_raw(pid).context("child pid 0")?;
        let exited = Arc::new(AtomicBool::new(false));
        let stopping = Arc::new(AtomicBool::new(false));
        let owner = Arc::new(Mutex::new(owner));
        let watch = Watch {
            name: app.name.clone(),
            followed: followed.clone(),
            stopping: stopping.clone(),
        };
        let (exited_w, stopping_w, owner_w) = (exited.clone(), stopping.clone(), owner.clone());
        std::thread::Builder::new()
            .name("app-watch".into())
            .spawn(move || {
                let store_client = watch.until_gone(child);
                exited_w.store(true, Ordering::Release);
                let owner = owner_w
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .upgrade();
                if let Some(owner) = owner {
                    owner.app_exited(&watch.name, stopping_w.load(Ordering::Acquire));
                }
                // A store client this launch started outlives the game; it is reaped when it ends
                // (at the latest when the app is dropped and its group stopped).
                if let Some(mut client) = store_client {
                    let _ = client.wait();
                }
            })
            .context("starting the app watcher")?;
        tracing::info!(
            app = %app.name,
            pid,
            hands_off = followed.hands_off(),
            "app started"
        );
        Ok(RunningApp {
            name: app.name.clone(),
            pgid,
            exited,
            stopping,
            owner,
            followed,
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
    /// Stops the app's whole process group and its followed processes: SIGTERM, then SIGKILL after
    /// the grace time.
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        let deadline = Instant::now() + GRACE;
        let mut signal = Signal::TERM;
        loop {
            // ESRCH: nothing of the group is left (the watcher has reaped the leader).
            let group = rustix::process::kill_process_group(self.pgid, signal).is_ok();
            let followed = self.followed.processes();
            for pid in &followed {
                // It may have exited since it was found: nothing to stop then.
                let _ = rustix::process::kill_process(*pid, signal);
            }
            if !group && followed.is_empty() {
                break;
            }
            if self.exited.load(Ordering::Acquire) && followed.is_empty() && signal == Signal::KILL
            {
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

/// Follows a started app until none of it is left (or the host stops it).
struct Watch {
    name: String,
    followed: Followed,
    stopping: Arc<AtomicBool>,
}

impl Watch {
    /// Returns once the app is gone: with the launcher when it still runs (a store client this
    /// launch started, which outlives the game).
    fn until_gone(&self, mut launcher: Child) -> Option<Child> {
        if !self.followed.hands_off() {
            let status = launcher.wait();
            tracing::info!(app = %self.name, ?status, "app launcher exited");
            // What it started in the background (and out of its group) is still the app.
            self.while_followed_run();
            return None;
        }
        // A store launch: the game's processes say whether the app runs. Until the first appears,
        // the launcher does (a store client started by this launch is the launcher itself), or the
        // hand-off wait after it exited.
        let mut give_up = None;
        loop {
            if self.stopping.load(Ordering::Acquire) {
                return Some(launcher);
            }
            if !self.followed.processes().is_empty() {
                tracing::info!(app = %self.name, "the store started the game");
                self.while_followed_run();
                return match launcher.try_wait() {
                    Ok(None) => Some(launcher),
                    _ => None,
                };
            }
            match launcher.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) if status.success() => {
                    let until = *give_up.get_or_insert_with(|| Instant::now() + HAND_OFF_WAIT);
                    if Instant::now() >= until {
                        tracing::warn!(
                            app = %self.name,
                            "the store launcher handed the game off, but it never started"
                        );
                        return None;
                    }
                }
                // A launcher that failed handed nothing off.
                Ok(Some(status)) => {
                    tracing::info!(app = %self.name, ?status, "app launcher exited");
                    return None;
                }
                Err(e) => {
                    tracing::warn!(app = %self.name, "waiting for the app launcher: {e}");
                    return Some(launcher);
                }
            }
            std::thread::sleep(FOLLOW_EVERY);
        }
    }

    /// Returns when no followed process is left, or the host stops the app.
    fn while_followed_run(&self) {
        while !self.stopping.load(Ordering::Acquire) && !self.followed.processes().is_empty() {
            std::thread::sleep(FOLLOW_EVERY);
        }
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

    fn wait_for_exit(owner: &Recorder, within: Duration) -> Option<Duration> {
        let started = Instant::now();
        while owner.exits().is_empty() {
            if started.elapsed() > within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(started.elapsed())
    }

    /// An app id no real Steam game on this machine has.
    fn unused_steam_app_id() -> u32 {
        900_000_000 + rand::random::<u32>() % 90_000_000
    }

    #[test]
    fn what_a_launcher_leaves_running_in_the_background_is_still_the_app() {
        // Out of the app's group (its own session), as a daemonizing launcher leaves its game.
        let config = app("setsid sleep 1.5 & exit 0");
        let owner = Arc::new(Recorder::default());
        let weak: Weak<Recorder> = Arc::downgrade(&owner);
        let running = RunningApp::start(&config, &BTreeMap::new(), weak).unwrap();
        let after = wait_for_exit(&owner, Duration::from_secs(10)).expect("the app ended");
        assert!(
            after >= Duration::from_millis(1000),
            "reported after {after:?}: the launcher's exit is not the app's"
        );
        assert_eq!(owner.exits(), [("test app".to_string(), false)]);
        drop(running);
    }

    #[test]
    fn a_game_a_store_client_starts_is_followed_until_it_exits() {
        // What Steam does with `steam steam://rungameid/<id>` when it already runs: the launcher
        // exits at once, and the game starts outside the app's tree, with Steam's environment
        // (no token) and `SteamAppId`.
        let id = unused_steam_app_id();
        let config = app(&format!(
            ": steam://rungameid/{id}; \
             (sleep 0.5; env -u {TOKEN} SteamAppId={id} setsid sleep 2) & exit 0",
            TOKEN = super::super::followed::TOKEN_VAR
        ));
        let owner = Arc::new(Recorder::default());
        let weak: Weak<Recorder> = Arc::downgrade(&owner);
        let running = RunningApp::start(&config, &BTreeMap::new(), weak).unwrap();
        let after = wait_for_exit(&owner, Duration::from_secs(15)).expect("the game ended");
        assert!(
            after >= Duration::from_millis(2000),
            "reported after {after:?}, before the game ended"
        );
        assert_eq!(owner.exits(), [("test app".to_string(), false)]);
        assert!(running.exited());
    }

    #[test]
    fn ending_a_game_a_store_client_started_stops_it() {
        let id = unused_steam_app_id();
        let dir = std::env::temp_dir().join(format!("pf-app-handoff-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("game.pid");
        let config = app(&format!(
            ": steam://rungameid/{id}; \
             env -u {TOKEN} SteamAppId={id} setsid sh -c 'echo $$ > {pid}; exec sleep 300' & exit 0",
            TOKEN = super::super::followed::TOKEN_VAR,
            pid = pid_file.display()
        ));
        let owner = Arc::new(Recorder::default());
        let weak: Weak<Recorder> = Arc::downgrade(&owner);
        let running = RunningApp::start(&config, &BTreeMap::new(), weak).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let game = loop {
            let written = std::fs::read_to_string(&pid_file).unwrap_or_default();
            if let Ok(pid) = written.trim().parse::<i32>() {
                break Pid::from_raw(pid).unwrap();
            }
            assert!(Instant::now() < deadline, "the game did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(1500));
        assert!(
            owner.exits().is_empty(),
            "the launcher's exit ended the app"
        );
        assert!(rustix::process::test_kill_process(game).is_ok());
        drop(running);
        let deadline = Instant::now() + Duration::from_secs(3);
        while rustix::process::test_kill_process(game).is_ok() {
            assert!(Instant::now() < deadline, "the game survived End game");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            wait_for_exit(&owner, Duration::from_secs(5)).map(|_| owner.exits()),
            Some(vec![("test app".to_string(), true)])
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
