//! punktfunk/1 input and feedback events: what a client sends to drive its own display and virtual
//! gamepads, and what comes back (rumble, LEDs, adaptive triggers).
//!
//! Transport (see docs/protocol.md, "Input"):
//! - Motion (absolute/relative pointer, gamepad motion sensors) goes in unreliable QUIC datagrams:
//!   `DATAGRAM_INPUT u8 | seq u32 | event`. A late datagram is worth nothing, so the host drops an
//!   absolute position older than the newest it applied (`seq` compared with wrapping arithmetic).
//! - Every edge (keys, buttons, text, scroll, touch, pen, gamepad state) goes on a reliable
//!   unidirectional stream the client opens, which starts with [`INPUT_STREAM_MAGIC`] and then carries
//!   length-prefixed events (`len u32 | event`, as control messages are framed). The two paths are
//!   not ordered with each other, so before a positioned edge (button, scroll, touch, pen) a client
//!   repeats its latest absolute position on the stream: the edge then applies where it was made.
//! - Feedback goes on a unidirectional stream the host opens, [`FEEDBACK_STREAM_MAGIC`] then
//!   length-prefixed [`Feedback`] bodies.
//!
//! An event body is `kind u8 | fixed fields…`, all integers little-endian. Coordinates are
//! normalised to the client's own display: `0` is the left/top edge, `65535` the right/bottom one,
//! so they can never address any other display. A body longer than its kind's layout is accepted
//! and the tail ignored (later versions may append fields); an unknown kind is an error the receiver
//! counts and skips.
//!
//! One concept, one file (longer than most): every input and feedback event with its wire codec
//! (most of the length is per-field documentation).

use thiserror::Error;

/// First bytes of the client's input stream.
pub const INPUT_STREAM_MAGIC: [u8; 4] = *b"pfi1";
/// First bytes of the host's feedback stream.
pub const FEEDBACK_STREAM_MAGIC: [u8; 4] = *b"pff1";
/// Datagram type byte of an input datagram.
pub const DATAGRAM_INPUT: u8 = 0x01;
/// Longest text event, in UTF-8 bytes (clients split longer text).
pub const MAX_TEXT_BYTES: usize = 1024;
/// Longest event body on the stream.
pub const MAX_EVENT_LEN: usize = 4 + MAX_TEXT_BYTES;
/// Highest gamepad slot (16 pads per client).
pub const MAX_PAD: u8 = 15;

/// Why an input or feedback body, or an input datagram, was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InputError {
    /// The body has no kind byte.
    #[error("empty input event")]
    Empty,
    /// The kind byte names no event of this version; the receiver counts and skips it.
    #[error("unknown input event kind {0:#04x}")]
    UnknownKind(u8),
    /// The body is shorter than its kind's fixed layout (lengths include the kind byte).
    #[error("input event kind {kind:#04x} needs {need} bytes, has {have}")]
    Truncated {
        /// Kind byte of the body.
        kind: u8,
        /// Bytes the kind's layout needs, kind byte included.
        need: usize,
        /// Bytes the body has, kind byte included.
        have: usize,
    },
    /// The body exceeds [`MAX_EVENT_LEN`]; carries its length.
    #[error("input event of {0} bytes is larger than {MAX_EVENT_LEN}")]
    TooLong(usize),
    /// A field holds a value outside its range (a `down` byte other than 0/1, a pad above [`MAX_PAD`], non-UTF-8 text); names the field.
    #[error("malformed input field: {0}")]
    BadField(&'static str),
    /// A QUIC datagram whose type byte is not [`DATAGRAM_INPUT`]; carries the type.
    #[error("not an input datagram (type {0:#04x})")]
    NotInput(u8),
    /// A unidirectional stream that does not start with [`INPUT_STREAM_MAGIC`] or [`FEEDBACK_STREAM_MAGIC`].
    #[error("wrong stream magic")]
    BadMagic,
}

/// Mouse buttons, numbered as Linux input codes minus `BTN_LEFT` (0x110).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouseButton {
    /// Primary button (`BTN_LEFT`, wire 0).
    Left,
    /// Secondary button (`BTN_RIGHT`, wire 1).
    Right,
    /// Wheel button (`BTN_MIDDLE`, wire 2).
    Middle,
    /// Back side button (`BTN_SIDE`, wire 3).
    Side,
    /// Forward side button (`BTN_EXTRA`, wire 4).
    Extra,
}

