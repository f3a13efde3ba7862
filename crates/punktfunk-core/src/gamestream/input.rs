//! Moonlight input packets (the payload of control message 0x0206) decoded into plain events the host
//! hands to an input sink.
//!
//! Every packet is `BE32 size` (bytes after this field), `LE32 magic`, then fields whose byte order
//! is per field: mouse and scroll values are big-endian, everything else little-endian; floats are
//! little-endian IEEE 754. Decoding checks the size against the buffer and each body against its
//! fixed layout; a longer body is accepted (newer clients may append fields) and the extra ignored.
//!
//! One concept, one file (longer than most): one decoder per Moonlight input packet type, all
//! sharing the packet framing above them.

/// Magic of a key press: flags, virtual-key code, modifier bits.
pub const KEY_DOWN: u32 = 0x03;
/// Magic of a key release; same body as [`KEY_DOWN`].
pub const KEY_UP: u32 = 0x04;
/// Magic of an absolute mouse move: big-endian x, y and the reference area they are relative to.
pub const MOUSE_MOVE_ABS: u32 = 0x05;
/// Magic of a relative mouse move: big-endian dx, dy in pixels.
pub const MOUSE_MOVE_REL: u32 = 0x07;
/// Magic of a mouse button press: one byte, the button number.
pub const MOUSE_BUTTON_DOWN: u32 = 0x08;
/// Magic of a mouse button release: one byte, the button number.
pub const MOUSE_BUTTON_UP: u32 = 0x09;
/// Magic of a vertical scroll: big-endian amount in 1/120 notches, sent twice.
pub const SCROLL: u32 = 0x0A;
/// Magic of the multi-controller packet: the full state of one gamepad.
pub const MULTI_CONTROLLER: u32 = 0x0C;
/// Magic of the client's haptics switch: a LE16 that is non-zero when rumble is wanted.
pub const HAPTICS_ENABLE: u32 = 0x0D;
/// Magic of a UTF-8 text packet (at most [`MAX_TEXT_BYTES`] bytes, the body is the text).
pub const UTF8_TEXT: u32 = 0x17;
/// Magic of a horizontal scroll (Sunshine extension): big-endian amount in 1/120 notches.
pub const HSCROLL: u32 = 0x5500_0001;
/// Magic of a touch-screen contact (Sunshine extension).
pub const TOUCH: u32 = 0x5500_0002;
/// Magic of a pen or stylus event (Sunshine extension).
pub const PEN: u32 = 0x5500_0003;
/// Magic of a controller announcing its type, capabilities and buttons (Sunshine extension).
pub const CONTROLLER_ARRIVAL: u32 = 0x5500_0004;
/// Magic of a touch on a controller's touchpad (Sunshine extension).
pub const CONTROLLER_TOUCH: u32 = 0x5500_0005;
/// Magic of a controller's accelerometer or gyroscope sample (Sunshine extension).
pub const CONTROLLER_MOTION: u32 = 0x5500_0006;
/// Magic of a controller's battery report (Sunshine extension).
pub const CONTROLLER_BATTERY: u32 = 0x5500_0007;

/// Longest UTF-8 text packet a client sends (it splits longer text).
pub const MAX_TEXT_BYTES: usize = 32;
/// Largest input packet accepted; the biggest defined one is well under this.
pub const MAX_PACKET: usize = 1024;

/// Constant fields of the multi-controller packet, written as Moonlight writes them.
const MC_HEADER_B: u16 = 0x001A;
const MC_MID_B: u16 = 0x0014;
const MC_TAIL_A: u16 = 0x009C;
const MC_TAIL_B: u16 = 0x0055;

