//! HID report descriptors and report layouts of the PlayStation pads we emulate over UHID.
//!
//! The descriptors are written here item by item to give exactly the USB report layouts of the
//! real pads — DualShock 4 (054C:09CC): input report 0x01 of 64 bytes, output report 0x05 of 32;
//! DualSense (054C:0CE6): input 0x01 of 64 bytes, output 0x02 of 48 — so that software reading the
//! raw reports (SDL, Steam Input, games) finds every byte where the real pad has it. The sticks,
//! hat, buttons and triggers are declared as such, so the generic HID driver already makes a
//! working gamepad of them; the rest (sensors, touchpad, battery) is vendor data at the real
//! offsets. A small item parser checks the layouts in the tests.

use punktfunk_core::control::input::{Feedback, PadState, Trigger, pad_buttons as b};

/// Builds descriptor bytes from short items.
macro_rules! items {
    ($($byte:expr),* $(,)?) => { &[$($byte),*] };
}

/// DualShock 4 (USB): sticks X, Y, Z, Rz; hat; 14 buttons; a 6-bit counter; triggers Rx, Ry;
/// 54 vendor bytes (timestamp, sensors, battery, touchpad); output 0x05; calibration feature 0x02.
pub const DS4_DESCRIPTOR: &[u8] = items![
    0x05, 0x01, // Usage Page (Generic Desktop)
    0x09, 0x05, // Usage (Game Pad)
    0xA1, 0x01, // Collection (Application)
    0x85, 0x01, //   Report ID (1)
    0x09, 0x30, 0x09, 0x31, 0x09, 0x32, 0x09, 0x35, // Usages X, Y, Z, Rz
    0x15, 0x00, 0x26, 0xFF, 0x00, // Logical 0..255
    0x75, 0x08, 0x95, 0x04, 0x81, 0x02, // 4 × 8 bits, Input (Data, Var, Abs)
    0x09, 0x39, // Usage (Hat switch)
    0x15, 0x00, 0x25, 0x07, // Logical 0..7
    0x35, 0x00, 0x46, 0x3B, 0x01, // Physical 0..315
    0x65, 0x14, // Unit (degrees)
    0x75, 0x04, 0x95, 0x01, 0x81, 0x42, // 1 × 4 bits, Input (Data, Var, Abs, Null)
    0x65, 0x00, // Unit (none)
    0x05, 0x09, 0x19, 0x01, 0x29, 0x0E, // Buttons 1..14
    0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x0E, 0x81, 0x02, // 14 × 1 bit
    0x06, 0x00, 0xFF, 0x09, 0x20, // Vendor usage: counter
    0x75, 0x06, 0x95, 0x01, 0x81, 0x02, // 1 × 6 bits
    0x05, 0x01, 0x09, 0x33, 0x09, 0x34, // Usages Rx, Ry (analog triggers)
    0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08, 0x95, 0x02, 0x81, 0x02, // 2 × 8 bits
    0x06, 0x00, 0xFF, 0x09, 0x21, // Vendor usage: sensors, battery, touchpad
    0x95, 0x36, 0x81, 0x02, // 54 × 8 bits
    0x85, 0x05, 0x09, 0x22, 0x95, 0x1F, 0x91, 0x02, //   Report ID 5: 31 bytes Output
    0x85, 0x02, 0x09, 0x24, 0x95, 0x24, 0xB1, 0x02, //   Report ID 2: 36 bytes Feature
    0xC0, // End Collection
];