impl MouseButton {
    /// Wire byte of this button (0 left … 4 extra).
    pub fn to_u8(self) -> u8 {
        match self {
            MouseButton::Left => 0,
            MouseButton::Right => 1,
            MouseButton::Middle => 2,
            MouseButton::Side => 3,
            MouseButton::Extra => 4,
        }
    }
    /// The button of a wire byte, or `None` for a number above 4.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => MouseButton::Left,
            1 => MouseButton::Right,
            2 => MouseButton::Middle,
            3 => MouseButton::Side,
            4 => MouseButton::Extra,
            _ => return None,
        })
    }
    /// The Linux evdev code (`BTN_LEFT` …), which Wayland and uinput use.
    pub fn evdev_code(self) -> u16 {
        0x110 + u16::from(self.to_u8())
    }
}

/// Which wheel a [`InputEvent::Scroll`] turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScrollAxis {
    /// The ordinary wheel (wire 0); positive scrolls down.
    Vertical,
    /// The tilt wheel or horizontal swipe (wire 1); positive scrolls right.
    Horizontal,
}

/// Where a touch contact or pen is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Pen only: in range, not touching.
    Hover,
    /// Contact begins (touch) or the pen touches the surface (wire 1).
    Down,
    /// A touching contact moved (wire 2).
    Move,
    /// Contact ends normally (wire 3).
    Up,
    /// Contact lost without an up (pen left range, touch cancelled).
    Cancel,
}

impl Phase {
    fn to_u8(self) -> u8 {
        self as u8
    }
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Phase::Hover,
            1 => Phase::Down,
            2 => Phase::Move,
            3 => Phase::Up,
            4 => Phase::Cancel,
            _ => return None,
        })
    }
}

/// Which end of a stylus a [`InputEvent::Pen`] is (wire byte of the pen event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PenTool {
    /// The writing tip (wire 0).
    Pen,
    /// The eraser end (wire 1).
    Eraser,
}

/// Which virtual gamepad the host should create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadKind {
    /// Xbox 360 pad via uinput (wire 0).
    Xbox360,
    /// Xbox One/Series pad via uinput (wire 1).
    XboxOne,
    /// DualSense via UHID, with touchpad, motion, LED and adaptive triggers (wire 2).
    DualSense,
    /// DualShock 4 via UHID, with touchpad, motion and LED (wire 3).
    DualShock4,
}

impl PadKind {
    /// Wire byte of this pad kind (0 Xbox 360 … 3 DualShock 4).
    pub fn to_u8(self) -> u8 {
        self as u8
    }
    /// The pad kind of a wire byte, or `None` for a value above 3.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => PadKind::Xbox360,
            1 => PadKind::XboxOne,
            2 => PadKind::DualSense,
            3 => PadKind::DualShock4,
            _ => return None,
        })
    }
}

/// Gamepad capability bits a client announces at arrival.
pub mod pad_caps {
    /// The pad has rumble motors; the host may send [`Feedback::Rumble`](super::Feedback).
    pub const RUMBLE: u32 = 1 << 0;
    /// The pad has trigger motors; the host may send trigger rumble.
    pub const TRIGGER_RUMBLE: u32 = 1 << 1;
    /// The pad has an accelerometer and gyroscope; [`InputEvent::PadMotion`](super::InputEvent::PadMotion) may follow.
    pub const MOTION: u32 = 1 << 2;
    /// The pad has a touchpad; [`InputEvent::PadTouch`](super::InputEvent::PadTouch) may follow.
    pub const TOUCHPAD: u32 = 1 << 3;
    /// The pad has a light bar the host may colour.
    pub const RGB_LED: u32 = 1 << 4;
    /// The pad reports its battery; [`InputEvent::PadBattery`](super::InputEvent::PadBattery) may follow.
    pub const BATTERY: u32 = 1 << 5;
    /// The pad has DualSense adaptive triggers the host may program.
    pub const ADAPTIVE_TRIGGERS: u32 = 1 << 6;
}

