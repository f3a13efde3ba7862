//! DualSense and DualShock 4 pads through `/dev/uhid`: the kernel sees a USB HID device with the
//! real ids and report layouts ([`super::hid_descriptors`]); state goes in as input reports, and
//! output reports the game writes (rumble, lightbar, player LEDs, adaptive triggers) come back as
//! [`Feedback`]. The drivers' feature-report requests (calibration, MAC address, firmware version)
//! are answered the way a real pad answers them, with nominal values.

use super::hid_descriptors::{Extras, PsModel, input_report, parse_output};
use super::{Feedback, InputEvent};
use anyhow::{Context, Result};
use punktfunk_core::control::input::PadState;
use rustix::fs::{Mode, OFlags};
use std::os::fd::OwnedFd;
use std::path::Path;

// linux/uhid.h
const UHID_DESTROY: u32 = 1;
const UHID_OUTPUT: u32 = 6;
const UHID_GET_REPORT: u32 = 9;
const UHID_GET_REPORT_REPLY: u32 = 10;
const UHID_CREATE2: u32 = 11;
const UHID_INPUT2: u32 = 12;
const UHID_SET_REPORT: u32 = 13;
const UHID_SET_REPORT_REPLY: u32 = 14;
const BUS_USB: u16 = 0x03;
/// `sizeof(struct uhid_event)`: the type and the largest member (`uhid_create2_req`).
pub const EVENT_LEN: usize = 4 + 128 + 64 + 64 + 2 + 2 + 4 + 4 + 4 + 4 + 4096;
const DATA_MAX: usize = 4096;

/// Bytes of a UHID_CREATE2 event for `model`.
pub fn create_event(model: PsModel, uniq: &str) -> Vec<u8> {
    let mut ev = vec![0u8; EVENT_LEN];
    ev[..4].copy_from_slice(&UHID_CREATE2.to_le_bytes());
    let put = |ev: &mut [u8], at: usize, max: usize, s: &str| {
        let n = s.len().min(max - 1);
        ev[at..at + n].copy_from_slice(&s.as_bytes()[..n]);
    };
    put(&mut ev, 4, 128, model.name());
    put(&mut ev, 4 + 128, 64, "punktfunk");
    put(&mut ev, 4 + 192, 64, uniq);
    let desc = model.descriptor();
    let (vendor, product) = model.ids();
    let mut at = 4 + 256;
    for field in [
        &(desc.len() as u16).to_le_bytes()[..],
        &BUS_USB.to_le_bytes(),
        &vendor.to_le_bytes(),
        &product.to_le_bytes(),
        &0x0100u32.to_le_bytes(), // version
        &0u32.to_le_bytes(),      // country
    ] {
        ev[at..at + field.len()].copy_from_slice(field);
        at += field.len();
    }
    ev[at..at + desc.len()].copy_from_slice(desc);
    ev
}

fn input_event(report: &[u8]) -> Vec<u8> {
    let mut ev = vec![0u8; EVENT_LEN];
    ev[..4].copy_from_slice(&UHID_INPUT2.to_le_bytes());
    let n = report.len().min(DATA_MAX);
    ev[4..6].copy_from_slice(&(n as u16).to_le_bytes());
    ev[6..6 + n].copy_from_slice(&report[..n]);
    ev
}

/// One virtual PlayStation pad.
pub struct PsPad {
    fd: OwnedFd,
    pad: u8,
    model: PsModel,
    state: PadState,
    extras: Extras,
}

impl PsPad {
    pub fn create(uhid: &Path, pad: u8, model: PsModel) -> Result<PsPad> {
        let fd = rustix::fs::open(
            uhid,
            OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("opening {}", uhid.display()))?;
        // A unique serial per pad, so several pads of one model stay apart.
        let uniq = format!("00:50:46:00:00:{pad:02x}");
        rustix::io::write(&fd, &create_event(model, &uniq)).context("UHID_CREATE2")?;
        tracing::info!(pad, ?model, "virtual PlayStation pad created (uhid)");
        let mut me = PsPad {
            fd,
            pad,
            model,
            state: PadState::default(),
            extras: Extras {
                battery: (100, false),
                ..Extras::default()
            },
        };
        me.send()?;
        Ok(me)
    }

    fn send(&mut self) -> Result<()> {
        self.extras.counter = (self.extras.counter + 1) & 0x3f;
        let report = input_report(self.model, &self.state, &self.extras);
        rustix::io::write(&self.fd, &input_event(&report)).context("UHID_INPUT2")?;
        Ok(())
    }

    pub fn handle(&mut self, event: &InputEvent) -> Result<()> {
        match event {
            InputEvent::PadState { state, .. } => self.state = *state,
            InputEvent::PadMotion { gyro, accel, .. } => {
                // Protocol units are ×100; the pads' raw units are about 16 per °/s (gyroscope)
                // and 8192 per g (accelerometer).
                let g = |v: i16| (i32::from(v) * 16 / 100).clamp(-32768, 32767) as i16;
                let a = |v: i16| (i32::from(v) * 8192 / 981).clamp(-32768, 32767) as i16;
                self.extras.motion = [
                    g(gyro[0]),
                    g(gyro[1]),
                    g(gyro[2]),
                    a(accel[0]),
                    a(accel[1]),
                    a(accel[2]),
                ];
            }
            InputEvent::PadTouch {
                finger, down, x, y, ..
            } => {
                let slot = usize::from(*finger & 1);
                // Touchpad resolution 1920×1080 (DualSense) / 1920×942 (DualShock 4).
                let h = match self.model {
                    PsModel::DualSense => 1080,
                    PsModel::DualShock4 => 942,
                };
                let px = punktfunk_core::control::input::denormalize(*x, 1920) as u16;
                let py = punktfunk_core::control::input::denormalize(*y, h) as u16;
                if let Some(t) = self.extras.touch.get_mut(slot) {
                    *t = (*finger, *down, px, py);
                }
            }
            InputEvent::PadBattery { state, percent, .. } => {
                self.extras.battery = ((*percent).min(100), *state == 2 || *state == 3);
            }
            _ => return Ok(()),
        }
        self.send()
    }

