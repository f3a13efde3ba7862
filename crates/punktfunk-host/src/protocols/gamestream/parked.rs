//! A stream parked when its client went away without quitting (Moonlight's "Resume" picks it up):
//! the resources it leaves running — display with capture, audio sink, app — and their release.
//! Which stream is parked, for whom and until when is decided in `parking.rs`; this file only
//! holds and lets go of the real things.

use super::parking::ParkedFacts;
use super::stream_params::LaunchRequest;
use crate::platform::audio::AudioSource;
use crate::services::sessions::SessionGuard;
use crate::shared::apps::RunningApp;
use crate::stream::VideoSource;
use std::time::Instant;

/// What a stream leaves running when its client goes away without quitting, until the client
/// resumes or quits: the display with its capture, the audio sink the app plays into, and the app.
pub struct Parked {
    /// The launch that created all this (app, mode, client).
    pub request: LaunchRequest,
    /// Name of the audio sink (the app was started with it as `PULSE_SINK`).
    pub audio_name: String,
    pub source: Option<VideoSource>,
    pub audio: Option<Box<dyn AudioSource>>,
    pub app: Option<RunningApp>,
    pub since: Instant,
    /// The session list's entry for the parked app (state `parked`; an operator may stop it).
    /// Dropped last, so the entry disappears once everything is released.
    pub listing: Option<SessionGuard>,
}

impl Parked {
    /// Says (log, stdout, the session list's end reason) that this is about to be dropped.
    pub fn announce_release(&self, why: &str) {
        if let Some(listing) = &self.listing {
            listing.set_end_reason(why);
        }
        tracing::info!(
            app = %self.request.app.title, parked_for = ?self.since.elapsed(), %why,
            "releasing the parked GameStream app and display"
        );
        crate::services::status_line::status_line!(
            "GAMESTREAM-PARKED released app={}",
            self.request.app.id
        );
    }

    /// Whether there is still something to resume: a display, and the app (if any) not exited.
    pub fn alive(&self) -> bool {
        self.source.is_some() && self.app.as_ref().is_none_or(|a| !a.exited())
    }
}

/// Releases parked resources off the async threads (display and app teardown block).
pub fn release_parked(parked: Parked, why: &str) {
    parked.announce_release(why);
    let _ = std::thread::Builder::new()
        .name("gs-unpark".into())
        .spawn(move || drop(parked));
}

impl ParkedFacts for Parked {
    fn request(&self) -> &LaunchRequest {
        &self.request
    }

    fn alive(&self) -> bool {
        Parked::alive(self)
    }

    fn listing_id(&self) -> Option<&str> {
        self.listing.as_ref().map(|l| l.id())
    }
}
