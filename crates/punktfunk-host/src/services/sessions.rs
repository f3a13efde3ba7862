//! Every live streaming session of either protocol, as the management API and the console see them:
//! who is connected, at which mode, on which display, how it is going — and what an operator can do
//! to a session (stop it, force a keyframe, launch a library title on its display and end it).

use crate::services::events::{EventBus, HostEvent};
pub use crate::services::session_info::{DisplayInfo, SessionInfo, SessionState, SessionStats};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// What an operator can do to a running session; each protocol implements it for its sessions.
pub trait SessionControls: Send + Sync {
    /// Ends the session; the client is told `reason`.
    fn stop(&self, reason: &str);
    fn request_keyframe(&self);
    /// Starts `title` on the session's display (stopping a title launched before); `Err` says why
    /// it cannot. Protocols without launching keep the default.
    fn launch(&self, title: &crate::services::library::Title) -> Result<(), String> {
        let _ = title;
        Err("this session's protocol cannot launch library titles".into())
    }
    /// Ends the launched title (politely, forced after a grace time); false when none runs.
    fn end_app(&self) -> bool {
        false
    }
}

struct Entry {
    info: SessionInfo,
    controls: Arc<dyn SessionControls>,
}

#[derive(Default)]
pub struct SessionRegistry {
    sessions: Mutex<HashMap<String, Entry>>,
    events: EventBus,
}

