//! The library title a session's client (or the console) launched onto the session's display. At
//! most one at a time: launching another stops the first. It is stopped — SIGTERM to its process
//! group, SIGKILL after a grace time ([`RunningApp`]) — on "End game" and when the session ends;
//! whoever owns the session hears of every start and end through one callback.

use super::{AppOwner, RunningApp};
use crate::services::library::Title;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

/// A launched title started or ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppEvent {
    Started { title_id: String, name: String },
    Ended { title_id: String, reason: String },
}

/// Hears of every [`AppEvent`]; called from whichever thread noticed it, never under a lock.
pub type Notify = Arc<dyn Fn(AppEvent) + Send + Sync>;

struct Launched {
    title_id: String,
    app: RunningApp,
    /// The exit watcher's owner: alive exactly as long as this is the session's app, so an app
    /// that was already replaced or ended never reports its exit as the current one's.
    watch: Arc<ExitWatch>,
}

type Slot = Mutex<Option<Launched>>;

fn lock(slot: &Slot) -> MutexGuard<'_, Option<Launched>> {
    // The slot is replaced whole; a panic elsewhere cannot leave it half-written.
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Hears the launched app's exit.
struct ExitWatch {
    title_id: String,
    notify: Notify,
    slot: Weak<Slot>,
}

impl AppOwner for ExitWatch {
    fn app_exited(&self, _name: &str, by_host: bool) {
        // A stop by the host is reported by whoever stopped it (with its reason).
        if by_host {
            return;
        }
        let Some(slot) = self.slot.upgrade() else {
            return;
        };
        let gone = {
            let mut current = lock(&slot);
            let ours = current
                .as_ref()
                .is_some_and(|l| std::ptr::eq(Arc::as_ptr(&l.watch), self));
            if ours { current.take() } else { None }
        };
        if let Some(gone) = gone {
            // The leader exited; dropping also ends whatever it left behind in its group.
            drop(gone);
            (self.notify)(AppEvent::Ended {
                title_id: self.title_id.clone(),
                reason: "the app exited".into(),
            });
        }
    }
}

/// A session's launched title, if any.
pub struct SessionApp {
    /// The display's environment; `None` when the session streams no display.
    env: Option<BTreeMap<String, String>>,
    /// The compositor's name for the session's output (focused before a launch, see [`focus`]).
    output: Option<String>,
    slot: Arc<Slot>,
    notify: Notify,
    /// Set when the session is ending: it stays listed a moment longer, but launches nothing more.
    closed: AtomicBool,
}

impl SessionApp {
    pub fn new(
        env: Option<BTreeMap<String, String>>,
        output: Option<String>,
        notify: Notify,
    ) -> SessionApp {
        SessionApp {
            env,
            output,
            slot: Arc::default(),
            notify,
            closed: AtomicBool::new(false),
        }
    }

    /// Starts `title` on the session's display; a title already running is stopped (in the
    /// background, so this never waits out its grace time).
    pub fn launch(&self, title: &Title) -> Result<(), String> {
        let Some(env) = &self.env else {
            return Err("this session streams no display a title could run on".into());
        };
        let watch = Arc::new(ExitWatch {
            title_id: title.id.clone(),
            notify: self.notify.clone(),
            slot: Arc::downgrade(&self.slot),
        });
        if let Some(output) = &self.output {
            focus(env, output);
        }
        let previous = {
            // Held across the start: an app that exits at once must find itself in the slot.
            let mut current = lock(&self.slot);
            // Checked under the lock `stop_blocking` takes, so no launch slips in behind it.
            if self.closed.load(Ordering::Acquire) {
                return Err("the session is ending".into());
            }
            let owner: Weak<ExitWatch> = Arc::downgrade(&watch);
            let app = RunningApp::start(&title.app_config(), env, owner)
                .map_err(|e| format!("{} did not start: {e:#}", title.name))?;
            current.replace(Launched {
                title_id: title.id.clone(),
                app,
                watch,
            })
        };
        if let Some(previous) = previous {
            self.stop_in_background(previous, format!("{} was launched instead", title.name));
        }
        (self.notify)(AppEvent::Started {
            title_id: title.id.clone(),
            name: title.name.clone(),
        });
        Ok(())
    }

    /// "End game": stops the running title (politely first, see [`RunningApp`]) without waiting;
    /// false when none runs.
    pub fn end(&self, reason: &str) -> bool {
        let taken = lock(&self.slot).take();
        match taken {
            Some(launched) => {
                self.stop_in_background(launched, reason.to_string());
                true
            }
            None => false,
        }
    }

    /// Stops the running title and waits until it is gone (session teardown; blocking — call it
    /// off the async runtime).
    pub fn stop_blocking(&self, reason: &str) {
        let taken = {
            let mut current = lock(&self.slot);
            self.closed.store(true, Ordering::Release);
            current.take()
        };
        if let Some(launched) = taken {
            stop(launched, reason, &self.notify);
        }
    }