/// Gamepad button bits in [`PadState::buttons`] (Xbox names; a DualSense's cross is `A`).
pub mod pad_buttons {
    /// Bottom face button (A; cross on PlayStation).
    pub const A: u32 = 1 << 0;
    /// Right face button (B; circle on PlayStation).
    pub const B: u32 = 1 << 1;
    /// Left face button (X; square on PlayStation).
    pub const X: u32 = 1 << 2;
    /// Top face button (Y; triangle on PlayStation).
    pub const Y: u32 = 1 << 3;
    /// Left shoulder (LB / L1).
    pub const LB: u32 = 1 << 4;
    /// Right shoulder (RB / R1).
    pub const RB: u32 = 1 << 5;
    /// Back / View / Share / Create.
    pub const BACK: u32 = 1 << 6;
    /// Start / Menu / Options.
    pub const START: u32 = 1 << 7;
    /// Guide / Xbox / PS button.
    pub const GUIDE: u32 = 1 << 8;
    /// Left stick click (L3).
    pub const LS: u32 = 1 << 9;
    /// Right stick click (R3).
    pub const RS: u32 = 1 << 10;
    /// D-pad up.
    pub const UP: u32 = 1 << 11;
    /// D-pad down.
    pub const DOWN: u32 = 1 << 12;
    /// D-pad left.
    pub const LEFT: u32 = 1 << 13;
    /// D-pad right.
    pub const RIGHT: u32 = 1 << 14;
    /// DualSense/DualShock 4 touchpad click.
    pub const TOUCHPAD: u32 = 1 << 15;
    /// DualSense mute button.
    pub const MISC: u32 = 1 << 16;
}

/// A gamepad's full state: buttons, sticks (up and right positive) and analog triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PadState {
    /// Pressed buttons, a bit set of the [`pad_buttons`] constants.
    pub buttons: u32,
    /// Left stick horizontal, full i16 range, right positive.
    pub left_x: i16,
    /// Left stick vertical, full i16 range, up positive.
    pub left_y: i16,
    /// Right stick horizontal, full i16 range, right positive.
    pub right_x: i16,
    /// Right stick vertical, full i16 range, up positive.
    pub right_y: i16,
    /// Left trigger, 0 released ..= 255 fully pressed.
    pub left_trigger: u8,
    /// Right trigger, 0 released ..= 255 fully pressed.
    pub right_trigger: u8,
}