/// DualSense (USB): sticks X, Y, Rx, Ry; triggers Z, Rz; a sequence byte; hat; 15 buttons and 13
/// padding bits; 52 vendor bytes; output 0x02; calibration feature 0x05, firmware feature 0x20.
pub const DUALSENSE_DESCRIPTOR: &[u8] = items![
    0x05, 0x01, // Usage Page (Generic Desktop)
    0x09, 0x05, // Usage (Game Pad)
    0xA1, 0x01, // Collection (Application)
    0x85, 0x01, //   Report ID (1)
    0x09, 0x30, 0x09, 0x31, 0x09, 0x33, 0x09, 0x34, 0x09, 0x32, 0x09, 0x35, // X Y Rx Ry Z Rz
    0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08, 0x95, 0x06, 0x81, 0x02, // 6 × 8 bits
    0x06, 0x00, 0xFF, 0x09, 0x20, 0x95, 0x01, 0x81, 0x02, // Vendor: sequence number
    0x05, 0x01, 0x09, 0x39, // Usage (Hat switch)
    0x15, 0x00, 0x25, 0x07, 0x35, 0x00, 0x46, 0x3B, 0x01, 0x65, 0x14, // 0..7, 0..315°
    0x75, 0x04, 0x95, 0x01, 0x81, 0x42, // 1 × 4 bits, Null state
    0x65, 0x00, // Unit (none)
    0x05, 0x09, 0x19, 0x01, 0x29, 0x0F, // Buttons 1..15
    0x15, 0x00, 0x25, 0x01, 0x75, 0x01, 0x95, 0x0F, 0x81, 0x02, // 15 × 1 bit
    0x06, 0x00, 0xFF, 0x09, 0x21, 0x95, 0x0D, 0x81, 0x02, // 13 vendor bits
    0x09, 0x22, 0x75, 0x08, 0x95, 0x34, 0x81, 0x02, // 52 vendor bytes
    0x85, 0x02, 0x09, 0x23, 0x95, 0x2F, 0x91, 0x02, //   Report ID 2: 47 bytes Output
    0x85, 0x05, 0x09, 0x24, 0x95, 0x28, 0xB1, 0x02, //   Report ID 5: 40 bytes Feature
    0x85, 0x20, 0x09, 0x25, 0x95, 0x3F, 0xB1, 0x02, //   Report ID 0x20: 63 bytes Feature
    0xC0, // End Collection
];

/// Which PlayStation pad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsModel {
    DualShock4,
    DualSense,
}

impl PsModel {
    pub fn descriptor(self) -> &'static [u8] {
        match self {
            PsModel::DualShock4 => DS4_DESCRIPTOR,
            PsModel::DualSense => DUALSENSE_DESCRIPTOR,
        }
    }
    pub fn ids(self) -> (u32, u32) {
        match self {
            PsModel::DualShock4 => (0x054c, 0x09cc),
            PsModel::DualSense => (0x054c, 0x0ce6),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            PsModel::DualShock4 => "Sony Interactive Entertainment Wireless Controller",
            PsModel::DualSense => "Sony Interactive Entertainment DualSense Wireless Controller",
        }
    }
}

/// The DualShock 4's calibration feature report 0x02 (USB), with nominal values: no gyro bias,
/// ±8704 gyro counts for ±540 °/s, ±8192 accelerometer counts per g. A pad must answer with
/// plausible numbers: Linux 6.1's hid-sony divides by the ranges and oopses on zeros.
pub fn ds4_calibration() -> [u8; 37] {
    let mut r = [0u8; 37];
    r[0] = 0x02;
    // Biases (pitch, yaw, roll), then plus/minus per gyro axis, the speed pair, then accel
    // plus/minus per axis.
    let values: [i16; 17] = [
        0, 0, 0, 8704, -8704, 8704, -8704, 8704, -8704, 540, 540, 8192, -8192, 8192, -8192, 8192,
        -8192,
    ];
    for (i, v) in values.iter().enumerate() {
        r[1 + 2 * i..3 + 2 * i].copy_from_slice(&v.to_le_bytes());
    }
    r
}

/// Length of the USB input report 0x01 (with its id byte).
pub const INPUT_REPORT_LEN: usize = 64;

fn stick(v: i16) -> u8 {
    ((i32::from(v) >> 8) + 128) as u8
}

fn stick_y(v: i16) -> u8 {
    // HID axes grow downwards; the protocol's sticks are up-positive.
    (127 - (i32::from(v) >> 8)) as u8
}