    /// Reads what the kernel sent: output reports become feedback; report requests are answered.
    pub fn poll_feedback(&mut self, out: &mut Vec<Feedback>) -> Result<()> {
        let mut ev = vec![0u8; EVENT_LEN];
        loop {
            let n = match rustix::io::read(&self.fd, &mut ev) {
                Ok(n) => n,
                Err(rustix::io::Errno::AGAIN) => return Ok(()),
                Err(e) => return Err(e).context("reading from uhid"),
            };
            let Some(kind) = ev.get(..4).filter(|_| n >= 4) else {
                return Ok(());
            };
            match u32::from_le_bytes([kind[0], kind[1], kind[2], kind[3]]) {
                UHID_OUTPUT => {
                    // struct uhid_output_req { data[4096]; u16 size; u8 rtype; }
                    let size =
                        usize::from(u16::from_le_bytes([ev[4 + DATA_MAX], ev[5 + DATA_MAX]]));
                    let data = &ev[4..4 + size.min(DATA_MAX)];
                    parse_output(self.model, self.pad, data, out);
                }
                UHID_GET_REPORT => {
                    // struct uhid_get_report_req { u32 id; u8 rnum; u8 rtype; }
                    let id = [ev[4], ev[5], ev[6], ev[7]];
                    let rnum = ev[8];
                    let len = match (self.model, rnum) {
                        (PsModel::DualShock4, 0x02) => 37,
                        // The pad's MAC address (the DualShock 4 driver asks before it binds).
                        (PsModel::DualShock4, 0x81) => 7,
                        // Firmware version data.
                        (PsModel::DualShock4, 0xa3) => 49,
                        (PsModel::DualSense, 0x05) => 41,
                        (PsModel::DualSense, 0x20) => 64,
                        _ => 0,
                    };
                    let mut reply = vec![0u8; EVENT_LEN];
                    reply[..4].copy_from_slice(&UHID_GET_REPORT_REPLY.to_le_bytes());
                    reply[4..8].copy_from_slice(&id);
                    // err = EIO for reports this pad does not have.
                    let err: u16 = if len == 0 { 5 } else { 0 };
                    reply[8..10].copy_from_slice(&err.to_le_bytes());
                    reply[10..12].copy_from_slice(&(len as u16).to_le_bytes());
                    if len > 0 {
                        reply[12] = rnum;
                    }
                    if (self.model, rnum) == (PsModel::DualShock4, 0x02) {
                        reply[12..12 + 37]
                            .copy_from_slice(&super::hid_descriptors::ds4_calibration());
                    }
                    if rnum == 0x81 {
                        reply[13..19].copy_from_slice(&[0x00, 0x00, 0x00, 0x46, 0x50, self.pad]);
                    }
                    rustix::io::write(&self.fd, &reply).context("UHID_GET_REPORT_REPLY")?;
                }
                UHID_SET_REPORT => {
                    // struct uhid_set_report_req { u32 id; u8 rnum; u8 rtype; u16 size; data }
                    let id = [ev[4], ev[5], ev[6], ev[7]];
                    let mut reply = vec![0u8; EVENT_LEN];
                    reply[..4].copy_from_slice(&UHID_SET_REPORT_REPLY.to_le_bytes());
                    reply[4..8].copy_from_slice(&id);
                    rustix::io::write(&self.fd, &reply).context("UHID_SET_REPORT_REPLY")?;
                }
                _ => {} // start, stop, open, close
            }
        }
    }
}

impl Drop for PsPad {
    fn drop(&mut self) {
        let mut ev = vec![0u8; EVENT_LEN];
        ev[..4].copy_from_slice(&UHID_DESTROY.to_le_bytes());
        let _ = rustix::io::write(&self.fd, &ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_event_layout() {
        assert_eq!(EVENT_LEN, 4376);
        let ev = create_event(PsModel::DualSense, "00:50:46:00:00:01");
        assert_eq!(&ev[..4], &UHID_CREATE2.to_le_bytes());
        assert!(ev[4..].starts_with(b"Sony Interactive Entertainment DualSense"));
        let rd = 4 + 256;
        let len = u16::from_le_bytes([ev[rd], ev[rd + 1]]) as usize;
        assert_eq!(len, PsModel::DualSense.descriptor().len());
        assert_eq!(u16::from_le_bytes([ev[rd + 2], ev[rd + 3]]), BUS_USB);
        assert_eq!(&ev[rd + 4..rd + 8], &0x054cu32.to_le_bytes());
        assert_eq!(&ev[rd + 8..rd + 12], &0x0ce6u32.to_le_bytes());
        assert_eq!(&ev[rd + 20..rd + 20 + len], PsModel::DualSense.descriptor());
    }
}