impl SessionRegistry {
    pub fn new(events: EventBus) -> Arc<SessionRegistry> {
        Arc::new(SessionRegistry {
            sessions: Mutex::default(),
            events,
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic elsewhere while holding the lock cannot leave the map half-updated (every
        // operation is a single insert/remove/field store), so the data is still good.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lists a session until the returned guard is dropped (its end reason can be set on the guard).
    pub fn register(
        self: &Arc<Self>,
        info: SessionInfo,
        controls: Arc<dyn SessionControls>,
    ) -> SessionGuard {
        let id = info.id.clone();
        self.events.publish(HostEvent::SessionStarted {
            session: Box::new(info.clone()),
        });
        self.table().insert(id.clone(), Entry { info, controls });
        SessionGuard {
            registry: self.clone(),
            id,
            reason: Mutex::new("session ended".into()),
        }
    }

    /// Sessions ordered by start time (then id), oldest first.
    pub fn list(&self) -> Vec<SessionInfo> {
        let mut all: Vec<SessionInfo> = self.table().values().map(|e| e.info.clone()).collect();
        all.sort_by(|a, b| (a.started_unix, &a.id).cmp(&(b.started_unix, &b.id)));
        all
    }

    pub fn get(&self, id: &str) -> Option<SessionInfo> {
        self.table().get(id).map(|e| e.info.clone())
    }

    pub fn len(&self) -> usize {
        self.table().len()
    }

    pub fn is_empty(&self) -> bool {
        self.table().is_empty()
    }

    /// Asks a session to end; false when there is no such session.
    pub fn stop(&self, id: &str, reason: &str) -> bool {
        // Call out without holding the lock: a protocol may deregister synchronously.
        let controls = self.table().get(id).map(|e| e.controls.clone());
        controls.map(|c| c.stop(reason)).is_some()
    }

    /// Forces a keyframe on a session; false when there is no such session.
    pub fn request_keyframe(&self, id: &str) -> bool {
        let controls = self.table().get(id).map(|e| e.controls.clone());
        controls.map(|c| c.request_keyframe()).is_some()
    }

    /// Launches `title` on a session's display; `None` when there is no such session.
    pub fn launch(
        &self,
        id: &str,
        title: &crate::services::library::Title,
    ) -> Option<Result<(), String>> {
        let controls = self.table().get(id).map(|e| e.controls.clone());
        controls.map(|c| c.launch(title))
    }

    /// Ends a session's launched title: `None` when there is no such session, `Some(false)` when it
    /// runs none.
    pub fn end_app(&self, id: &str) -> Option<bool> {
        let controls = self.table().get(id).map(|e| e.controls.clone());
        controls.map(|c| c.end_app())
    }

    /// Records what runs on a session's display — its library title id (`None` for a configured
    /// app) and its name (`None`: nothing) — and publishes it.
    pub fn set_app(&self, id: &str, app: Option<String>, app_name: Option<String>) {
        if let Some(entry) = self.table().get_mut(id) {
            entry.info.app = app.clone();
            entry.info.app_name = app_name.clone();
        } else {
            return;
        }
        self.events.publish(HostEvent::SessionApp {
            id: id.to_string(),
            app,
            app_name,
        });
    }

    /// Records a session's latest stats and publishes them.
    pub fn update_stats(&self, id: &str, stats: SessionStats) {
        if let Some(entry) = self.table().get_mut(id) {
            entry.info.stats = stats.clone();
        } else {
            return;
        }
        self.events.publish(HostEvent::SessionStats {
            id: id.to_string(),
            stats,
        });
    }
}

/// Keeps a session listed; dropping it removes the session and publishes its end.
pub struct SessionGuard {
    registry: Arc<SessionRegistry>,
    id: String,
    reason: Mutex<String>,
}

impl SessionGuard {
    /// The listed session's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Why the session ended, reported when the guard drops.
    pub fn set_end_reason(&self, reason: &str) {
        *self.reason.lock().unwrap_or_else(PoisonError::into_inner) = reason.to_string();
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.registry.table().remove(&self.id);
        let reason =
            std::mem::take(&mut *self.reason.lock().unwrap_or_else(PoisonError::into_inner));
        self.registry.events.publish(HostEvent::SessionEnded {
            id: self.id.clone(),
            reason,
        });
        crate::services::memory::session_ended();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Default)]
    struct Recorder {
        stops: AtomicU32,
        keyframes: AtomicU32,
    }

    impl SessionControls for Recorder {
        fn stop(&self, _reason: &str) {
            self.stops.fetch_add(1, Ordering::SeqCst);
        }
        fn request_keyframe(&self) {
            self.keyframes.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn info(id: &str, started: u64) -> SessionInfo {
        SessionInfo {
            id: id.into(),
            protocol: "punktfunk1".into(),
            client_name: "probe".into(),
            client_id: None,
            remote: "127.0.0.1:5000".into(),
            width: 1280,
            height: 720,
            refresh_mhz: 60_000,
            codec: "H264".into(),
            started_unix: started,
            display: None,
            stats: SessionStats::default(),
            state: SessionState::Streaming,
            app: None,
            app_name: None,
        }
    }

    #[test]
    fn register_list_control_and_drop() {
        let bus = EventBus::default();
        let registry = SessionRegistry::new(bus.clone());
        let mut events = bus.subscribe();
        let controls = Arc::new(Recorder::default());
        let b = registry.register(info("b", 2), controls.clone());
        let a = registry.register(info("a", 1), controls.clone());
        let ids: Vec<String> = registry.list().into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["a", "b"], "oldest first");

        assert!(registry.stop("a", "operator"));
        assert!(registry.request_keyframe("b"));
        assert!(!registry.stop("nope", "operator"));
        assert_eq!(controls.stops.load(Ordering::SeqCst), 1);
        assert_eq!(controls.keyframes.load(Ordering::SeqCst), 1);

        registry.update_stats(
            "b",
            SessionStats {
                fps: 60.0,
                ..Default::default()
            },
        );
        assert_eq!(registry.get("b").unwrap().stats.fps, 60.0);
        registry.set_app("b", Some("desktop:tux".into()), Some("Tux".into()));
        assert_eq!(
            registry.get("b").unwrap().app.as_deref(),
            Some("desktop:tux")
        );
        registry.set_app("gone", None, None);
        assert_eq!(
            registry.end_app("b"),
            Some(false),
            "the default launches nothing"
        );
        assert_eq!(registry.end_app("gone"), None);

        a.set_end_reason("operator stopped it");
        drop(a);
        drop(b);
        assert_eq!(registry.len(), 0);
        let kinds: Vec<String> = std::iter::from_fn(|| events.try_recv().ok())
            .map(|e| {
                serde_json::to_value(e).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "session_started",
                "session_started",
                "session_stats",
                "session_app",
                "session_ended",
                "session_ended"
            ]
        );
    }
}