fn hat(buttons: u32) -> u8 {
    let (up, down, left, right) = (
        buttons & b::UP != 0,
        buttons & b::DOWN != 0,
        buttons & b::LEFT != 0,
        buttons & b::RIGHT != 0,
    );
    match (up, right, down, left) {
        (true, false, false, false) => 0,
        (true, true, false, false) => 1,
        (false, true, false, false) => 2,
        (false, true, true, false) => 3,
        (false, false, true, false) => 4,
        (false, false, true, true) => 5,
        (false, false, false, true) => 6,
        (true, false, false, true) => 7,
        _ => 8, // released (the Null state)
    }
}

/// Face and shoulder buttons in PlayStation order: square, cross, circle, triangle, L1, R1, L2,
/// R2, share/create, options, L3, R3, PS, touchpad, mute.
fn ps_buttons(s: &PadState) -> u16 {
    let bits = [
        s.buttons & b::X != 0,
        s.buttons & b::A != 0,
        s.buttons & b::B != 0,
        s.buttons & b::Y != 0,
        s.buttons & b::LB != 0,
        s.buttons & b::RB != 0,
        s.left_trigger > 0,
        s.right_trigger > 0,
        s.buttons & b::BACK != 0,
        s.buttons & b::START != 0,
        s.buttons & b::LS != 0,
        s.buttons & b::RS != 0,
        s.buttons & b::GUIDE != 0,
        s.buttons & b::TOUCHPAD != 0,
        s.buttons & b::MISC != 0,
    ];
    bits.iter()
        .enumerate()
        .fold(0u16, |acc, (i, on)| acc | (u16::from(*on) << i))
}

/// What the input report carries besides buttons and sticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extras {
    /// Raw sensor values: gyro x, y, z then accelerometer x, y, z.
    pub motion: [i16; 6],
    /// Up to two touchpad fingers: (id, down, x, y) in touchpad pixels.
    pub touch: [(u8, bool, u16, u16); 2],
    /// Battery: percent and charging.
    pub battery: (u8, bool),
    pub counter: u8,
}

fn put_touch(report: &mut [u8], at: usize, (id, down, x, y): (u8, bool, u16, u16)) {
    if let Some(t) = report.get_mut(at..at + 4) {
        t[0] = (id & 0x7f) | if down { 0 } else { 0x80 };
        t[1] = x as u8;
        t[2] = ((x >> 8) as u8 & 0x0f) | ((y as u8 & 0x0f) << 4);
        t[3] = (y >> 4) as u8;
    }
}