/// Why an input packet could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The packet is shorter than the size and magic fields; carries its length.
    #[error("input packet of {0} bytes is shorter than its 8-byte header")]
    TooShort(usize),
    /// The packet exceeds [`MAX_PACKET`]; carries its length.
    #[error("input packet of {0} bytes is larger than any client sends")]
    TooLarge(usize),
    /// The BE32 size field disagrees with the bytes that follow it.
    #[error("size field says {declared} bytes follow, the packet has {actual}")]
    SizeMismatch {
        /// Bytes the size field says follow it.
        declared: u32,
        /// Bytes that actually follow it.
        actual: usize,
    },
    /// The body is shorter than the fixed layout of its magic.
    #[error("input packet {magic:#x} needs {need} body bytes, has {have}")]
    Truncated {
        /// Magic of the packet.
        magic: u32,
        /// Body bytes the layout of this magic needs.
        need: usize,
        /// Body bytes the packet has.
        have: usize,
    },
    /// A text packet longer than [`MAX_TEXT_BYTES`]; carries its length.
    #[error("text input of {0} bytes exceeds {MAX_TEXT_BYTES}")]
    TextTooLong(usize),
    /// A text packet whose body is not valid UTF-8.
    #[error("text input is not UTF-8")]
    TextNotUtf8,
}

/// Keyboard modifier bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Modifiers(pub u8);

impl Modifiers {
    /// Either Shift key is held.
    pub const SHIFT: u8 = 0x01;
    /// Either Control key is held.
    pub const CTRL: u8 = 0x02;
    /// Either Alt key is held.
    pub const ALT: u8 = 0x04;
    /// The Windows/Super/Command key is held.
    pub const META: u8 = 0x08;

    /// Whether the given modifier bit (one of the constants above) is set.
    pub fn contains(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// A mouse button as numbered on the wire (1 left … 5 X2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouseButton {
    /// Primary button (wire 1).
    Left,
    /// Wheel button (wire 2).
    Middle,
    /// Secondary button (wire 3).
    Right,
    /// First side button, usually "back" (wire 4).
    X1,
    /// Second side button, usually "forward" (wire 5).
    X2,
    /// A button number this host does not name, kept as sent.
    Other(u8),
}

impl MouseButton {
    /// The button of a wire number; unknown numbers become [`MouseButton::Other`].
    pub fn from_wire(b: u8) -> Self {
        match b {
            1 => MouseButton::Left,
            2 => MouseButton::Middle,
            3 => MouseButton::Right,
            4 => MouseButton::X1,
            5 => MouseButton::X2,
            other => MouseButton::Other(other),
        }
    }

    /// The wire number of this button (inverse of [`MouseButton::from_wire`]).
    pub fn wire(self) -> u8 {
        match self {
            MouseButton::Left => 1,
            MouseButton::Middle => 2,
            MouseButton::Right => 3,
            MouseButton::X1 => 4,
            MouseButton::X2 => 5,
            MouseButton::Other(b) => b,
        }
    }
}

/// Touch and pen event kinds (`LI_TOUCH_EVENT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TouchEventKind {
    /// The pointer is in range but not touching (wire 0).
    Hover,
    /// Contact begins (wire 1).
    Down,
    /// Contact ends (wire 2).
    Up,
    /// A touching pointer moved (wire 3).
    Move,
    /// This one contact is cancelled; undo what it started (wire 4).
    Cancel,
    /// Only the pen's buttons changed (wire 5).
    ButtonOnly,
    /// The hovering pointer left the detection range (wire 6).
    HoverLeave,
    /// Every contact is cancelled, e.g. the client lost focus (wire 7).
    CancelAll,
    /// An event kind this host does not name, kept as sent.
    Other(u8),
}

impl TouchEventKind {
    /// The kind of a wire value; unknown values become [`TouchEventKind::Other`].
    pub fn from_wire(b: u8) -> Self {
        use TouchEventKind::*;
        match b {
            0 => Hover,
            1 => Down,
            2 => Up,
            3 => Move,
            4 => Cancel,
            5 => ButtonOnly,
            6 => HoverLeave,
            7 => CancelAll,
            other => Other(other),
        }
    }

    /// The wire value of this kind (inverse of [`TouchEventKind::from_wire`]).
    pub fn wire(self) -> u8 {
        use TouchEventKind::*;
        match self {
            Hover => 0,
            Down => 1,
            Up => 2,
            Move => 3,
            Cancel => 4,
            ButtonOnly => 5,
            HoverLeave => 6,
            CancelAll => 7,
            Other(b) => b,
        }
    }
}

