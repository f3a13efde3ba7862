//! Input injection: one client's keyboard, pointer, touch, pen and gamepads into its own display.
//!
//! [`InputSink`] is the seam. A display backend hands out a sink bound to one client's display
//! ([`crate::platform::vdisplay::DisplayHandle::input_sink`]): absolute coordinates arrive normalised to that
//! display (see `punktfunk_core::control::input`) and the sink maps them onto it alone, so a client
//! can never reach another client's display. Backends:
//! - [`wlr`]: sway and other wlroots compositors (`zwlr_virtual_pointer_v1` bound to the client's
//!   output, `zwp_virtual_keyboard_v1` with an uploaded XKB keymap);
//! - [`mutter`]: Mutter's RemoteDesktop session (absolute motion on the session's own stream);
//! - [`uinput`] / [`uhid`]: virtual gamepads in the kernel (Xbox 360 / One through uinput,
//!   DualSense / DualShock 4 through UHID), whose output reports come back as [`Feedback`].
//!
//! [`SessionInput`] puts a display sink and the session's gamepads together.

pub mod hid_descriptors;
pub mod keymap;
pub mod mutter;
pub mod pads;
pub mod uhid;
pub mod uinput;
pub mod wlr;

pub use punktfunk_core::control::input::{Feedback, InputEvent};

/// Why an event was not injected.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// This backend has no way to inject the event (logged once per kind by the caller).
    #[error("{0} is not supported by this input backend")]
    Unsupported(&'static str),
    /// The backend failed (the compositor went away, a device write failed).
    #[error("{0:#}")]
    Backend(#[from] anyhow::Error),
}

/// Injects one client's input events.
pub trait InputSink: Send {
    /// For logs: the backend and what it is bound to.
    fn describe(&self) -> String;

    /// Injects one event. Blocking (a Wayland flush, a D-Bus call, a device write).
    fn handle(&mut self, event: &InputEvent) -> Result<(), InjectError>;

    /// Feedback produced since the last call (rumble, LEDs from the game), appended to `out`.
    fn poll_feedback(&mut self, out: &mut Vec<Feedback>) {
        let _ = out;
    }
}

/// Short name of an event's kind, for "unsupported" logs and counters.
pub fn event_kind(event: &InputEvent) -> &'static str {
    match event {
        InputEvent::Key { .. } => "key",
        InputEvent::Keysym { .. } => "keysym",
        InputEvent::Text(_) => "text",
        InputEvent::PointerAbs { .. } => "absolute pointer motion",
        InputEvent::PointerRel { .. } => "relative pointer motion",
        InputEvent::Button { .. } => "mouse button",
        InputEvent::Scroll { .. } => "scroll",
        InputEvent::Touch { .. } => "touch",
        InputEvent::Pen { .. } => "pen",
        InputEvent::PadArrive { .. } => "gamepad arrival",
        InputEvent::PadRemove { .. } => "gamepad removal",
        InputEvent::PadState { .. } => "gamepad state",
        InputEvent::PadMotion { .. } => "gamepad motion",
        InputEvent::PadTouch { .. } => "gamepad touchpad",
        InputEvent::PadBattery { .. } => "gamepad battery",
    }
}

fn is_pad_event(event: &InputEvent) -> bool {
    matches!(
        event,
        InputEvent::PadArrive { .. }
            | InputEvent::PadRemove { .. }
            | InputEvent::PadState { .. }
            | InputEvent::PadMotion { .. }
            | InputEvent::PadTouch { .. }
            | InputEvent::PadBattery { .. }
    )
}

/// A session's input: its display's sink, and its gamepads (kernel devices, compositor-independent).
pub struct SessionInput {
    display: Option<Box<dyn InputSink>>,
    pads: pads::Pads,
    /// Kinds already reported as unsupported (each is logged once).
    unsupported: Vec<&'static str>,
}

impl SessionInput {
    pub fn new(display: Option<Box<dyn InputSink>>) -> Self {
        if let Some(d) = &display {
            tracing::info!(sink = %d.describe(), "input: display sink ready");
        }
        SessionInput {
            display,
            pads: pads::Pads::new(),
            unsupported: Vec::new(),
        }
    }

    pub fn describe(&self) -> String {
        match &self.display {
            Some(d) => d.describe(),
            None => "no display input".into(),
        }
    }

    /// Injects an event and says whether it was; failures are logged (unsupported kinds once),
    /// never fatal: a client that sends something this host cannot inject keeps its session.
    pub fn handle(&mut self, event: &InputEvent) -> bool {
        let result = if is_pad_event(event) {
            self.pads.handle(event)
        } else {
            match &mut self.display {
                Some(d) => d.handle(event),
                None => Err(InjectError::Unsupported("display input without a display")),
            }
        };
        match result {
            Ok(()) => return true,
            Err(InjectError::Unsupported(what)) => {
                if !self.unsupported.contains(&what) {
                    self.unsupported.push(what);
                    tracing::warn!(what, "input: not injected (unsupported)");
                }
            }
            Err(e) => tracing::warn!(kind = event_kind(event), "input: {e}"),
        }
        false
    }

    pub fn poll_feedback(&mut self, out: &mut Vec<Feedback>) {
        if let Some(d) = &mut self.display {
            d.poll_feedback(out);
        }
        self.pads.poll_feedback(out);
    }

    /// Runs this session's injection on the calling thread until `events` hangs up: each event
    /// into the display or the pads, and the pads' feedback (rumble, lights) out through
    /// `feedback`, looked for every few milliseconds even while no input arrives.
    pub fn run(
        mut self,
        events: &std::sync::mpsc::Receiver<InputEvent>,
        mut feedback: impl FnMut(Feedback),
        counts: &InjectCounts,
    ) {
        use std::sync::atomic::Ordering;
        use std::sync::mpsc::RecvTimeoutError;
        const FEEDBACK_POLL: std::time::Duration = std::time::Duration::from_millis(4);
        let mut out = Vec::new();
        loop {
            match events.recv_timeout(FEEDBACK_POLL) {
                Ok(event) => {
                    let counter = if self.handle(&event) {
                        &counts.injected
                    } else {
                        &counts.refused
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.poll_feedback(&mut out);
            for f in out.drain(..) {
                counts.feedback.fetch_add(1, Ordering::Relaxed);
                feedback(f);
            }
        }
    }
}

/// What a session's injector did, for logs and tests.
#[derive(Debug, Default)]
pub struct InjectCounts {
    pub injected: std::sync::atomic::AtomicU64,
    /// Events the display or the pads could not take (unsupported here, or failed).
    pub refused: std::sync::atomic::AtomicU64,
    pub feedback: std::sync::atomic::AtomicU64,
}
