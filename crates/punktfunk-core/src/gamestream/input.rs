//! Moonlight input packets (the payload of control message 0x0206) decoded into plain events the host
//! hands to an input sink.
//!
//! Every packet is `BE32 size` (bytes after this field), `LE32 magic`, then fields whose byte order
//! is per field: mouse and scroll values are big-endian, everything else little-endian; floats are
//! little-endian IEEE 754. Decoding checks the size against the buffer and each body against its
//! fixed layout; a longer body is accepted (newer clients may append fields) and the extra ignored.

pub const KEY_DOWN: u32 = 0x03;
pub const KEY_UP: u32 = 0x04;
pub const MOUSE_MOVE_ABS: u32 = 0x05;
pub const MOUSE_MOVE_REL: u32 = 0x07;
pub const MOUSE_BUTTON_DOWN: u32 = 0x08;
pub const MOUSE_BUTTON_UP: u32 = 0x09;
pub const SCROLL: u32 = 0x0A;
pub const MULTI_CONTROLLER: u32 = 0x0C;
pub const HAPTICS_ENABLE: u32 = 0x0D;
pub const UTF8_TEXT: u32 = 0x17;
pub const HSCROLL: u32 = 0x5500_0001;
pub const TOUCH: u32 = 0x5500_0002;
pub const PEN: u32 = 0x5500_0003;
pub const CONTROLLER_ARRIVAL: u32 = 0x5500_0004;
pub const CONTROLLER_TOUCH: u32 = 0x5500_0005;
pub const CONTROLLER_MOTION: u32 = 0x5500_0006;
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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("input packet of {0} bytes is shorter than its 8-byte header")]
    TooShort(usize),
    #[error("input packet of {0} bytes is larger than any client sends")]
    TooLarge(usize),
    #[error("size field says {declared} bytes follow, the packet has {actual}")]
    SizeMismatch { declared: u32, actual: usize },
    #[error("input packet {magic:#x} needs {need} body bytes, has {have}")]
    Truncated {
        magic: u32,
        need: usize,
        have: usize,
    },
    #[error("text input of {0} bytes exceeds {MAX_TEXT_BYTES}")]
    TextTooLong(usize),
    #[error("text input is not UTF-8")]
    TextNotUtf8,
}

/// Keyboard modifier bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Modifiers(pub u8);

impl Modifiers {
    pub const SHIFT: u8 = 0x01;
    pub const CTRL: u8 = 0x02;
    pub const ALT: u8 = 0x04;
    pub const META: u8 = 0x08;