/// Controller family a client reports in its arrival packet (`LI_CTYPE_*`), used to pick the emulated pad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControllerKind {
    /// The client could not tell (wire 0).
    Unknown,
    /// An Xbox-style pad (wire 1).
    Xbox,
    /// A DualShock/DualSense pad (wire 2).
    PlayStation,
    /// A Nintendo Switch pad, with A/B and X/Y swapped (wire 3).
    Nintendo,
    /// A Steam Controller or Steam Deck (wire 4).
    Steam,
    /// A family this host does not name, kept as sent.
    Other(u8),
}

impl ControllerKind {
    /// The family of a wire value; unknown values become [`ControllerKind::Other`].
    pub fn from_wire(b: u8) -> Self {
        match b {
            0 => ControllerKind::Unknown,
            1 => ControllerKind::Xbox,
            2 => ControllerKind::PlayStation,
            3 => ControllerKind::Nintendo,
            4 => ControllerKind::Steam,
            other => ControllerKind::Other(other),
        }
    }

    /// The wire value of this family (inverse of [`ControllerKind::from_wire`]).
    pub fn wire(self) -> u8 {
        match self {
            ControllerKind::Unknown => 0,
            ControllerKind::Xbox => 1,
            ControllerKind::PlayStation => 2,
            ControllerKind::Nintendo => 3,
            ControllerKind::Steam => 4,
            ControllerKind::Other(b) => b,
        }
    }
}

/// Controller capability bits (`LI_CCAP_*`).
pub mod capability {
    /// Triggers report 0..=255 rather than only pressed/released.
    pub const ANALOG_TRIGGERS: u16 = 0x01;
    /// The pad has rumble motors.
    pub const RUMBLE: u16 = 0x02;
    /// The pad has motors in its triggers (impulse triggers).
    pub const TRIGGER_RUMBLE: u16 = 0x04;
    /// The pad has a touchpad (controller touch packets may follow).
    pub const TOUCHPAD: u16 = 0x08;
    /// The pad has an accelerometer (motion packets of type 1 may follow).
    pub const ACCEL: u16 = 0x10;
    /// The pad has a gyroscope (motion packets of type 2 may follow).
    pub const GYRO: u16 = 0x20;
    /// The pad reports its battery (battery packets may follow).
    pub const BATTERY_STATE: u16 = 0x40;
    /// The pad has an RGB light the host may set.
    pub const RGB_LED: u16 = 0x80;
}

/// Gamepad button bits of [`GamepadState::buttons`] (low 16 bits on the wire first, then the high).
pub mod button {
    /// D-pad up.
    pub const DPAD_UP: u32 = 0x0001;
    /// D-pad down.
    pub const DPAD_DOWN: u32 = 0x0002;
    /// D-pad left.
    pub const DPAD_LEFT: u32 = 0x0004;
    /// D-pad right.
    pub const DPAD_RIGHT: u32 = 0x0008;
    /// Start / Menu / Options.
    pub const START: u32 = 0x0010;
    /// Back / View / Share / Select.
    pub const BACK: u32 = 0x0020;
    /// Left stick pressed (L3).
    pub const LEFT_STICK: u32 = 0x0040;
    /// Right stick pressed (R3).
    pub const RIGHT_STICK: u32 = 0x0080;
    /// Left shoulder button (LB / L1).
    pub const LEFT_BUMPER: u32 = 0x0100;
    /// Right shoulder button (RB / R1).
    pub const RIGHT_BUMPER: u32 = 0x0200;
    /// Guide / Xbox / PS / Home button.
    pub const GUIDE: u32 = 0x0400;
    /// Bottom face button (A on Xbox, Cross on PlayStation).
    pub const A: u32 = 0x1000;
    /// Right face button (B on Xbox, Circle on PlayStation).
    pub const B: u32 = 0x2000;
    /// Left face button (X on Xbox, Square on PlayStation).
    pub const X: u32 = 0x4000;
    /// Top face button (Y on Xbox, Triangle on PlayStation).
    pub const Y: u32 = 0x8000;
    /// First back paddle (Elite / Steam / DualSense Edge); high 16 bits are sent in the packet's tail.
    pub const PADDLE1: u32 = 0x01_0000;
    /// Second back paddle.
    pub const PADDLE2: u32 = 0x02_0000;
    /// Third back paddle.
    pub const PADDLE3: u32 = 0x04_0000;
    /// Fourth back paddle.
    pub const PADDLE4: u32 = 0x08_0000;
    /// Touchpad click (DualShock/DualSense).
    pub const TOUCHPAD: u32 = 0x10_0000;
    /// Misc button: Share on Xbox Series, Mic on DualSense, Capture on Switch.
    pub const MISC: u32 = 0x20_0000;
}

