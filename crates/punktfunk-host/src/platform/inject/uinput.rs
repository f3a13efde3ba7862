//! Xbox 360 and Xbox One pads through `/dev/uinput`, with the ids, names and capabilities the
//! kernel's own `xpad` driver gives the real pads, so games and SDL recognise them. Rumble comes
//! back as force feedback: a game uploads an `FF_RUMBLE` effect (answered here through
//! `UI_BEGIN_FF_UPLOAD`/`UI_END_FF_UPLOAD`) and plays it, which becomes [`Feedback::Rumble`].
// Needs `unsafe` for uinput ioctls; every block says why it is sound (`// SAFETY:`).
#![allow(unsafe_code)]

use super::{Feedback, InputEvent};
use anyhow::{Context, Result};
use punktfunk_core::control::input::{PadKind, PadState, pad_buttons as b};
use rustix::fs::{Mode, OFlags};
use rustix::ioctl::{IntegerSetter, Opcode, Setter, Updater, ioctl, opcode};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::Path;

// linux/input-event-codes.h
const EV_SYN: u16 = 0x00;
const EV_KEY: u16 = 0x01;
const EV_ABS: u16 = 0x03;
const EV_FF: u16 = 0x15;
const EV_UINPUT: u16 = 0x0101;
const SYN_REPORT: u16 = 0;
const UI_FF_UPLOAD: u16 = 1;
const UI_FF_ERASE: u16 = 2;
const FF_RUMBLE: u16 = 0x50;
const ABS_X: u16 = 0x00;
const ABS_Y: u16 = 0x01;
const ABS_Z: u16 = 0x02;
const ABS_RX: u16 = 0x03;
const ABS_RY: u16 = 0x04;
const ABS_RZ: u16 = 0x05;
const ABS_HAT0X: u16 = 0x10;
const ABS_HAT0Y: u16 = 0x11;
const BUS_USB: u16 = 0x03;

/// Button bits of [`PadState`] and the evdev codes xpad reports for them.
pub const BUTTONS: [(u32, u16); 11] = [
    (b::A, 0x130),     // BTN_SOUTH
    (b::B, 0x131),     // BTN_EAST
    (b::X, 0x133),     // BTN_NORTH (xpad's X)
    (b::Y, 0x134),     // BTN_WEST (xpad's Y)
    (b::LB, 0x136),    // BTN_TL
    (b::RB, 0x137),    // BTN_TR
    (b::BACK, 0x13a),  // BTN_SELECT
    (b::START, 0x13b), // BTN_START
    (b::GUIDE, 0x13c), // BTN_MODE
    (b::LS, 0x13d),    // BTN_THUMBL
    (b::RS, 0x13e),    // BTN_THUMBR
];

/// What a pad model looks like to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XboxModel {
    pub vendor: u16,
    pub product: u16,
    pub version: u16,
    pub name: &'static str,
    /// Largest analog trigger value (the 360 reports 8 bits, the One 10).
    pub trigger_max: i32,
}

impl XboxModel {
    pub fn of(kind: PadKind) -> Option<XboxModel> {
        match kind {
            PadKind::Xbox360 => Some(XboxModel {
                vendor: 0x045e,
                product: 0x028e,
                version: 0x0114,
                name: "Microsoft X-Box 360 pad",
                trigger_max: 255,
            }),
            PadKind::XboxOne => Some(XboxModel {
                vendor: 0x045e,
                product: 0x02ea,
                version: 0x0301,
                name: "Microsoft X-Box One S pad",
                trigger_max: 1023,
            }),
            PadKind::DualSense | PadKind::DualShock4 => None,
        }
    }
}

#[repr(C)]
struct InputId {
    bustype: u16,
    vendor: u16,
    product: u16,
    version: u16,
}

#[repr(C)]
struct UinputSetup {
    id: InputId,
    name: [u8; 80],
    ff_effects_max: u32,
}

#[repr(C)]
struct AbsInfo {
    value: i32,
    minimum: i32,
    maximum: i32,
    fuzz: i32,
    flat: i32,
    resolution: i32,
}

#[repr(C)]
struct UinputAbsSetup {
    code: u16,
    absinfo: AbsInfo,
}

/// `struct ff_effect` (x86-64 layout: 16 bytes of header, a 32-byte union).
#[repr(C)]
#[derive(Clone, Copy)]
struct FfEffect {
    kind: u16,
    id: i16,
    direction: u16,
    trigger: [u16; 2],
    replay: [u16; 2],
    _pad: u16,
    /// For FF_RUMBLE: strong_magnitude, weak_magnitude (u16 each) first.
    union: [u64; 4],
}