fn put_i16s(report: &mut [u8], at: usize, values: &[i16]) {
    for (i, v) in values.iter().enumerate() {
        if let Some(d) = report.get_mut(at + 2 * i..at + 2 * i + 2) {
            d.copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// The USB input report 0x01 for `state`.
pub fn input_report(model: PsModel, s: &PadState, x: &Extras) -> [u8; INPUT_REPORT_LEN] {
    let mut r = [0u8; INPUT_REPORT_LEN];
    r[0] = 0x01;
    let buttons = ps_buttons(s);
    let face = (hat(s.buttons) & 0x0f) | ((buttons as u8 & 0x0f) << 4);
    match model {
        PsModel::DualShock4 => {
            r[1] = stick(s.left_x);
            r[2] = stick_y(s.left_y);
            r[3] = stick(s.right_x);
            r[4] = stick_y(s.right_y);
            r[5] = face;
            r[6] = (buttons >> 4) as u8;
            r[7] = ((buttons >> 12) as u8 & 0x03) | (x.counter << 2);
            r[8] = s.left_trigger;
            r[9] = s.right_trigger;
            put_i16s(&mut r, 13, &x.motion);
            let level = (x.battery.0 / 10).min(10);
            r[30] = level | if x.battery.1 { 0x10 } else { 0 };
            r[33] = u8::from(x.touch.iter().any(|t| t.1));
            put_touch(&mut r, 35, x.touch[0]);
            put_touch(&mut r, 39, x.touch[1]);
        }
        PsModel::DualSense => {
            r[1] = stick(s.left_x);
            r[2] = stick_y(s.left_y);
            r[3] = stick(s.right_x);
            r[4] = stick_y(s.right_y);
            r[5] = s.left_trigger;
            r[6] = s.right_trigger;
            r[7] = x.counter;
            r[8] = face;
            r[9] = (buttons >> 4) as u8;
            r[10] = (buttons >> 12) as u8 & 0x07;
            put_i16s(&mut r, 16, &x.motion);
            put_touch(&mut r, 33, x.touch[0]);
            put_touch(&mut r, 37, x.touch[1]);
            let level = (x.battery.0 / 10).min(10);
            let state = match x.battery {
                (100, true) => 2,
                (_, true) => 1,
                _ => 0,
            };
            r[53] = level | (state << 4);
        }
    }
    r
}

/// Turns an output report the game wrote into feedback for the client.
pub fn parse_output(model: PsModel, pad: u8, report: &[u8], out: &mut Vec<Feedback>) {
    let at = |i: usize| report.get(i).copied().unwrap_or(0);
    match (model, report.first()) {
        (PsModel::DualShock4, Some(0x05)) => {
            let flags = at(1);
            if flags & 0x01 != 0 {
                out.push(Feedback::Rumble {
                    pad,
                    low: u16::from(at(5)) << 8,
                    high: u16::from(at(4)) << 8,
                });
            }
            if flags & 0x02 != 0 {
                out.push(Feedback::Led {
                    pad,
                    r: at(6),
                    g: at(7),
                    b: at(8),
                });
            }
        }
        (PsModel::DualSense, Some(0x02)) => {
            let (vf0, vf1) = (at(1), at(2));
            if vf0 & 0x03 != 0 {
                out.push(Feedback::Rumble {
                    pad,
                    low: u16::from(at(4)) << 8,
                    high: u16::from(at(3)) << 8,
                });
            }
            for (flag, trigger, base) in [(0x04, Trigger::Right, 11), (0x08, Trigger::Left, 22)] {
                if vf0 & flag != 0 {
                    let mut params = [0u8; 10];
                    for (i, p) in params.iter_mut().enumerate() {
                        *p = at(base + 1 + i);
                    }
                    out.push(Feedback::AdaptiveTrigger {
                        pad,
                        trigger,
                        mode: at(base),
                        params,
                    });
                }
            }
            if vf1 & 0x10 != 0 {
                out.push(Feedback::PlayerLeds { pad, bits: at(44) });
            }
            if vf1 & 0x04 != 0 {
                out.push(Feedback::Led {
                    pad,
                    r: at(45),
                    g: at(46),
                    b: at(47),
                });
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Bits per (main item kind, report id), from a descriptor's short items.
    fn report_bits(desc: &[u8]) -> BTreeMap<(u8, u8), u32> {
        let mut sizes = BTreeMap::new();
        let (mut size, mut count, mut id, mut depth) = (0u32, 0u32, 0u8, 0i32);
        let mut i = 0;
        while i < desc.len() {
            let prefix = desc[i];
            let len = match prefix & 0x03 {
                3 => 4,
                n => usize::from(n),
            };
            let data = &desc[i + 1..i + 1 + len];
            let value = data
                .iter()
                .rev()
                .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
            match prefix & 0xFC {
                0x74 => size = value,
                0x94 => count = value,
                0x84 => id = value as u8,
                0xA0 => depth += 1,
                0xC0 => depth -= 1,
                tag @ (0x80 | 0x90 | 0xB0) => *sizes.entry((tag, id)).or_insert(0) += size * count,
                _ => {}
            }
            i += 1 + len;
        }
        assert_eq!(depth, 0, "collections balanced");
        sizes
    }

    #[test]
    fn ds4_descriptor_has_the_real_report_sizes() {
        let bits = report_bits(DS4_DESCRIPTOR);
        assert_eq!(bits[&(0x80, 1)], 63 * 8, "input 0x01");
        assert_eq!(bits[&(0x90, 5)], 31 * 8, "output 0x05");
        assert_eq!(bits[&(0xB0, 2)], 36 * 8, "feature 0x02");
    }

    #[test]
    fn dualsense_descriptor_has_the_real_report_sizes() {
        let bits = report_bits(DUALSENSE_DESCRIPTOR);
        assert_eq!(bits[&(0x80, 1)], 63 * 8, "input 0x01");
        assert_eq!(bits[&(0x90, 2)], 47 * 8, "output 0x02");
        assert_eq!(bits[&(0xB0, 5)], 40 * 8, "feature 0x05");
        assert_eq!(bits[&(0xB0, 0x20)], 63 * 8, "feature 0x20");
    }

    #[test]
    fn input_reports_put_fields_where_the_real_pads_have_them() {
        let s = PadState {
            buttons: b::A | b::UP | b::RIGHT | b::GUIDE,
            left_x: 32767,
            left_y: 32767,
            right_x: -32768,
            right_y: 0,
            left_trigger: 10,
            right_trigger: 200,
        };
        let x = Extras {
            battery: (55, true),
            ..Extras::default()
        };
        let r = input_report(PsModel::DualSense, &s, &x);
        assert_eq!(&r[..7], &[0x01, 255, 0, 0, 127, 10, 200]);
        assert_eq!(r[8], 1 | (0b0010 << 4), "hat NE, cross");
        assert_eq!(r[9], 0b0000_1100, "L2, R2 pressed by their analog value");
        assert_eq!(r[10], 0b001, "PS");
        assert_eq!(r[53], 5 | (1 << 4));
        let r = input_report(PsModel::DualShock4, &s, &x);
        assert_eq!(&r[..5], &[0x01, 255, 0, 0, 127]);
        assert_eq!(r[5], 1 | (0b0010 << 4));
        assert_eq!(r[7] & 0x03, 0b01, "PS");
        assert_eq!((r[8], r[9]), (10, 200));
        assert_eq!(r[30], 5 | 0x10);
        assert_eq!(hat(0), 8);
    }

    #[test]
    fn output_reports_become_feedback() {
        let mut ds = [0u8; 48];
        ds[0] = 0x02;
        ds[1] = 0x01 | 0x04;
        ds[2] = 0x04 | 0x10;
        ds[3] = 0x40; // right (weak) motor
        ds[4] = 0x80; // left (strong) motor
        ds[11] = 0x26;
        ds[12] = 7;
        ds[44] = 0b00100;
        ds[45..48].copy_from_slice(&[1, 2, 3]);
        let mut out = Vec::new();
        parse_output(PsModel::DualSense, 3, &ds, &mut out);
        let mut params = [0u8; 10];
        params[0] = 7;
        assert_eq!(
            out,
            vec![
                Feedback::Rumble {
                    pad: 3,
                    low: 0x8000,
                    high: 0x4000
                },
                Feedback::AdaptiveTrigger {
                    pad: 3,
                    trigger: Trigger::Right,
                    mode: 0x26,
                    params
                },
                Feedback::PlayerLeds { pad: 3, bits: 4 },
                Feedback::Led {
                    pad: 3,
                    r: 1,
                    g: 2,
                    b: 3
                },
            ]
        );
        let mut out = Vec::new();
        let ds4 = [0x05, 0x03, 0, 0, 0x10, 0x20, 9, 8, 7];
        parse_output(PsModel::DualShock4, 0, &ds4, &mut out);
        assert_eq!(
            out,
            vec![
                Feedback::Rumble {
                    pad: 0,
                    low: 0x2000,
                    high: 0x1000
                },
                Feedback::Led {
                    pad: 0,
                    r: 9,
                    g: 8,
                    b: 7
                },
            ]
        );
        // Short or foreign reports give nothing and never panic.
        let mut out = Vec::new();
        parse_output(PsModel::DualSense, 0, &[0x02], &mut out);
        parse_output(PsModel::DualSense, 0, &[], &mut out);
        parse_output(PsModel::DualShock4, 0, &[0x11, 0xff], &mut out);
        assert!(out.is_empty());
    }
}