/// Full state of one gamepad (0x0C multi-controller packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GamepadState {
    /// Index of the gamepad this state belongs to (0-based, below 16).
    pub controller: u16,
    /// Bit n set = gamepad n is connected; a cleared bit for `controller` means it went away.
    pub active_mask: u16,
    /// Pressed buttons, a bit set of the [`button`] constants.
    pub buttons: u32,
    /// Left trigger, 0 released ..= 255 fully pressed.
    pub left_trigger: u8,
    /// Right trigger, 0 released ..= 255 fully pressed.
    pub right_trigger: u8,
    /// Left stick (x, y), full i16 range, y positive up.
    pub left_stick: (i16, i16),
    /// Right stick (x, y), full i16 range, y positive up.
    pub right_stick: (i16, i16),
}

/// One touch-screen contact (touch packet), in the video area's normalized coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Touch {
    /// What happened to the contact.
    pub kind: TouchEventKind,
    /// Degrees clockwise from vertical; 0xFFFF = unknown.
    pub rotation: u16,
    /// Client-chosen id that ties the events of one finger together.
    pub pointer_id: u32,
    /// Normalized 0..1 over the stream's video area.
    pub x: f32,
    /// Normalized 0..1 over the stream's video area, top to bottom.
    pub y: f32,
    /// Pressure while touching, distance while hovering.
    pub pressure_or_distance: f32,
    /// Length of the contact ellipse's major axis, normalized like `x`; 0 = unknown.
    pub contact_major: f32,
    /// Length of the contact ellipse's minor axis, normalized like `x`; 0 = unknown.
    pub contact_minor: f32,
}

/// One pen or stylus event (pen packet), in the video area's normalized coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pen {
    /// What happened to the pen.
    pub kind: TouchEventKind,
    /// 0 unknown, 1 pen, 2 eraser.
    pub tool: u8,
    /// 0x01 primary, 0x02 secondary, 0x04 tertiary.
    pub buttons: u8,
    /// Normalized 0..1 over the stream's video area, left to right.
    pub x: f32,
    /// Normalized 0..1 over the stream's video area, top to bottom.
    pub y: f32,
    /// Pressure 0..1 while touching, distance 0..1 while hovering.
    pub pressure_or_distance: f32,
    /// Degrees clockwise from vertical; 0xFFFF = unknown.
    pub rotation: u16,
    /// Degrees from perpendicular; 0xFF = unknown.
    pub tilt: u8,
    /// Length of the contact ellipse's major axis, normalized like `x`; 0 = unknown.
    pub contact_major: f32,
    /// Length of the contact ellipse's minor axis, normalized like `x`; 0 = unknown.
    pub contact_minor: f32,
}

/// One contact on a controller's touchpad (controller touch packet).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControllerTouch {
    /// Index of the gamepad whose touchpad this is.
    pub controller: u8,
    /// What happened to the contact.
    pub kind: TouchEventKind,
    /// Which touchpad of the controller (0 for pads with one).
    pub touchpad: u8,
    /// Client-chosen id that ties the events of one finger together.
    pub pointer_id: u32,
    /// Normalized 0..1 across the touchpad, left to right.
    pub x: f32,
    /// Normalized 0..1 across the touchpad, top to bottom.
    pub y: f32,
    /// Contact pressure 0..1; 0 when the pad does not measure it.
    pub pressure: f32,
}