/// One input event, from one client, for its own display or its own pads.
#[derive(Debug, Clone, PartialEq)]
pub enum InputEvent {
    /// A key by its Linux evdev code (`KEY_A` = 30), i.e. its position on a US keyboard.
    Key {
        /// Linux evdev key code (`KEY_*` from `input-event-codes.h`).
        code: u16,
        /// `true` on press, `false` on release.
        down: bool,
    },
    /// A key by X11 keysym, for keys the client knows by meaning rather than position.
    Keysym {
        /// X11 keysym (`XK_*`), e.g. 0xff0d for Return.
        keysym: u32,
        /// `true` on press, `false` on release.
        down: bool,
    },
    /// Text to type as is (composed, any script).
    Text(String),
    /// Absolute pointer position on the client's display, normalised 0..=65535.
    PointerAbs {
        /// 0 = left edge ..= 65535 = right edge of the client's display.
        x: u16,
        /// 0 = top edge ..= 65535 = bottom edge of the client's display.
        y: u16,
    },
    /// Relative pointer motion in display pixels.
    PointerRel {
        /// Horizontal motion in pixels, positive right.
        dx: i16,
        /// Vertical motion in pixels, positive down.
        dy: i16,
    },
    /// A mouse button went down or up, at the latest pointer position.
    Button {
        /// Which button.
        button: MouseButton,
        /// `true` on press, `false` on release.
        down: bool,
    },
    /// High-resolution scroll: 120 = one wheel detent; positive = down/right.
    Scroll {
        /// Which wheel.
        axis: ScrollAxis,
        /// Distance in 1/120 detents (high-resolution wheels send less than 120 per step).
        value120: i32,
    },
    /// A touch-screen contact on the client's display.
    Touch {
        /// Client-chosen id that ties the events of one finger together.
        id: u32,
        /// Where the contact is in its life.
        phase: Phase,
        /// 0 = left edge ..= 65535 = right edge of the client's display.
        x: u16,
        /// 0 = top edge ..= 65535 = bottom edge of the client's display.
        y: u16,
        /// Contact pressure, 0 (none) ..= 65535 (full).
        pressure: u16,
    },
    /// A stylus event on the client's display.
    Pen {
        /// Tip or eraser.
        tool: PenTool,
        /// Hover, down, move, up or cancel.
        phase: Phase,
        /// 0 = left edge ..= 65535 = right edge of the client's display.
        x: u16,
        /// 0 = top edge ..= 65535 = bottom edge of the client's display.
        y: u16,
        /// Tip pressure, 0 ..= 65535 (full).
        pressure: u16,
        /// Tilt along the x axis in degrees, 0 = perpendicular to the surface.
        tilt_x: i8,
        /// Tilt along the y axis in degrees, 0 = perpendicular to the surface.
        tilt_y: i8,
        /// Barrel buttons, bit 0 = first.
        buttons: u8,
    },
    /// A gamepad was connected on the client; the host creates a virtual pad of `kind` in slot `pad`.
    PadArrive {
        /// Slot 0..=[`MAX_PAD`] the pad's later events name.
        pad: u8,
        /// Which virtual device to create.
        kind: PadKind,
        /// What the pad can do, a bit set of the [`pad_caps`] constants.
        caps: u32,
    },
    /// A gamepad was disconnected; the host removes its virtual pad.
    PadRemove {
        /// Slot of the pad that went away.
        pad: u8,
    },
    /// The full state of one gamepad, sent on every change.
    PadState {
        /// Slot 0..=[`MAX_PAD`] of the pad.
        pad: u8,
        /// Buttons, sticks and triggers.
        state: PadState,
    },
    /// Accelerometer in m/s² and gyroscope in degrees/s, each scaled by 100 (`i16`: ±327 units).
    PadMotion {
        /// Slot 0..=[`MAX_PAD`] of the pad.
        pad: u8,
        /// Accelerometer x, y, z in m/s² × 100.
        accel: [i16; 3],
        /// Gyroscope x, y, z in °/s × 100.
        gyro: [i16; 3],
    },
    /// A finger on the pad's touchpad, normalised 0..=65535.
    PadTouch {
        /// Slot 0..=[`MAX_PAD`] of the pad.
        pad: u8,
        /// Finger index on the touchpad (0 or 1 on a DualSense).
        finger: u8,
        /// `true` while the finger touches.
        down: bool,
        /// 0 = left edge ..= 65535 = right edge of the touchpad.
        x: u16,
        /// 0 = top edge ..= 65535 = bottom edge of the touchpad.
        y: u16,
    },
    /// Battery: `state` 0 = unknown, 1 = discharging, 2 = charging, 3 = full.
    PadBattery {
        /// Slot 0..=[`MAX_PAD`] of the pad.
        pad: u8,
        /// 0 unknown, 1 discharging, 2 charging, 3 full.
        state: u8,
        /// Charge 0..=100 percent.
        percent: u8,
    },
}

/// Which trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Left trigger (L2 / LT), wire 0.
    Left,
    /// Right trigger (R2 / RT), wire 1.
    Right,
}

/// What the host sends back about a client's pads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feedback {
    /// Motor strengths 0..=65535.
    Rumble {
        /// Slot of the pad to shake.
        pad: u8,
        /// Low-frequency (large, left) motor strength.
        low: u16,
        /// High-frequency (small, right) motor strength.
        high: u16,
    },
    /// Trigger motor strengths 0..=65535 (Xbox One impulse triggers).
    TriggerRumble {
        /// Slot of the pad to shake.
        pad: u8,
        /// Left trigger motor strength.
        left: u16,
        /// Right trigger motor strength.
        right: u16,
    },
    /// Light-bar colour the game set.
    Led {
        /// Slot of the pad.
        pad: u8,
        /// Red, 0..=255.
        r: u8,
        /// Green, 0..=255.
        g: u8,
        /// Blue, 0..=255.
        b: u8,
    },
    /// A DualSense adaptive-trigger effect as the game wrote it: mode byte and its parameters.
    AdaptiveTrigger {
        /// Slot of the pad.
        pad: u8,
        /// Which trigger the effect is for.
        trigger: Trigger,
        /// DualSense trigger effect mode byte (off, feedback, weapon, vibration…).
        mode: u8,
        /// The mode's parameter bytes, as the game wrote them.
        params: [u8; 10],
    },
    /// Player-number lights (bits, as a DualSense shows them).
    PlayerLeds {
        /// Slot of the pad.
        pad: u8,
        /// Lit player LEDs, bit 0 = leftmost of five.
        bits: u8,
    },
}

