//! Input on wlroots compositors (sway): a `zwlr_virtual_pointer_v1` created *for the client's
//! output* — the compositor maps its absolute motion onto that output alone, so a client can never
//! reach another client's display — and a `zwp_virtual_keyboard_v1` with an uploaded XKB keymap
//! ([`super::keymap`]).
//!
//! The keyboard is seat-wide, as on any desktop: keys go to the focused window, which a client's
//! click on its own display makes its own.
//!
//! Each sink has its own Wayland connection, used from the session's input thread only. Requests
//! are flushed after every event, so an event reaches the compositor when `handle` returns.

use super::keymap::{self, EVDEV_OFFSET, US_KEYMAP};
use super::{InjectError, InputEvent, InputSink};
use crate::platform::wayland::Outputs;
use anyhow::{Context, Result};
use punktfunk_core::control::input::{ScrollAxis, denormalize};
use punktfunk_core::mode::Mode;
use rustix::fs::MemfdFlags;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Instant;
use wayland_client::globals::registry_queue_init;
use wayland_client::protocol::{wl_pointer, wl_seat};
use wayland_client::{Connection, EventQueue, delegate_noop};
use wayland_protocols_misc::zwp_virtual_keyboard_v1::client::{
    zwp_virtual_keyboard_manager_v1::ZwpVirtualKeyboardManagerV1,
    zwp_virtual_keyboard_v1::ZwpVirtualKeyboardV1,
};
use wayland_protocols_wlr::virtual_pointer::v1::client::{
    zwlr_virtual_pointer_manager_v1::ZwlrVirtualPointerManagerV1,
    zwlr_virtual_pointer_v1::ZwlrVirtualPointerV1,
};

/// `WL_KEYBOARD_KEYMAP_FORMAT_XKB_V1`.
const KEYMAP_FORMAT_XKB_V1: u32 = 1;
/// Scroll distance of one wheel detent, in surface units (what libinput reports for a wheel).
const DETENT_PX: f64 = 15.0;

#[derive(Default)]
struct State {
    outputs: Outputs,
}

impl AsMut<Outputs> for State {
    fn as_mut(&mut self) -> &mut Outputs {
        &mut self.outputs
    }
}

crate::delegate_outputs!(State);
delegate_noop!(State: ignore wl_seat::WlSeat);
delegate_noop!(State: ZwlrVirtualPointerManagerV1);
delegate_noop!(State: ZwlrVirtualPointerV1);
delegate_noop!(State: ZwpVirtualKeyboardManagerV1);
delegate_noop!(State: ZwpVirtualKeyboardV1);

/// One client's pointer and keyboard on one output of a wlroots compositor.
pub struct WlrInput {
    conn: Connection,
    queue: EventQueue<State>,
    state: State,
    pointer: ZwlrVirtualPointerV1,
    keyboard: ZwpVirtualKeyboardV1,
    output: String,
    mode: Mode,
    epoch: Instant,
    /// Scroll not yet worth a whole detent, per axis (vertical, horizontal), in 1/120 detents.
    scroll_rest: [i32; 2],
    /// Keys currently held (evdev codes), released when the sink goes away.
    held: Vec<u16>,
}

impl WlrInput {
    /// Connects to the compositor at `wayland_socket` and creates the virtual devices for
    /// `output` (whose current mode is `mode`).
    pub fn connect(wayland_socket: &Path, output: &str, mode: Mode) -> Result<Self> {
        let stream = UnixStream::connect(wayland_socket)
            .with_context(|| format!("connecting to {}", wayland_socket.display()))?;
        let conn = Connection::from_socket(stream)?;
        let (globals, mut queue) = registry_queue_init::<State>(&conn)?;
        let qh = queue.handle();
        let mut state = State::default();
        state.outputs.bind(&globals, &qh, 4, 4);
        let seat: wl_seat::WlSeat = globals.bind(&qh, 1..=7, ()).context("no wl_seat")?;
        let pointers: ZwlrVirtualPointerManagerV1 = globals
            .bind(&qh, 2..=2, ())
            .context("the compositor lacks zwlr_virtual_pointer_manager_v1 (version 2)")?;
        let keyboards: ZwpVirtualKeyboardManagerV1 = globals
            .bind(&qh, 1..=1, ())
            .context("the compositor lacks zwp_virtual_keyboard_manager_v1")?;
        queue.roundtrip(&mut state)?;
        let target = state.outputs.by_name(output).cloned().ok_or_else(|| {
            anyhow::anyhow!("output {output} is not among the compositor's outputs")
        })?;
        let pointer =
            pointers.create_virtual_pointer_with_output(Some(&seat), Some(&target), &qh, ());
        let keyboard = keyboards.create_virtual_keyboard(&seat, &qh, ());
        let mut me = WlrInput {
            conn,
            queue,
            state,
            pointer,
            keyboard,
            output: output.to_owned(),
            mode,
            epoch: Instant::now(),
            scroll_rest: [0; 2],
            held: Vec::new(),
        };
        me.upload_keymap(US_KEYMAP)?;
        // A round trip makes a refused keymap or device show up here, not at the first key.
        me.queue
            .roundtrip(&mut me.state)
            .context("creating virtual input devices")?;
        Ok(me)
    }