/// One decoded input packet.
#[derive(Debug, Clone, PartialEq)]
pub enum InputEvent {
    /// A key went down or up.
    Key {
        /// `true` for a press ([`KEY_DOWN`]), `false` for a release.
        down: bool,
        /// Sunshine extension; 0x01 = the key code is not normalized to a US layout.
        flags: u8,
        /// Windows virtual-key code as sent; the key is `key_code & 0xFF`.
        key_code: u16,
        /// Modifier keys held when the event was sent.
        modifiers: Modifiers,
    },
    /// Relative mouse motion in pixels (pointer-locked games).
    MouseMoveRelative {
        /// Horizontal motion, positive right.
        dx: i16,
        /// Vertical motion, positive down.
        dy: i16,
    },
    /// `x`, `y` relative to a `reference_width × reference_height` area (the client's view).
    MouseMoveAbsolute {
        /// Horizontal position, 0..reference_width.
        x: i16,
        /// Vertical position, 0..reference_height.
        y: i16,
        /// Width of the area `x` refers to (sent minus one, so up to 65536).
        reference_width: u32,
        /// Height of the area `y` refers to (sent minus one, so up to 65536).
        reference_height: u32,
    },
    /// A mouse button went down or up.
    MouseButton {
        /// `true` for a press, `false` for a release.
        down: bool,
        /// Which button.
        button: MouseButton,
    },
    /// Vertical scroll in 1/120 notch units (high-resolution wheels send less than 120).
    Scroll {
        /// Notch fraction, positive away from the user.
        amount: i16,
    },
    /// Horizontal scroll in 1/120 notch units.
    HorizontalScroll {
        /// Notch fraction, positive to the right.
        amount: i16,
    },
    /// Text typed on the client (IME or on-screen keyboard), at most [`MAX_TEXT_BYTES`] bytes.
    Text(String),
    /// The full state of one gamepad.
    Gamepad(GamepadState),
    /// A controller was connected on the client; sent before its first state.
    ControllerArrival {
        /// Index the controller's states will carry.
        controller: u8,
        /// Controller family, for choosing the emulated pad.
        kind: ControllerKind,
        /// What the pad can do, a bit set of the [`capability`] constants.
        capabilities: u16,
        /// Buttons the pad has, a bit set of the [`button`] constants.
        supported_buttons: u32,
    },
    /// A contact on a controller's touchpad.
    ControllerTouch(ControllerTouch),
    /// One accelerometer or gyroscope sample of a controller.
    ControllerMotion {
        /// Index of the gamepad that sampled.
        controller: u8,
        /// 1 accelerometer (m/s²), 2 gyroscope (°/s).
        motion_type: u8,
        /// X axis of the sample, in the unit of `motion_type`.
        x: f32,
        /// Y axis of the sample, in the unit of `motion_type`.
        y: f32,
        /// Z axis of the sample, in the unit of `motion_type`.
        z: f32,
    },
    /// A controller's battery state changed.
    ControllerBattery {
        /// Index of the gamepad reporting.
        controller: u8,
        /// `LI_BATTERY_STATE_*`: 0 unknown, 1 not present, 2 discharging, 3 charging, 4 not charging, 5 full.
        state: u8,
        /// 0..=100, 0xFF unknown.
        percent: u8,
    },
    /// A touch-screen contact.
    Touch(Touch),
    /// A pen or stylus event.
    Pen(Pen),
    /// The client turned rumble forwarding on (`true`) or off.
    HapticsEnable(bool),
    /// A magic this host does not know; kept so callers can count it.
    Unknown {
        /// Magic of the packet.
        magic: u32,
        /// The body after the magic, as received.
        body: Vec<u8>,
    },
}

/// Little-endian reads at fixed offsets of a body whose length was checked first.
struct Body<'a>(&'a [u8]);

