//! The input thread of a GameStream session: the control thread queues the client's input events,
//! this thread injects them into the display's sink and the session's pads. Injection blocks (a
//! Wayland flush, a D-Bus call, a device write); on a thread of its own it never stalls the control
//! stream, and a full queue drops events instead.

use crate::platform::inject::{Feedback, InjectCounts, InputEvent, InputSink, SessionInput};
use anyhow::{Context, Result};
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;

/// Events queued for a display's input sink before new ones are dropped.
pub const INPUT_QUEUE: usize = 512;

/// How many of a session's input events its injector applied and how many it could not.
pub type InjectTotals = (u64, u64);

/// A thread that injects queued events into the display's sink and the session's pads (injection
/// blocks: a Wayland flush, a D-Bus call, a device write), so the control thread never waits for
/// the compositor; the pads' feedback goes out through `feedback`.
pub fn start_input(
    session: &str,
    display: Option<Box<dyn InputSink>>,
    feedback: impl FnMut(Feedback) + Send + 'static,
) -> Result<(SyncSender<InputEvent>, JoinHandle<InjectTotals>)> {
    let (sender, events) = std::sync::mpsc::sync_channel::<InputEvent>(INPUT_QUEUE);
    let session = session.to_string();
    let thread = std::thread::Builder::new()
        .name("gs-input".into())
        .spawn(move || {
            let input = SessionInput::new(display);
            tracing::info!(%session, sink = %input.describe(), "GameStream input goes to the display and pads");
            let counts = InjectCounts::default();
            input.run(&events, feedback, &counts);
            let injected = counts.injected.load(Ordering::Relaxed);
            let refused = counts.refused.load(Ordering::Relaxed);
            let feedback = counts.feedback.load(Ordering::Relaxed);
            tracing::info!(%session, injected, refused, feedback, "GameStream input over");
            (injected, refused)
        })
        .context("starting the input thread")?;
    Ok((sender, thread))
}