mod kind {
    pub(super) const KEY: u8 = 0x01;
    pub(super) const KEYSYM: u8 = 0x02;
    pub(super) const TEXT: u8 = 0x03;
    pub(super) const POINTER_ABS: u8 = 0x04;
    pub(super) const POINTER_REL: u8 = 0x05;
    pub(super) const BUTTON: u8 = 0x06;
    pub(super) const SCROLL: u8 = 0x07;
    pub(super) const TOUCH: u8 = 0x08;
    pub(super) const PEN: u8 = 0x09;
    pub(super) const PAD_ARRIVE: u8 = 0x10;
    pub(super) const PAD_REMOVE: u8 = 0x11;
    pub(super) const PAD_STATE: u8 = 0x12;
    pub(super) const PAD_MOTION: u8 = 0x13;
    pub(super) const PAD_TOUCH: u8 = 0x14;
    pub(super) const PAD_BATTERY: u8 = 0x15;

    pub(super) const FB_RUMBLE: u8 = 0x80;
    pub(super) const FB_TRIGGER_RUMBLE: u8 = 0x81;
    pub(super) const FB_LED: u8 = 0x82;
    pub(super) const FB_ADAPTIVE: u8 = 0x83;
    pub(super) const FB_PLAYER_LEDS: u8 = 0x84;
}

/// Little-endian field writer for one body.
struct Out(Vec<u8>);

