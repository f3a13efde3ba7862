//! A session's virtual gamepads: created when the client announces a pad, fed its state, removed
//! when the client says so or the session ends. Xbox pads go through uinput, PlayStation pads
//! through UHID; where the kernel offers neither, pad events are reported unsupported.

use super::hid_descriptors::PsModel;
use super::uhid::PsPad;
use super::uinput::{XboxModel, XboxPad};
use super::{Feedback, InjectError, InputEvent};
use punktfunk_core::control::input::PadKind;
use std::collections::BTreeMap;
use std::path::PathBuf;

enum Pad {
    Xbox(XboxPad),
    Ps(PsPad),
}

/// The pads of one session.
pub struct Pads {
    uinput: PathBuf,
    uhid: PathBuf,
    pads: BTreeMap<u8, Pad>,
}

impl Default for Pads {
    fn default() -> Self {
        Self::new()
    }
}

impl Pads {
    pub fn new() -> Self {
        Self::with_devices("/dev/uinput".into(), "/dev/uhid".into())
    }

    /// With other device nodes (tests).
    pub fn with_devices(uinput: PathBuf, uhid: PathBuf) -> Self {
        Pads {
            uinput,
            uhid,
            pads: BTreeMap::new(),
        }
    }

    pub fn handle(&mut self, event: &InputEvent) -> Result<(), InjectError> {
        let pad = match event {
            InputEvent::PadArrive { pad, kind, caps } => {
                // A pad arriving again (the client reconnected it) replaces the old one.
                self.pads.remove(pad);
                let created = match XboxModel::of(*kind) {
                    Some(model) if self.uinput.exists() => {
                        XboxPad::create(&self.uinput, *pad, model).map(Pad::Xbox)
                    }
                    Some(_) => {
                        return Err(InjectError::Unsupported(
                            "Xbox gamepads (no /dev/uinput on this host)",
                        ));
                    }
                    None if self.uhid.exists() => {
                        let model = match kind {
                            PadKind::DualSense => PsModel::DualSense,
                            _ => PsModel::DualShock4,
                        };
                        PsPad::create(&self.uhid, *pad, model).map(Pad::Ps)
                    }
                    None => {
                        return Err(InjectError::Unsupported(
                            "PlayStation gamepads (no /dev/uhid on this host)",
                        ));
                    }
                };
                tracing::info!(pad, ?kind, caps, "gamepad arrived");
                self.pads.insert(*pad, created?);
                return Ok(());
            }
            InputEvent::PadRemove { pad } => {
                self.pads.remove(pad);
                return Ok(());
            }
            InputEvent::PadState { pad, .. }
            | InputEvent::PadMotion { pad, .. }
            | InputEvent::PadTouch { pad, .. }
            | InputEvent::PadBattery { pad, .. } => *pad,
            _ => return Err(InjectError::Unsupported(super::event_kind(event))),
        };
        match self.pads.get_mut(&pad) {
            Some(Pad::Xbox(p)) => p.handle(event)?,
            Some(Pad::Ps(p)) => p.handle(event)?,
            // State for a pad that never arrived (or whose creation failed): nothing to drive.
            None => {
                return Err(InjectError::Unsupported(
                    "events for a pad that did not arrive",
                ));
            }
        }
        Ok(())
    }

    pub fn poll_feedback(&mut self, out: &mut Vec<Feedback>) {
        for (index, pad) in &mut self.pads {
            let polled = match pad {
                Pad::Xbox(p) => p.poll_feedback(out),
                Pad::Ps(p) => p.poll_feedback(out),
            };
            if let Err(e) = polled {
                tracing::warn!(pad = index, "gamepad feedback: {e:#}");
            }
        }
    }
}