impl Body<'_> {
    fn u8(&self, at: usize) -> u8 {
        self.0[at]
    }
    fn le16(&self, at: usize) -> u16 {
        u16::from_le_bytes([self.0[at], self.0[at + 1]])
    }
    fn be16(&self, at: usize) -> i16 {
        i16::from_be_bytes([self.0[at], self.0[at + 1]])
    }
    fn le32(&self, at: usize) -> u32 {
        u32::from_le_bytes([self.0[at], self.0[at + 1], self.0[at + 2], self.0[at + 3]])
    }
    fn f32(&self, at: usize) -> f32 {
        f32::from_bits(self.le32(at))
    }
}

/// Fixed body length of each known magic.
fn body_len(magic: u32) -> Option<usize> {
    Some(match magic {
        KEY_DOWN | KEY_UP => 6,
        MOUSE_MOVE_REL => 4,
        MOUSE_MOVE_ABS => 10,
        MOUSE_BUTTON_DOWN | MOUSE_BUTTON_UP => 1,
        SCROLL => 6,
        HSCROLL => 2,
        MULTI_CONTROLLER => 26,
        HAPTICS_ENABLE => 2,
        TOUCH => 28,
        PEN => 28,
        CONTROLLER_ARRIVAL => 8,
        CONTROLLER_TOUCH => 20,
        CONTROLLER_MOTION => 16,
        CONTROLLER_BATTERY => 4,
        UTF8_TEXT => 0,
        _ => return None,
    })
}

impl InputEvent {
    /// Decodes one input packet (the whole 0x0206 payload).
    pub fn decode(packet: &[u8]) -> Result<InputEvent, InputError> {
        if packet.len() < 8 {
            return Err(InputError::TooShort(packet.len()));
        }
        if packet.len() > MAX_PACKET {
            return Err(InputError::TooLarge(packet.len()));
        }
        let declared = u32::from_be_bytes([packet[0], packet[1], packet[2], packet[3]]);
        if declared as usize != packet.len() - 4 {
            return Err(InputError::SizeMismatch {
                declared,
                actual: packet.len() - 4,
            });
        }
        let magic = u32::from_le_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let body = &packet[8..];
        let Some(need) = body_len(magic) else {
            return Ok(InputEvent::Unknown {
                magic,
                body: body.to_vec(),
            });
        };
        if body.len() < need {
            return Err(InputError::Truncated {
                magic,
                need,
                have: body.len(),
            });
        }
        let b = Body(body);
        Ok(match magic {
            KEY_DOWN | KEY_UP => InputEvent::Key {
                down: magic == KEY_DOWN,
                flags: b.u8(0),
                key_code: b.le16(1),
                modifiers: Modifiers(b.u8(3)),
            },
            MOUSE_MOVE_REL => InputEvent::MouseMoveRelative {
                dx: b.be16(0),
                dy: b.be16(2),
            },
            MOUSE_MOVE_ABS => InputEvent::MouseMoveAbsolute {
                x: b.be16(0),
                y: b.be16(2),
                // Sent as size − 1 so that 65536 fits.
                reference_width: u32::from(b.be16(6) as u16) + 1,
                reference_height: u32::from(b.be16(8) as u16) + 1,
            },
            MOUSE_BUTTON_DOWN | MOUSE_BUTTON_UP => InputEvent::MouseButton {
                down: magic == MOUSE_BUTTON_DOWN,
                button: MouseButton::from_wire(b.u8(0)),
            },
            // The amount is repeated in bytes 2–3; the first copy is authoritative.
            SCROLL => InputEvent::Scroll { amount: b.be16(0) },
            HSCROLL => InputEvent::HorizontalScroll { amount: b.be16(0) },
            UTF8_TEXT => {
                if body.len() > MAX_TEXT_BYTES {
                    return Err(InputError::TextTooLong(body.len()));
                }
                let text = std::str::from_utf8(body).map_err(|_| InputError::TextNotUtf8)?;
                InputEvent::Text(text.to_owned())
            }
            MULTI_CONTROLLER => InputEvent::Gamepad(GamepadState {
                controller: b.le16(2),
                active_mask: b.le16(4),
                buttons: u32::from(b.le16(8)) | (u32::from(b.le16(22)) << 16),
                left_trigger: b.u8(10),
                right_trigger: b.u8(11),
                left_stick: (b.le16(12) as i16, b.le16(14) as i16),
                right_stick: (b.le16(16) as i16, b.le16(18) as i16),
            }),
            HAPTICS_ENABLE => InputEvent::HapticsEnable(b.le16(0) != 0),
            TOUCH => InputEvent::Touch(Touch {
                kind: TouchEventKind::from_wire(b.u8(0)),
                rotation: b.le16(2),
                pointer_id: b.le32(4),
                x: b.f32(8),
                y: b.f32(12),
                pressure_or_distance: b.f32(16),
                contact_major: b.f32(20),
                contact_minor: b.f32(24),
            }),
            PEN => InputEvent::Pen(Pen {
                kind: TouchEventKind::from_wire(b.u8(0)),
                tool: b.u8(1),
                buttons: b.u8(2),
                x: b.f32(4),
                y: b.f32(8),
                pressure_or_distance: b.f32(12),
                rotation: b.le16(16),
                tilt: b.u8(18),
                contact_major: b.f32(20),
                contact_minor: b.f32(24),
            }),
            CONTROLLER_ARRIVAL => InputEvent::ControllerArrival {
                controller: b.u8(0),
                kind: ControllerKind::from_wire(b.u8(1)),
                capabilities: b.le16(2),
                supported_buttons: b.le32(4),
            },
            CONTROLLER_TOUCH => InputEvent::ControllerTouch(ControllerTouch {
                controller: b.u8(0),
                kind: TouchEventKind::from_wire(b.u8(1)),
                touchpad: b.u8(3),
                pointer_id: b.le32(4),
                x: b.f32(8),
                y: b.f32(12),
                pressure: b.f32(16),
            }),
            CONTROLLER_MOTION => InputEvent::ControllerMotion {
                controller: b.u8(0),
                motion_type: b.u8(1),
                x: b.f32(4),
                y: b.f32(8),
                z: b.f32(12),
            },
            CONTROLLER_BATTERY => InputEvent::ControllerBattery {
                controller: b.u8(0),
                state: b.u8(1),
                percent: b.u8(2),
            },
            // body_len() returned Some only for the magics above.
            _ => InputEvent::Unknown {
                magic,
                body: body.to_vec(),
            },
        })
    }