impl Out {
    fn new(kind: u8) -> Self {
        Out(vec![kind])
    }
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn i8(self, v: i8) -> Self {
        self.u8(v as u8)
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i16(self, v: i16) -> Self {
        self.u16(v as u16)
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i32(self, v: i32) -> Self {
        self.u32(v as u32)
    }
    fn bytes(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
}

/// Reader over one body whose length was checked against the kind's fixed layout first.
struct In<'a> {
    rest: &'a [u8],
}

impl In<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        // `need` was checked by `fixed` before any field is read, so this never falls short;
        // zeros would only ever be read for a layout bug, not for hostile input.
        let mut out = [0u8; N];
        if let Some((head, tail)) = self.rest.split_at_checked(N) {
            out.copy_from_slice(head);
            self.rest = tail;
        }
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn i8(&mut self) -> i8 {
        self.u8() as i8
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn i16(&mut self) -> i16 {
        self.u16() as i16
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn i32(&mut self) -> i32 {
        self.u32() as i32
    }
    fn bool(&mut self, name: &'static str) -> Result<bool, InputError> {
        match self.u8() {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(InputError::BadField(name)),
        }
    }
    fn pad(&mut self) -> Result<u8, InputError> {
        let pad = self.u8();
        if pad > MAX_PAD {
            return Err(InputError::BadField("pad"));
        }
        Ok(pad)
    }
}

fn fixed(kind: u8, body: &[u8], need: usize) -> Result<In<'_>, InputError> {
    if body.len() < need {
        return Err(InputError::Truncated {
            kind,
            need: need + 1,
            have: body.len() + 1,
        });
    }
    Ok(In { rest: body })
}

impl InputEvent {
    /// Whether this event travels as an unreliable datagram (motion) rather than on the stream.
    pub fn is_motion(&self) -> bool {
        matches!(
            self,
            InputEvent::PointerAbs { .. }
                | InputEvent::PointerRel { .. }
                | InputEvent::PadMotion { .. }
        )
    }

    /// The event body, `kind u8 ‖ fields`, little-endian (no length prefix or datagram header).
    pub fn encode(&self) -> Vec<u8> {
        use InputEvent as E;
        let out = match self {
            E::Key { code, down } => Out::new(kind::KEY).u16(*code).u8(u8::from(*down)),
            E::Keysym { keysym, down } => Out::new(kind::KEYSYM).u32(*keysym).u8(u8::from(*down)),
            E::Text(text) => {
                // Cut at a char boundary so an over-long text still encodes as valid UTF-8.
                let mut end = text.len().min(MAX_TEXT_BYTES);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                let bytes = &text.as_bytes()[..end];
                Out::new(kind::TEXT).u16(end as u16).bytes(bytes)
            }
            E::PointerAbs { x, y } => Out::new(kind::POINTER_ABS).u16(*x).u16(*y),
            E::PointerRel { dx, dy } => Out::new(kind::POINTER_REL).i16(*dx).i16(*dy),
            E::Button { button, down } => Out::new(kind::BUTTON)
                .u8(button.to_u8())
                .u8(u8::from(*down)),
            E::Scroll { axis, value120 } => Out::new(kind::SCROLL)
                .u8(u8::from(*axis == ScrollAxis::Horizontal))
                .i32(*value120),
            E::Touch {
                id,
                phase,
                x,
                y,
                pressure,
            } => Out::new(kind::TOUCH)
                .u32(*id)
                .u8(phase.to_u8())
                .u16(*x)
                .u16(*y)
                .u16(*pressure),
            E::Pen {
                tool,
                phase,
                x,
                y,
                pressure,
                tilt_x,
                tilt_y,
                buttons,
            } => Out::new(kind::PEN)
                .u8(u8::from(*tool == PenTool::Eraser))
                .u8(phase.to_u8())
                .u16(*x)
                .u16(*y)
                .u16(*pressure)
                .i8(*tilt_x)
                .i8(*tilt_y)
                .u8(*buttons),
            E::PadArrive { pad, kind: k, caps } => {
                Out::new(kind::PAD_ARRIVE).u8(*pad).u8(k.to_u8()).u32(*caps)
            }
            E::PadRemove { pad } => Out::new(kind::PAD_REMOVE).u8(*pad),
            E::PadState { pad, state } => Out::new(kind::PAD_STATE)
                .u8(*pad)
                .u32(state.buttons)
                .i16(state.left_x)
                .i16(state.left_y)
                .i16(state.right_x)
                .i16(state.right_y)
                .u8(state.left_trigger)
                .u8(state.right_trigger),
            E::PadMotion { pad, accel, gyro } => {
                let mut o = Out::new(kind::PAD_MOTION).u8(*pad);
                for v in accel.iter().chain(gyro) {
                    o = o.i16(*v);
                }
                o
            }
            E::PadTouch {
                pad,
                finger,
                down,
                x,
                y,
            } => Out::new(kind::PAD_TOUCH)
                .u8(*pad)
                .u8(*finger)
                .u8(u8::from(*down))
                .u16(*x)
                .u16(*y),
            E::PadBattery {
                pad,
                state,
                percent,
            } => Out::new(kind::PAD_BATTERY).u8(*pad).u8(*state).u8(*percent),
        };
        out.0
    }

    /// Parses one event body; a body longer than its layout is accepted and the tail ignored.
    pub fn decode(body: &[u8]) -> Result<InputEvent, InputError> {
        use InputEvent as E;
        if body.len() > MAX_EVENT_LEN {
            return Err(InputError::TooLong(body.len()));
        }
        let (&k, rest) = body.split_first().ok_or(InputError::Empty)?;
        Ok(match k {
            kind::KEY => {
                let mut r = fixed(k, rest, 3)?;
                E::Key {
                    code: r.u16(),
                    down: r.bool("down")?,
                }
            }
            kind::KEYSYM => {
                let mut r = fixed(k, rest, 5)?;
                E::Keysym {
                    keysym: r.u32(),
                    down: r.bool("down")?,
                }
            }
            kind::TEXT => {
                let mut r = fixed(k, rest, 2)?;
                let len = usize::from(r.u16());
                if len > MAX_TEXT_BYTES {
                    return Err(InputError::BadField("text length"));
                }
                let bytes = r.rest.get(..len).ok_or(InputError::Truncated {
                    kind: k,
                    need: 3 + len,
                    have: body.len(),
                })?;
                let text = std::str::from_utf8(bytes).map_err(|_| InputError::BadField("text"))?;
                E::Text(text.to_owned())
            }
            kind::POINTER_ABS => {
                let mut r = fixed(k, rest, 4)?;
                E::PointerAbs {
                    x: r.u16(),
                    y: r.u16(),
                }
            }
            kind::POINTER_REL => {
                let mut r = fixed(k, rest, 4)?;
                E::PointerRel {
                    dx: r.i16(),
                    dy: r.i16(),
                }
            }
            kind::BUTTON => {
                let mut r = fixed(k, rest, 2)?;
                E::Button {
                    button: MouseButton::from_u8(r.u8()).ok_or(InputError::BadField("button"))?,
                    down: r.bool("down")?,
                }
            }
            kind::SCROLL => {
                let mut r = fixed(k, rest, 5)?;
                let axis = if r.bool("axis")? {
                    ScrollAxis::Horizontal
                } else {
                    ScrollAxis::Vertical
                };
                E::Scroll {
                    axis,
                    value120: r.i32(),
                }
            }
            kind::TOUCH => {
                let mut r = fixed(k, rest, 11)?;
                E::Touch {
                    id: r.u32(),
                    phase: Phase::from_u8(r.u8()).ok_or(InputError::BadField("phase"))?,
                    x: r.u16(),
                    y: r.u16(),
                    pressure: r.u16(),
                }
            }
            kind::PEN => {
                let mut r = fixed(k, rest, 11)?;
                let tool = if r.bool("tool")? {
                    PenTool::Eraser
                } else {
                    PenTool::Pen
                };
                E::Pen {
                    tool,
                    phase: Phase::from_u8(r.u8()).ok_or(InputError::BadField("phase"))?,
                    x: r.u16(),
                    y: r.u16(),
                    pressure: r.u16(),
                    tilt_x: r.i8(),
                    tilt_y: r.i8(),
                    buttons: r.u8(),
                }
            }
            kind::PAD_ARRIVE => {
                let mut r = fixed(k, rest, 6)?;
                E::PadArrive {
                    pad: r.pad()?,
                    kind: PadKind::from_u8(r.u8()).ok_or(InputError::BadField("pad kind"))?,
                    caps: r.u32(),
                }
            }
            kind::PAD_REMOVE => {
                let mut r = fixed(k, rest, 1)?;
                E::PadRemove { pad: r.pad()? }
            }
            kind::PAD_STATE => {
                let mut r = fixed(k, rest, 15)?;
                E::PadState {
                    pad: r.pad()?,
                    state: PadState {
                        buttons: r.u32(),
                        left_x: r.i16(),
                        left_y: r.i16(),
                        right_x: r.i16(),
                        right_y: r.i16(),
                        left_trigger: r.u8(),
                        right_trigger: r.u8(),
                    },
                }
            }
            kind::PAD_MOTION => {
                let mut r = fixed(k, rest, 13)?;
                let pad = r.pad()?;
                let accel = [r.i16(), r.i16(), r.i16()];
                let gyro = [r.i16(), r.i16(), r.i16()];
                E::PadMotion { pad, accel, gyro }
            }
            kind::PAD_TOUCH => {
                let mut r = fixed(k, rest, 7)?;
                E::PadTouch {
                    pad: r.pad()?,
                    finger: r.u8(),
                    down: r.bool("down")?,
                    x: r.u16(),
                    y: r.u16(),
                }
            }
            kind::PAD_BATTERY => {
                let mut r = fixed(k, rest, 3)?;
                E::PadBattery {
                    pad: r.pad()?,
                    state: r.u8(),
                    percent: r.u8(),
                }
            }
            other => return Err(InputError::UnknownKind(other)),
        })
    }

    /// `DATAGRAM_INPUT | seq | event` for a motion event.
    pub fn encode_datagram(&self, seq: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        out.push(DATAGRAM_INPUT);
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&self.encode());
        out
    }

    /// The sequence number and event of an input datagram.
    pub fn decode_datagram(datagram: &[u8]) -> Result<(u32, InputEvent), InputError> {
        let (&ty, rest) = datagram.split_first().ok_or(InputError::Empty)?;
        if ty != DATAGRAM_INPUT {
            return Err(InputError::NotInput(ty));
        }
        let (seq, body) = rest.split_at_checked(4).ok_or(InputError::Truncated {
            kind: ty,
            need: 5,
            have: datagram.len(),
        })?;
        let seq = u32::from_le_bytes([seq[0], seq[1], seq[2], seq[3]]);
        Ok((seq, InputEvent::decode(body)?))
    }
}

/// Whether datagram `seq` is newer than `last` (wrapping, as frame indices are compared).
pub fn seq_is_newer(seq: u32, last: u32) -> bool {
    let ahead = seq.wrapping_sub(last);
    ahead != 0 && ahead < 1 << 31
}

impl Feedback {
    /// Slot of the pad this feedback is for.
    pub fn pad(&self) -> u8 {
        match self {
            Feedback::Rumble { pad, .. }
            | Feedback::TriggerRumble { pad, .. }
            | Feedback::Led { pad, .. }
            | Feedback::AdaptiveTrigger { pad, .. }
            | Feedback::PlayerLeds { pad, .. } => *pad,
        }
    }

