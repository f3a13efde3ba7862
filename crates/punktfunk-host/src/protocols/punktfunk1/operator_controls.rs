//! What the management API and the console may do to a running punktfunk/1 session: stop it,
//! ask for a keyframe, launch or end a library title on its display.

use crate::protocols::punktfunk1::data_plane::SessionControl;
use crate::services::sessions::SessionControls;
use crate::shared::apps::SessionApp;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// What the management API may do to a punktfunk/1 session.
pub(super) struct OperatorControls {
    pub(super) control: Arc<SessionControl>,
    pub(super) stop: tokio::sync::watch::Sender<Option<String>>,
    pub(super) app: Arc<SessionApp>,
}

impl SessionControls for OperatorControls {
    fn stop(&self, reason: &str) {
        let _ = self.stop.send(Some(reason.to_string()));
    }

    fn request_keyframe(&self) {
        self.control
            .video
            .keyframe_requested
            .store(true, Ordering::Relaxed);
    }

    fn launch(&self, title: &crate::services::library::Title) -> std::result::Result<(), String> {
        self.app.launch(title)
    }

    fn end_app(&self) -> bool {
        self.app.end("ended by the host operator")
    }
}