#[repr(C)]
struct FfUpload {
    request_id: u32,
    retval: i32,
    effect: FfEffect,
    old: FfEffect,
}

#[repr(C)]
struct FfErase {
    request_id: u32,
    retval: i32,
    effect_id: u32,
}

const UI_DEV_CREATE: Opcode = opcode::none(b'U', 1);
const UI_DEV_DESTROY: Opcode = opcode::none(b'U', 2);
const UI_DEV_SETUP: Opcode = opcode::write::<UinputSetup>(b'U', 3);
const UI_ABS_SETUP: Opcode = opcode::write::<UinputAbsSetup>(b'U', 4);
const UI_SET_EVBIT: Opcode = opcode::write::<i32>(b'U', 100);
const UI_SET_KEYBIT: Opcode = opcode::write::<i32>(b'U', 101);
const UI_SET_ABSBIT: Opcode = opcode::write::<i32>(b'U', 103);
const UI_SET_FFBIT: Opcode = opcode::write::<i32>(b'U', 107);
const UI_BEGIN_FF_UPLOAD: Opcode = opcode::read_write::<FfUpload>(b'U', 200);
const UI_END_FF_UPLOAD: Opcode = opcode::write::<FfUpload>(b'U', 201);
const UI_BEGIN_FF_ERASE: Opcode = opcode::read_write::<FfErase>(b'U', 202);
const UI_END_FF_ERASE: Opcode = opcode::write::<FfErase>(b'U', 203);

fn set_bit<const OP: Opcode>(fd: &OwnedFd, value: u16) -> Result<()> {
    // SAFETY: the UI_SET_*BIT requests take their integer argument by value, not as a pointer.
    unsafe { ioctl(fd, IntegerSetter::<OP>::new_usize(value.into())) }
        .with_context(|| format!("uinput ioctl {OP:#x} {value:#x}"))
}

/// One virtual Xbox pad.
pub struct XboxPad {
    fd: OwnedFd,
    pad: u8,
    model: XboxModel,
    /// Uploaded rumble effects: id → (strong, weak).
    effects: HashMap<i16, (u16, u16)>,
    last: Option<PadState>,
}

impl XboxPad {
    /// Creates the device on `/dev/uinput` (or `uinput`, for tests in a VM).
    pub fn create(uinput: &Path, pad: u8, model: XboxModel) -> Result<XboxPad> {
        let fd = rustix::fs::open(
            uinput,
            OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("opening {}", uinput.display()))?;
        set_bit::<UI_SET_EVBIT>(&fd, EV_KEY)?;
        for (_, code) in BUTTONS {
            set_bit::<UI_SET_KEYBIT>(&fd, code)?;
        }
        set_bit::<UI_SET_EVBIT>(&fd, EV_ABS)?;
        let stick = (-32768, 32767, 16, 128);
        let trigger = (0, model.trigger_max, 0, 0);
        let hat = (-1, 1, 0, 0);
        for (code, (min, max, fuzz, flat)) in [
            (ABS_X, stick),
            (ABS_Y, stick),
            (ABS_RX, stick),
            (ABS_RY, stick),
            (ABS_Z, trigger),
            (ABS_RZ, trigger),
            (ABS_HAT0X, hat),
            (ABS_HAT0Y, hat),
        ] {
            set_bit::<UI_SET_ABSBIT>(&fd, code)?;
            let setup = UinputAbsSetup {
                code,
                absinfo: AbsInfo {
                    value: 0,
                    minimum: min,
                    maximum: max,
                    fuzz,
                    flat,
                    resolution: 0,
                },
            };
            // SAFETY: UI_ABS_SETUP reads one `struct uinput_abs_setup`, which `setup` is.
            unsafe { ioctl(&fd, Setter::<UI_ABS_SETUP, UinputAbsSetup>::new(setup)) }
                .context("UI_ABS_SETUP")?;
        }
        set_bit::<UI_SET_EVBIT>(&fd, EV_FF)?;
        set_bit::<UI_SET_FFBIT>(&fd, FF_RUMBLE)?;
        let mut name = [0u8; 80];
        name[..model.name.len()].copy_from_slice(model.name.as_bytes());
        let setup = UinputSetup {
            id: InputId {
                bustype: BUS_USB,
                vendor: model.vendor,
                product: model.product,
                version: model.version,
            },
            name,
            ff_effects_max: 16,
        };
        // SAFETY: UI_DEV_SETUP reads one `struct uinput_setup`, which `setup` is.
        unsafe { ioctl(&fd, Setter::<UI_DEV_SETUP, UinputSetup>::new(setup)) }
            .context("UI_DEV_SETUP")?;
        // SAFETY: UI_DEV_CREATE takes no argument.
        unsafe { ioctl(&fd, rustix::ioctl::NoArg::<UI_DEV_CREATE>::new()) }
            .context("UI_DEV_CREATE")?;
        tracing::info!(pad, name = model.name, "virtual Xbox pad created (uinput)");
        Ok(XboxPad {
            fd,
            pad,
            model,
            effects: HashMap::new(),
            last: None,
        })
    }