    pub fn contains(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouseButton {
    Left,
    Middle,
    Right,
    X1,
    X2,
    Other(u8),
}

impl MouseButton {
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
    Hover,
    Down,
    Up,
    Move,
    Cancel,
    ButtonOnly,
    HoverLeave,
    CancelAll,
    Other(u8),
}

impl TouchEventKind {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControllerKind {
    Unknown,
    Xbox,
    PlayStation,
    Nintendo,
    Steam,
    Other(u8),
}

impl ControllerKind {
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
    pub const ANALOG_TRIGGERS: u16 = 0x01;
    pub const RUMBLE: u16 = 0x02;
    pub const TRIGGER_RUMBLE: u16 = 0x04;
    pub const TOUCHPAD: u16 = 0x08;
    pub const ACCEL: u16 = 0x10;
    pub const GYRO: u16 = 0x20;
    pub const BATTERY_STATE: u16 = 0x40;
    pub const RGB_LED: u16 = 0x80;
}

/// Gamepad button bits of [`GamepadState::buttons`] (low 16 bits on the wire first, then the high).
pub mod button {
    pub const DPAD_UP: u32 = 0x0001;
    pub const DPAD_DOWN: u32 = 0x0002;
    pub const DPAD_LEFT: u32 = 0x0004;
    pub const DPAD_RIGHT: u32 = 0x0008;
    pub const START: u32 = 0x0010;
    pub const BACK: u32 = 0x0020;
    pub const LEFT_STICK: u32 = 0x0040;
    pub const RIGHT_STICK: u32 = 0x0080;
    pub const LEFT_BUMPER: u32 = 0x0100;
    pub const RIGHT_BUMPER: u32 = 0x0200;
    pub const GUIDE: u32 = 0x0400;
    pub const A: u32 = 0x1000;
    pub const B: u32 = 0x2000;
    pub const X: u32 = 0x4000;
    pub const Y: u32 = 0x8000;
    pub const PADDLE1: u32 = 0x01_0000;
    pub const PADDLE2: u32 = 0x02_0000;
    pub const PADDLE3: u32 = 0x04_0000;
    pub const PADDLE4: u32 = 0x08_0000;
    pub const TOUCHPAD: u32 = 0x10_0000;
    pub const MISC: u32 = 0x20_0000;
}

/// Full state of one gamepad (0x0C multi-controller packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GamepadState {
    pub controller: u16,
    /// Bit n set = gamepad n is connected; a cleared bit for `controller` means it went away.
    pub active_mask: u16,
    pub buttons: u32,
    pub left_trigger: u8,
    pub right_trigger: u8,
    pub left_stick: (i16, i16),
    pub right_stick: (i16, i16),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Touch {
    pub kind: TouchEventKind,
    /// Degrees clockwise from vertical; 0xFFFF = unknown.
    pub rotation: u16,
    pub pointer_id: u32,
    /// Normalized 0..1 over the stream's video area.
    pub x: f32,
    pub y: f32,
    /// Pressure while touching, distance while hovering.
    pub pressure_or_distance: f32,
    pub contact_major: f32,
    pub contact_minor: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pen {
    pub kind: TouchEventKind,
    /// 0 unknown, 1 pen, 2 eraser.
    pub tool: u8,
    /// 0x01 primary, 0x02 secondary, 0x04 tertiary.
    pub buttons: u8,
    pub x: f32,
    pub y: f32,
    pub pressure_or_distance: f32,
    pub rotation: u16,
    /// Degrees from perpendicular; 0xFF = unknown.
    pub tilt: u8,
    pub contact_major: f32,
    pub contact_minor: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControllerTouch {
    pub controller: u8,
    pub kind: TouchEventKind,
    pub touchpad: u8,
    pub pointer_id: u32,
    pub x: f32,
    pub y: f32,
    pub pressure: f32,
}

/// One decoded input packet.
#[derive(Debug, Clone, PartialEq)]
pub enum InputEvent {
    Key {
        down: bool,
        /// Sunshine extension; 0x01 = the key code is not normalized to a US layout.
        flags: u8,
        /// Windows virtual-key code as sent; the key is `key_code & 0xFF`.
        key_code: u16,
        modifiers: Modifiers,
    },
    MouseMoveRelative {
        dx: i16,
        dy: i16,
    },
    /// `x`, `y` relative to a `reference_width × reference_height` area (the client's view).
    MouseMoveAbsolute {
        x: i16,
        y: i16,
        reference_width: u32,
        reference_height: u32,
    },
    MouseButton {
        down: bool,
        button: MouseButton,
    },
    /// Vertical scroll in 1/120 notch units (high-resolution wheels send less than 120).
    Scroll {
        amount: i16,
    },
    HorizontalScroll {
        amount: i16,
    },
    Text(String),
    Gamepad(GamepadState),
    ControllerArrival {
        controller: u8,
        kind: ControllerKind,
        capabilities: u16,
        supported_buttons: u32,
    },
    ControllerTouch(ControllerTouch),
    ControllerMotion {
        controller: u8,
        /// 1 accelerometer (m/s²), 2 gyroscope (°/s).
        motion_type: u8,
        x: f32,
        y: f32,
        z: f32,
    },
    ControllerBattery {
        controller: u8,
        state: u8,
        /// 0..=100, 0xFF unknown.
        percent: u8,
    },
    Touch(Touch),
    Pen(Pen),
    HapticsEnable(bool),
    /// A magic this host does not know; kept so callers can count it.
    Unknown {
        magic: u32,
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
#[path = "input_tests.rs"]
mod tests;
