//! Input on Mutter through the display's own `org.gnome.Mutter.RemoteDesktop` session: absolute
//! motion and touch are given in the coordinates of that session's ScreenCast stream (the client's
//! virtual monitor), so they cannot reach any other monitor; keys go by evdev keycode, text and
//! keysyms by keysym (Mutter maps them through the active layout itself).
//!
//! Mutter drops the first key event of a freshly started session, and a headless Mutter has no
//! keyboard or pointer on its Wayland seat until the session's first event of each kind; the
//! display spends both on creation (a Shift tap, a zero motion: see
//! `vdisplay::mutter::prime_input_devices`), so every event of the sink lands.

use super::keymap::char_keysym;
use super::{InjectError, InputEvent, InputSink};
use anyhow::{Context, Result};
use punktfunk_core::control::input::{Phase, ScrollAxis, denormalize};
use punktfunk_core::mode::Mode;
use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::OwnedObjectPath;

const REMOTE_DESKTOP_NAME: &str = "org.gnome.Mutter.RemoteDesktop";
const SESSION_INTERFACE: &str = "org.gnome.Mutter.RemoteDesktop.Session";

/// One client's input into its RemoteDesktop session.
pub struct MutterInput {
    session: Proxy<'static>,
    /// The ScreenCast stream object path absolute positions refer to.
    stream: String,
    mode: Mode,
    /// Scroll not yet worth a whole detent, per axis (vertical, horizontal), in 1/120 detents.
    scroll_rest: [i32; 2],
    held: Vec<u16>,
}

impl MutterInput {
    /// A sink for the RemoteDesktop session `session` whose virtual monitor is `stream`.
    pub fn new(
        conn: &Connection,
        session: OwnedObjectPath,
        stream: OwnedObjectPath,
        mode: Mode,
    ) -> Result<Self> {
        let proxy = Proxy::new(conn, REMOTE_DESKTOP_NAME, session, SESSION_INTERFACE)
            .context("RemoteDesktop session proxy")?;
        Ok(MutterInput {
            session: proxy,
            stream: stream.as_str().to_owned(),
            mode,
            scroll_rest: [0; 2],
            held: Vec::new(),
        })
    }

    fn call<B>(&self, method: &'static str, body: &B) -> Result<()>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.session
            .call::<_, _, ()>(method, body)
            .with_context(|| format!("RemoteDesktop.Session.{method}"))
    }

    fn keycode(&mut self, code: u16, down: bool) -> Result<()> {
        self.call("NotifyKeyboardKeycode", &(u32::from(code), down))?;
        if down {
            if !self.held.contains(&code) {
                self.held.push(code);
            }
        } else {
            self.held.retain(|c| *c != code);
        }
        Ok(())
    }

    fn position(&self, x: u16, y: u16) -> (f64, f64) {
        (
            f64::from(denormalize(x, self.mode.width)),
            f64::from(denormalize(y, self.mode.height)),
        )
    }

    fn scroll(&mut self, axis: ScrollAxis, value120: i32) -> Result<()> {
        let (index, dbus_axis) = match axis {
            ScrollAxis::Vertical => (0, 0u32),
            ScrollAxis::Horizontal => (1, 1u32),
        };
        let total = self.scroll_rest[index].saturating_add(value120);
        self.scroll_rest[index] = total % 120;
        let steps = total / 120;
        if steps != 0 {
            self.call("NotifyPointerAxisDiscrete", &(dbus_axis, steps))?;
        }
        Ok(())
    }
}

impl InputSink for MutterInput {
    fn describe(&self) -> String {
        format!(
            "Mutter RemoteDesktop {} on stream {} ({})",
            self.session.path(),
            self.stream,
            self.mode
        )
    }

    fn handle(&mut self, event: &InputEvent) -> Result<(), InjectError> {
        match event {
            InputEvent::Key { code, down } => self.keycode(*code, *down)?,
            InputEvent::Keysym { keysym, down } => {
                self.call("NotifyKeyboardKeysym", &(*keysym, *down))?
            }
            InputEvent::Text(text) => {
                for c in text.chars() {
                    let sym = char_keysym(c);
                    self.call("NotifyKeyboardKeysym", &(sym, true))?;
                    self.call("NotifyKeyboardKeysym", &(sym, false))?;
                }
            }
            InputEvent::PointerAbs { x, y } => {
                let (px, py) = self.position(*x, *y);
                self.call(
                    "NotifyPointerMotionAbsolute",
                    &(self.stream.as_str(), px, py),
                )?;
            }
            InputEvent::PointerRel { dx, dy } => {
                self.call(
                    "NotifyPointerMotionRelative",
                    &(f64::from(*dx), f64::from(*dy)),
                )?;
            }
            InputEvent::Button { button, down } => {
                let code = i32::from(button.evdev_code());
                self.call("NotifyPointerButton", &(code, *down))?;
            }
            InputEvent::Scroll { axis, value120 } => self.scroll(*axis, *value120)?,
            InputEvent::Touch {
                id, phase, x, y, ..
            } => {
                let (px, py) = self.position(*x, *y);
                let stream = self.stream.as_str();
                match phase {
                    Phase::Down => self.call("NotifyTouchDown", &(stream, *id, px, py))?,
                    Phase::Move => self.call("NotifyTouchMotion", &(stream, *id, px, py))?,
                    Phase::Up | Phase::Cancel => self.call("NotifyTouchUp", &(*id,))?,
                    Phase::Hover => {}
                }
            }
            InputEvent::Pen { .. } => {
                return Err(InjectError::Unsupported(
                    "pen (Mutter's RemoteDesktop has no tablet input)",
                ));
            }
            other => return Err(InjectError::Unsupported(super::event_kind(other))),
        }
        Ok(())
    }
}

impl Drop for MutterInput {
    fn drop(&mut self) {
        for code in std::mem::take(&mut self.held) {
            let _ = self.call("NotifyKeyboardKeycode", &(u32::from(code), false));
        }
    }
}