    fn write_events(&self, events: &[(u16, u16, i32)]) -> Result<()> {
        let mut buf = Vec::with_capacity(24 * (events.len() + 1));
        for &(kind, code, value) in events.iter().chain([(EV_SYN, SYN_REPORT, 0)].iter()) {
            buf.extend_from_slice(&[0u8; 16]); // timestamp: the kernel fills it in
            buf.extend_from_slice(&kind.to_le_bytes());
            buf.extend_from_slice(&code.to_le_bytes());
            buf.extend_from_slice(&value.to_le_bytes());
        }
        rustix::io::write(&self.fd, &buf).context("writing to uinput")?;
        Ok(())
    }

    pub fn handle(&mut self, event: &InputEvent) -> Result<()> {
        let InputEvent::PadState { state, .. } = event else {
            // Xbox pads have no motion sensors, touchpad or battery report.
            return Ok(());
        };
        let events = state_events(state, self.last.as_ref(), self.model.trigger_max);
        self.last = Some(*state);
        if !events.is_empty() {
            self.write_events(&events)?;
        }
        Ok(())
    }

    /// Answers force-feedback requests and turns played effects into rumble feedback.
    pub fn poll_feedback(&mut self, out: &mut Vec<Feedback>) -> Result<()> {
        let mut buf = [0u8; 24 * 16];
        loop {
            let n = match rustix::io::read(&self.fd, &mut buf) {
                Ok(n) => n,
                Err(rustix::io::Errno::AGAIN) => return Ok(()),
                Err(e) => return Err(e).context("reading from uinput"),
            };
            if n == 0 {
                return Ok(());
            }
            for ev in buf[..n].chunks_exact(24) {
                let kind = u16::from_le_bytes([ev[16], ev[17]]);
                let code = u16::from_le_bytes([ev[18], ev[19]]);
                let value = i32::from_le_bytes([ev[20], ev[21], ev[22], ev[23]]);
                match (kind, code) {
                    (EV_UINPUT, UI_FF_UPLOAD) => self.upload(value as u32)?,
                    (EV_UINPUT, UI_FF_ERASE) => self.erase(value as u32)?,
                    (EV_FF, id) => {
                        let (strong, weak) = if value > 0 {
                            self.effects.get(&(id as i16)).copied().unwrap_or((0, 0))
                        } else {
                            (0, 0)
                        };
                        out.push(Feedback::Rumble {
                            pad: self.pad,
                            low: strong,
                            high: weak,
                        });
                    }
                    _ => {}
                }
            }
        }
    }

    fn upload(&mut self, request_id: u32) -> Result<()> {
        let empty = FfEffect {
            kind: 0,
            id: 0,
            direction: 0,
            trigger: [0; 2],
            replay: [0; 2],
            _pad: 0,
            union: [0; 4],
        };
        let mut up = FfUpload {
            request_id,
            retval: 0,
            effect: empty,
            old: empty,
        };
        // SAFETY: UI_BEGIN_FF_UPLOAD fills the `struct uinput_ff_upload` it is given.
        unsafe {
            ioctl(
                &self.fd,
                Updater::<UI_BEGIN_FF_UPLOAD, FfUpload>::new(&mut up),
            )
        }
        .context("UI_BEGIN_FF_UPLOAD")?;
        if up.effect.kind == FF_RUMBLE {
            let raw = up.effect.union[0].to_le_bytes();
            let strong = u16::from_le_bytes([raw[0], raw[1]]);
            let weak = u16::from_le_bytes([raw[2], raw[3]]);
            self.effects.insert(up.effect.id, (strong, weak));
            up.retval = 0;
        } else {
            up.retval = -(rustix::io::Errno::INVAL.raw_os_error());
        }
        // SAFETY: UI_END_FF_UPLOAD reads the same struct back.
        unsafe { ioctl(&self.fd, Setter::<UI_END_FF_UPLOAD, FfUpload>::new(up)) }
            .context("UI_END_FF_UPLOAD")?;
        Ok(())
    }