    /// The feedback body, `kind u8 ‖ fields`, little-endian (no length prefix).
    pub fn encode(&self) -> Vec<u8> {
        let out = match self {
            Feedback::Rumble { pad, low, high } => {
                Out::new(kind::FB_RUMBLE).u8(*pad).u16(*low).u16(*high)
            }
            Feedback::TriggerRumble { pad, left, right } => Out::new(kind::FB_TRIGGER_RUMBLE)
                .u8(*pad)
                .u16(*left)
                .u16(*right),
            Feedback::Led { pad, r, g, b } => Out::new(kind::FB_LED).u8(*pad).u8(*r).u8(*g).u8(*b),
            Feedback::AdaptiveTrigger {
                pad,
                trigger,
                mode,
                params,
            } => Out::new(kind::FB_ADAPTIVE)
                .u8(*pad)
                .u8(u8::from(*trigger == Trigger::Right))
                .u8(*mode)
                .bytes(params),
            Feedback::PlayerLeds { pad, bits } => Out::new(kind::FB_PLAYER_LEDS).u8(*pad).u8(*bits),
        };
        out.0
    }

    /// Parses one feedback body; a body longer than its layout is accepted and the tail ignored.
    pub fn decode(body: &[u8]) -> Result<Feedback, InputError> {
        if body.len() > MAX_EVENT_LEN {
            return Err(InputError::TooLong(body.len()));
        }
        let (&k, rest) = body.split_first().ok_or(InputError::Empty)?;
        Ok(match k {
            kind::FB_RUMBLE => {
                let mut r = fixed(k, rest, 5)?;
                Feedback::Rumble {
                    pad: r.pad()?,
                    low: r.u16(),
                    high: r.u16(),
                }
            }
            kind::FB_TRIGGER_RUMBLE => {
                let mut r = fixed(k, rest, 5)?;
                Feedback::TriggerRumble {
                    pad: r.pad()?,
                    left: r.u16(),
                    right: r.u16(),
                }
            }
            kind::FB_LED => {
                let mut r = fixed(k, rest, 4)?;
                Feedback::Led {
                    pad: r.pad()?,
                    r: r.u8(),
                    g: r.u8(),
                    b: r.u8(),
                }
            }
            kind::FB_ADAPTIVE => {
                let mut r = fixed(k, rest, 13)?;
                let pad = r.pad()?;
                let trigger = if r.bool("trigger")? {
                    Trigger::Right
                } else {
                    Trigger::Left
                };
                Feedback::AdaptiveTrigger {
                    pad,
                    trigger,
                    mode: r.u8(),
                    params: r.take(),
                }
            }
            kind::FB_PLAYER_LEDS => {
                let mut r = fixed(k, rest, 2)?;
                Feedback::PlayerLeds {
                    pad: r.pad()?,
                    bits: r.u8(),
                }
            }
            other => return Err(InputError::UnknownKind(other)),
        })
    }
}

/// Checks and strips a stream's 4-byte magic.
pub fn strip_magic(magic: [u8; 4], bytes: &[u8]) -> Result<&[u8], InputError> {
    match bytes.split_at_checked(4) {
        Some((head, rest)) if head == magic => Ok(rest),
        _ => Err(InputError::BadMagic),
    }
}

/// Maps a normalised coordinate (0..=65535) onto `0..extent` pixels (the last pixel for 65535).
pub fn denormalize(v: u16, extent: u32) -> u32 {
    if extent == 0 {
        return 0;
    }
    let max = u64::from(extent - 1);
    ((u64::from(v) * max + 32767) / 65535) as u32
}

/// The inverse of [`denormalize`]: pixel `p` of `extent` as a normalised coordinate.
pub fn normalize(p: u32, extent: u32) -> u16 {
    if extent <= 1 {
        return 0;
    }
    let max = u64::from(extent - 1);
    ((u64::from(p.min(extent - 1)) * 65535 + max / 2) / max) as u16
}

#[cfg(test)]
mod tests;
