//! `/launch`, `/resume` and `/cancel`: where a Moonlight session starts and ends. Streaming
//! (RTSP, control, video, audio) is not wired to GameStream yet, so a launch is refused with the
//! reference's "could not start" status (503) and a message saying why, instead of handing out an
//! RTSP URL nothing would answer. Nothing can therefore be running: `/resume` has nothing to resume
//! and `/cancel` has nothing to end.

use super::apps::{self, GameStreamApp};
use punktfunk_core::gamestream::nvhttp::{self, LaunchRequest};
use std::num::NonZeroU32;

const NOT_YET: &str =
    "this host does not stream to Moonlight yet (GameStream video is not implemented)";

pub fn launch(apps: &[GameStreamApp], request: &LaunchRequest) -> String {
    let Some(app) = request.app_id.and_then(|id| apps::find(apps, id)) else {
        return nvhttp::error_xml(404, "no such app on this host");
    };
    tracing::info!(app = %app.title, "Moonlight asked to launch; refused: {NOT_YET}");
    nvhttp::error_xml(503, NOT_YET)
}

pub fn resume(_request: &LaunchRequest) -> String {
    nvhttp::error_xml(503, "nothing is running that could be resumed")
}

pub fn cancel() -> String {
    nvhttp::cancel_xml()
}

/// The app id `/serverinfo` reports as running.
pub fn current_game() -> Option<NonZeroU32> {
    None
}