    fn erase(&mut self, request_id: u32) -> Result<()> {
        let mut er = FfErase {
            request_id,
            retval: 0,
            effect_id: 0,
        };
        // SAFETY: UI_BEGIN_FF_ERASE fills the `struct uinput_ff_erase` it is given.
        unsafe {
            ioctl(
                &self.fd,
                Updater::<UI_BEGIN_FF_ERASE, FfErase>::new(&mut er),
            )
        }
        .context("UI_BEGIN_FF_ERASE")?;
        self.effects.remove(&(er.effect_id as i16));
        // SAFETY: UI_END_FF_ERASE reads the same struct back.
        unsafe { ioctl(&self.fd, Setter::<UI_END_FF_ERASE, FfErase>::new(er)) }
            .context("UI_END_FF_ERASE")?;
        Ok(())
    }
}

impl Drop for XboxPad {
    fn drop(&mut self) {
        // SAFETY: UI_DEV_DESTROY takes no argument.
        let _ = unsafe { ioctl(&self.fd, rustix::ioctl::NoArg::<UI_DEV_DESTROY>::new()) };
    }
}

/// The evdev events that take a pad from `last` to `state` (all of them without `last`).
pub fn state_events(
    state: &PadState,
    last: Option<&PadState>,
    trigger_max: i32,
) -> Vec<(u16, u16, i32)> {
    let mut out = Vec::new();
    for (bit, code) in BUTTONS {
        let now = state.buttons & bit != 0;
        if last.is_none_or(|l| (l.buttons & bit != 0) != now) {
            out.push((EV_KEY, code, i32::from(now)));
        }
    }
    let hat = |s: &PadState| {
        let axis =
            |neg: u32, pos: u32| i32::from(s.buttons & pos != 0) - i32::from(s.buttons & neg != 0);
        (axis(b::LEFT, b::RIGHT), axis(b::UP, b::DOWN))
    };
    // Evdev's Y axes grow downwards; the protocol's sticks are up-positive.
    let flip = |v: i16| -(i32::from(v)) - 1;
    let trig = |v: u8| i32::from(v) * trigger_max / 255;
    let axes = |s: &PadState| {
        let (hx, hy) = hat(s);
        [
            (ABS_X, i32::from(s.left_x)),
            (ABS_Y, flip(s.left_y)),
            (ABS_RX, i32::from(s.right_x)),
            (ABS_RY, flip(s.right_y)),
            (ABS_Z, trig(s.left_trigger)),
            (ABS_RZ, trig(s.right_trigger)),
            (ABS_HAT0X, hx),
            (ABS_HAT0Y, hy),
        ]
    };
    let now = axes(state);
    let before = last.map(axes);
    for (i, (code, value)) in now.iter().enumerate() {
        if before.is_none_or(|b| b[i].1 != *value) {
            out.push((EV_ABS, *code, *value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_sizes_match_the_kernel() {
        assert_eq!(std::mem::size_of::<UinputSetup>(), 92);
        assert_eq!(std::mem::size_of::<UinputAbsSetup>(), 28);
        assert_eq!(std::mem::size_of::<FfEffect>(), 48);
        assert_eq!(std::mem::size_of::<FfUpload>(), 104);
        assert_eq!(std::mem::size_of::<FfErase>(), 12);
    }

    #[test]
    fn state_changes_become_events() {
        let s = PadState {
            buttons: b::A | b::UP,
            left_x: 1000,
            left_y: 32767,
            right_trigger: 255,
            ..PadState::default()
        };
        let all = state_events(&s, None, 1023);
        assert!(all.contains(&(EV_KEY, 0x130, 1)));
        assert!(all.contains(&(EV_KEY, 0x131, 0)));
        assert!(all.contains(&(EV_ABS, ABS_Y, -32768)));
        assert!(all.contains(&(EV_ABS, ABS_RZ, 1023)));
        assert!(all.contains(&(EV_ABS, ABS_HAT0Y, -1)));
        let mut t = s;
        t.buttons = b::A;
        t.left_x = 0;
        let delta = state_events(&t, Some(&s), 1023);
        assert_eq!(delta, vec![(EV_ABS, ABS_X, 0), (EV_ABS, ABS_HAT0Y, 0)]);
        assert!(state_events(&t, Some(&t), 1023).is_empty());
    }
}