    /// The packet a Moonlight client would send for this event.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(40);
        let magic = match self {
            InputEvent::Key {
                down,
                flags,
                key_code,
                modifiers,
            } => {
                b.push(*flags);
                b.extend_from_slice(&key_code.to_le_bytes());
                b.push(modifiers.0);
                b.extend_from_slice(&[0, 0]);
                if *down { KEY_DOWN } else { KEY_UP }
            }
            InputEvent::MouseMoveRelative { dx, dy } => {
                b.extend_from_slice(&dx.to_be_bytes());
                b.extend_from_slice(&dy.to_be_bytes());
                MOUSE_MOVE_REL
            }
            InputEvent::MouseMoveAbsolute {
                x,
                y,
                reference_width,
                reference_height,
            } => {
                b.extend_from_slice(&x.to_be_bytes());
                b.extend_from_slice(&y.to_be_bytes());
                b.extend_from_slice(&[0, 0]);
                b.extend_from_slice(&(reference_width.wrapping_sub(1) as u16).to_be_bytes());
                b.extend_from_slice(&(reference_height.wrapping_sub(1) as u16).to_be_bytes());
                MOUSE_MOVE_ABS
            }
            InputEvent::MouseButton { down, button } => {
                b.push(button.wire());
                if *down {
                    MOUSE_BUTTON_DOWN
                } else {
                    MOUSE_BUTTON_UP
                }
            }
            InputEvent::Scroll { amount } => {
                b.extend_from_slice(&amount.to_be_bytes());
                b.extend_from_slice(&amount.to_be_bytes());
                b.extend_from_slice(&[0, 0]);
                SCROLL
            }
            InputEvent::HorizontalScroll { amount } => {
                b.extend_from_slice(&amount.to_be_bytes());
                HSCROLL
            }
            InputEvent::Text(text) => {
                b.extend_from_slice(text.as_bytes());
                UTF8_TEXT
            }
            InputEvent::Gamepad(g) => {
                for v in [MC_HEADER_B, g.controller, g.active_mask, MC_MID_B] {
                    b.extend_from_slice(&v.to_le_bytes());
                }
                b.extend_from_slice(&(g.buttons as u16).to_le_bytes());
                b.push(g.left_trigger);
                b.push(g.right_trigger);
                for v in [
                    g.left_stick.0,
                    g.left_stick.1,
                    g.right_stick.0,
                    g.right_stick.1,
                ] {
                    b.extend_from_slice(&v.to_le_bytes());
                }
                b.extend_from_slice(&MC_TAIL_A.to_le_bytes());
                b.extend_from_slice(&((g.buttons >> 16) as u16).to_le_bytes());
                b.extend_from_slice(&MC_TAIL_B.to_le_bytes());
                MULTI_CONTROLLER
            }
            InputEvent::HapticsEnable(on) => {
                b.extend_from_slice(&u16::from(*on).to_le_bytes());
                HAPTICS_ENABLE
            }
            InputEvent::Touch(t) => {
                b.extend_from_slice(&[t.kind.wire(), 0]);
                b.extend_from_slice(&t.rotation.to_le_bytes());
                b.extend_from_slice(&t.pointer_id.to_le_bytes());
                for f in [
                    t.x,
                    t.y,
                    t.pressure_or_distance,
                    t.contact_major,
                    t.contact_minor,
                ] {
                    b.extend_from_slice(&f.to_le_bytes());
                }
                TOUCH
            }
            InputEvent::Pen(p) => {
                b.extend_from_slice(&[p.kind.wire(), p.tool, p.buttons, 0]);
                for f in [p.x, p.y, p.pressure_or_distance] {
                    b.extend_from_slice(&f.to_le_bytes());
                }
                b.extend_from_slice(&p.rotation.to_le_bytes());
                b.extend_from_slice(&[p.tilt, 0]);
                b.extend_from_slice(&p.contact_major.to_le_bytes());
                b.extend_from_slice(&p.contact_minor.to_le_bytes());
                PEN
            }
            InputEvent::ControllerArrival {
                controller,
                kind,
                capabilities,
                supported_buttons,
            } => {
                b.extend_from_slice(&[*controller, kind.wire()]);
                b.extend_from_slice(&capabilities.to_le_bytes());
                b.extend_from_slice(&supported_buttons.to_le_bytes());
                CONTROLLER_ARRIVAL
            }
            InputEvent::ControllerTouch(t) => {
                b.extend_from_slice(&[t.controller, t.kind.wire(), 0, t.touchpad]);
                b.extend_from_slice(&t.pointer_id.to_le_bytes());
                for f in [t.x, t.y, t.pressure] {
                    b.extend_from_slice(&f.to_le_bytes());
                }
                CONTROLLER_TOUCH
            }
            InputEvent::ControllerMotion {
                controller,
                motion_type,
                x,
                y,
                z,
            } => {
                b.extend_from_slice(&[*controller, *motion_type, 0, 0]);
                for f in [x, y, z] {
                    b.extend_from_slice(&f.to_le_bytes());
                }
                CONTROLLER_MOTION
            }
            InputEvent::ControllerBattery {
                controller,
                state,
                percent,
            } => {
                b.extend_from_slice(&[*controller, *state, *percent, 0]);
                CONTROLLER_BATTERY
            }
            InputEvent::Unknown { magic, body } => {
                b.extend_from_slice(body);
                *magic
            }
        };
        let mut packet = Vec::with_capacity(8 + b.len());
        packet.extend_from_slice(&((4 + b.len()) as u32).to_be_bytes());
        packet.extend_from_slice(&magic.to_le_bytes());
        packet.extend_from_slice(&b);
        packet
    }
}

#[cfg(test)]
mod tests;