    /// The running title's id.
    #[cfg(test)]
    pub fn running(&self) -> Option<String> {
        lock(&self.slot)
            .as_ref()
            .filter(|l| !l.app.exited())
            .map(|l| l.title_id.clone())
    }

    fn stop_in_background(&self, launched: Launched, reason: String) {
        let notify = self.notify.clone();
        let spawned = std::thread::Builder::new()
            .name("app-stop".into())
            .spawn(move || stop(launched, &reason, &notify));
        if let Err(e) = spawned {
            // The app is dropped with the closure, which stops it here instead.
            tracing::warn!("no thread to stop the app on: {e}");
        }
    }
}

/// On sway, focuses the session's output: a new window opens on the focused output, and with several
/// sessions on one compositor that would otherwise be whichever the user touched last. Best effort:
/// other compositors place windows by themselves, and a failure costs only the placement.
fn focus(env: &BTreeMap<String, String>, output: &str) {
    let Some(socket) = env.get("SWAYSOCK") else {
        return;
    };
    let focused = crate::platform::vdisplay::sway_ipc::SwayIpc::connect(
        std::path::Path::new(socket),
        std::time::Duration::from_secs(2),
    )
    .map_err(|e| format!("{e}"))
    .and_then(|mut ipc| {
        // Output names are the compositor's own (HEADLESS-2); quoted all the same.
        ipc.run_command(&format!("focus output \"{}\"", output.replace('"', "")))
            .map_err(|e| format!("{e}"))
    });
    if let Err(e) = focused {
        tracing::warn!(
            output,
            "could not focus the session's output before a launch: {e}"
        );
    }
}

fn stop(launched: Launched, reason: &str, notify: &Notify) {
    let Launched { title_id, app, .. } = launched;
    drop(app);
    notify(AppEvent::Ended {
        title_id,
        reason: reason.to_string(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::library::Source;
    use std::sync::mpsc;
    use std::time::Duration;

    fn title(id: &str, argv: &[&str]) -> Title {
        Title {
            id: id.into(),
            name: format!("name of {id}"),
            source: Source::Desktop,
            launch: argv.iter().map(|a| a.to_string()).collect(),
            art: None,
            working_dir: None,
        }
    }

    fn session_app(
        env: Option<BTreeMap<String, String>>,
    ) -> (SessionApp, mpsc::Receiver<AppEvent>) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let notify: Notify = Arc::new(move |event| {
            let _ = tx.lock().unwrap().send(event);
        });
        (SessionApp::new(env, None, notify), rx)
    }

    fn next(rx: &mpsc::Receiver<AppEvent>) -> AppEvent {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("an app event")
    }

    #[test]
    fn a_title_that_quits_is_reported_and_forgotten() {
        let (apps, rx) = session_app(Some(BTreeMap::new()));
        apps.launch(&title("desktop:quick", &["true"])).unwrap();
        assert!(
            matches!(next(&rx), AppEvent::Started { title_id, .. } if title_id == "desktop:quick")
        );
        assert_eq!(
            next(&rx),
            AppEvent::Ended {
                title_id: "desktop:quick".into(),
                reason: "the app exited".into()
            }
        );
        assert_eq!(apps.running(), None);
    }

    #[test]
    fn launching_replaces_and_end_stops_with_the_reason() {
        let (apps, rx) = session_app(Some(BTreeMap::new()));
        apps.launch(&title("desktop:a", &["sleep", "30"])).unwrap();
        assert!(matches!(next(&rx), AppEvent::Started { .. }));
        apps.launch(&title("desktop:b", &["sleep", "30"])).unwrap();
        let mut events = [next(&rx), next(&rx)];
        events.sort_by_key(|e| matches!(e, AppEvent::Ended { .. }));
        assert!(
            matches!(&events[0], AppEvent::Started { title_id, .. } if title_id == "desktop:b")
        );
        assert!(matches!(&events[1], AppEvent::Ended { title_id, .. } if title_id == "desktop:a"));
        assert_eq!(apps.running().as_deref(), Some("desktop:b"));
        assert!(apps.end("End game"));
        assert_eq!(
            next(&rx),
            AppEvent::Ended {
                title_id: "desktop:b".into(),
                reason: "End game".into()
            }
        );
        assert!(!apps.end("again"), "nothing left to end");
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    }

    #[test]
    fn an_ending_session_launches_nothing_more() {
        let (apps, rx) = session_app(Some(BTreeMap::new()));
        apps.stop_blocking("the session ended");
        assert!(apps.launch(&title("desktop:a", &["sleep", "30"])).is_err());
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_session_without_a_display_cannot_launch() {
        let (apps, rx) = session_app(None);
        assert!(apps.launch(&title("desktop:a", &["true"])).is_err());
        assert!(rx.try_recv().is_err());
    }
}
