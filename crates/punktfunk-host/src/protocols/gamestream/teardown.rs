//! Taking apart a session that ended: its input thread and senders are stopped and joined (they
//! hand back the display source and audio sink), and what it owned is either released or, when
//! the client went away without quitting and the app still runs, gathered into a [`Parked`] for a
//! `/resume`. Joining threads and releasing a display block (compositor IPC), so this runs off the
//! async threads. Telling the client, the session list and the stream slot is the supervisor's part
//! (`streaming.rs`).

use super::parked::Parked;
use super::session_end::leftover;
use super::stream_session::{Owned, Session};
use crate::services::sessions::SessionGuard;
use std::sync::Weak;
use std::time::Instant;

/// What is left of a session once it is taken apart.
#[derive(Default)]
pub struct Dismantled {
    /// Input events injected and refused over the session's life.
    pub injected: u64,
    pub refused: u64,
    /// The app and display, kept for a `/resume`.
    pub parked: Option<Parked>,
    /// The stream's session-list entry (its end reason set), for the caller to drop.
    pub listed: Option<SessionGuard>,
}

/// Stops `session`'s threads and releases what it owned, or parks it if its client was lost.
/// Repeating it finds nothing left and returns an empty [`Dismantled`].
pub async fn dismantle(session: &Session, reason: &str) -> Dismantled {
    // The input thread ends once its queue's sender is gone.
    session.stop_input();
    let owned = session.take_owned();
    let resumed = session.take_resumed();
    let park = session.client_lost();
    let (request, audio_name) = (session.request.clone(), session.audio_name.clone());
    let reason = reason.to_string();
    tokio::task::spawn_blocking(move || {
        let Owned {
            source,
            video,
            audio,
            app,
            input,
            listed,
            ..
        } = owned;
        let video_source = video.and_then(|t| t.join().ok()).flatten();
        let audio_source = audio.and_then(|t| t.join().ok()).flatten();
        let (injected, refused) = input.and_then(|t| t.join().ok()).unwrap_or((0, 0));
        if let Some(listed) = &listed {
            listed.set_end_reason(&reason);
        }
        // Whatever this stream used, or (a resume that never got that far) what it was given.
        let mut left = resumed;
        let parked = Parked {
            request,
            audio_name,
            source: leftover(
                video_source,
                source,
                left.as_mut().and_then(|p| p.source.take()),
            ),
            audio: leftover(
                audio_source,
                None,
                left.as_mut().and_then(|p| p.audio.take()),
            ),
            app: leftover(app, None, left.as_mut().and_then(|p| p.app.take())),
            since: left.as_ref().map_or_else(Instant::now, |p| p.since),
            listing: None,
        };
        drop(left);
        let parked = if park && parked.alive() {
            if let Some(app) = &parked.app {
                // Parked: nobody hears of its exit (checked by `alive` on resume).
                app.hand_to(Weak::<Session>::new());
            }
            Some(parked)
        } else {
            drop(parked);
            None
        };
        Dismantled {
            injected,
            refused,
            parked,
            listed,
        }
    })
    .await
    .unwrap_or_default()
}