    fn time(&self) -> u32 {
        // Wayland timestamps are 32-bit milliseconds and wrap.
        self.epoch.elapsed().as_millis() as u32
    }

    fn upload_keymap(&self, text: &str) -> Result<()> {
        let fd = rustix::fs::memfd_create("punktfunk-keymap", MemfdFlags::CLOEXEC)?;
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(0); // the size includes the terminating NUL
        rustix::io::write(&fd, &bytes)?;
        self.keyboard
            .keymap(KEYMAP_FORMAT_XKB_V1, fd.as_fd(), bytes.len() as u32);
        Ok(())
    }

    fn key(&mut self, code: u16, down: bool) {
        let t = self.time();
        self.keyboard
            .key(t, u32::from(code), if down { 1 } else { 0 });
        if down {
            if !self.held.contains(&code) {
                self.held.push(code);
            }
        } else {
            self.held.retain(|c| *c != code);
        }
    }

    /// Types `text` through text keymaps, then restores the US keymap.
    fn text(&mut self, text: &str) -> Result<()> {
        for (syms, presses) in keymap::plan_text(text) {
            self.upload_keymap(&keymap::text_keymap(&syms))?;
            for code in presses {
                let evdev = code - EVDEV_OFFSET;
                let t = self.time();
                self.keyboard.key(t, evdev, 1);
                self.keyboard.key(t, evdev, 0);
            }
        }
        self.upload_keymap(US_KEYMAP)
    }

    fn keysym(&mut self, keysym: u32, down: bool) -> Result<()> {
        match keymap::us_position(keysym) {
            Some((code, shift)) => {
                if shift && down {
                    self.key(keymap::SHIFT, true);
                }
                self.key(code, down);
                if shift && !down {
                    self.key(keymap::SHIFT, false);
                }
                Ok(())
            }
            // Not on a US keyboard: type it (on press; a release has nothing left to do).
            None if down => {
                let c = char::from_u32(keysym.wrapping_sub(0x0100_0000))
                    .ok_or_else(|| anyhow::anyhow!("keysym {keysym:#x} is not a character"))?;
                self.text(&c.to_string())
            }
            None => Ok(()),
        }
    }

    fn scroll(&mut self, axis: ScrollAxis, value120: i32) {
        let (index, wl_axis) = match axis {
            ScrollAxis::Vertical => (0, wl_pointer::Axis::VerticalScroll),
            ScrollAxis::Horizontal => (1, wl_pointer::Axis::HorizontalScroll),
        };
        let total = self.scroll_rest[index].saturating_add(value120);
        let detents = total / 120;
        self.scroll_rest[index] = total % 120;
        if detents == 0 {
            return;
        }
        let t = self.time();
        self.pointer.axis_source(wl_pointer::AxisSource::Wheel);
        self.pointer
            .axis_discrete(t, wl_axis, f64::from(detents) * DETENT_PX, detents);
        self.pointer.frame();
    }

    fn flush(&self) -> Result<(), InjectError> {
        self.conn
            .flush()
            .context("sending input to the compositor")
            .map_err(InjectError::Backend)
    }
}

impl InputSink for WlrInput {
    fn describe(&self) -> String {
        format!(
            "wlroots virtual pointer + keyboard on {} ({})",
            self.output, self.mode
        )
    }

    fn handle(&mut self, event: &InputEvent) -> Result<(), InjectError> {
        match event {
            InputEvent::Key { code, down } => self.key(*code, *down),
            InputEvent::Keysym { keysym, down } => self.keysym(*keysym, *down)?,
            InputEvent::Text(text) => self.text(text)?,
            InputEvent::PointerAbs { x, y } => {
                // The extent is the output's own size: the compositor scales onto that output.
                let (w, h) = (self.mode.width, self.mode.height);
                let t = self.time();
                self.pointer
                    .motion_absolute(t, denormalize(*x, w), denormalize(*y, h), w, h);
                self.pointer.frame();
            }
            InputEvent::PointerRel { dx, dy } => {
                let t = self.time();
                self.pointer.motion(t, f64::from(*dx), f64::from(*dy));
                self.pointer.frame();
            }
            InputEvent::Button { button, down } => {
                let state = if *down {
                    wl_pointer::ButtonState::Pressed
                } else {
                    wl_pointer::ButtonState::Released
                };
                let t = self.time();
                self.pointer
                    .button(t, u32::from(button.evdev_code()), state);
                self.pointer.frame();
            }
            InputEvent::Scroll { axis, value120 } => self.scroll(*axis, *value120),
            InputEvent::Touch { .. } => {
                return Err(InjectError::Unsupported(
                    "touch (wlroots has no virtual touch protocol)",
                ));
            }
            InputEvent::Pen { .. } => {
                return Err(InjectError::Unsupported(
                    "pen (wlroots has no virtual tablet protocol)",
                ));
            }
            other => return Err(InjectError::Unsupported(super::event_kind(other))),
        }
        self.flush()
    }
}

impl Drop for WlrInput {
    fn drop(&mut self) {
        // Keys left held would repeat in the client forever.
        for code in std::mem::take(&mut self.held) {
            let t = self.time();
            self.keyboard.key(t, u32::from(code), 0);
        }
        self.keyboard.destroy();
        self.pointer.destroy();
        let _ = self.conn.flush();
    }
}
