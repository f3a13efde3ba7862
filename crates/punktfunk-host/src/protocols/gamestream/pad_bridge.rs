//! Moonlight's controllers as the host's virtual gamepads, and the pads' feedback as Moonlight's
//! control messages.
//!
//! Moonlight describes up to 16 controllers: an arrival packet (kind, capabilities) when the client
//! has one, then full state packets whose active mask says which controllers exist — a cleared bit
//! is how a controller leaves. Clients from before arrival packets only send state, so the first
//! state of an unknown controller creates an Xbox pad. Touchpad, motion and battery packets of
//! PlayStation controllers go to the matching pad events. One bridge per control connection.

use punktfunk_core::control::input::{
    Feedback, InputEvent, PadKind, PadState, Trigger, pad_buttons, pad_caps,
};
use punktfunk_core::gamestream::control::{HostMessage, TRIGGER_EFFECT_LEN};
use punktfunk_core::gamestream::input::{
    ControllerKind, ControllerTouch, GamepadState, InputEvent as GsEvent, TouchEventKind, button,
    capability,
};

/// Controllers Moonlight can describe (its active mask is 16 bits).
const CONTROLLERS: usize = 16;
/// How often a controller with motion sensors is asked to report each of them.
pub const MOTION_REPORT_HZ: u16 = 100;

/// What one control connection has told the host about its controllers.
#[derive(Debug, Default)]
pub struct PadBridge {
    /// Bit n: pad n was announced to the injector and not removed since.
    arrived: u16,
    /// The last accelerometer and gyroscope readings per pad: Moonlight sends them separately,
    /// a pad's motion event carries both.
    motion: [([i16; 3], [i16; 3]); CONTROLLERS],
}

impl PadBridge {
    pub fn new() -> Self {
        Self::default()
    }

    /// The pad events `event` stands for (none for events that are not about controllers).
    pub fn translate(&mut self, event: &GsEvent, out: &mut Vec<InputEvent>) {
        match event {
            GsEvent::ControllerArrival {
                controller,
                kind,
                capabilities,
                ..
            } => {
                let Some(pad) = index(u16::from(*controller)) else {
                    return;
                };
                self.arrived |= 1 << pad;
                self.motion[usize::from(pad)] = Default::default();
                out.push(InputEvent::PadArrive {
                    pad,
                    kind: pad_kind(*kind),
                    caps: pad_capabilities(*capabilities),
                });
            }
            GsEvent::Gamepad(state) => self.state(state, out),
            GsEvent::ControllerTouch(touch) => {
                if let Some(event) = self.touch(touch) {
                    out.push(event);
                }
            }
            GsEvent::ControllerMotion {
                controller,
                motion_type,
                x,
                y,
                z,
            } => {
                let Some(pad) = index(u16::from(*controller)).filter(|p| self.has(*p)) else {
                    return;
                };
                let reading = [*x, *y, *z].map(|v| (v * 100.0).clamp(-32768.0, 32767.0) as i16);
                let (accel, gyro) = &mut self.motion[usize::from(pad)];
                match motion_type {
                    1 => *accel = reading,
                    2 => *gyro = reading,
                    _ => return,
                }
                out.push(InputEvent::PadMotion {
                    pad,
                    accel: *accel,
                    gyro: *gyro,
                });
            }
            GsEvent::ControllerBattery {
                controller,
                state,
                percent,
            } => {
                let Some(pad) = index(u16::from(*controller)).filter(|p| self.has(*p)) else {
                    return;
                };
                let (state, percent) = battery(*state, *percent);
                out.push(InputEvent::PadBattery {
                    pad,
                    state,
                    percent,
                });
            }
            _ => {}
        }
    }

    /// What the host asks of the client when `event` announces a controller: clients keep their
    /// motion sensors off until asked, so a pad that has a place for motion (a DualSense) gets
    /// accelerometer and gyroscope reports switched on.
    pub fn requests(event: &GsEvent) -> Vec<HostMessage> {
        let GsEvent::ControllerArrival {
            controller,
            kind,
            capabilities,
            ..
        } = event
        else {
            return Vec::new();
        };
        if index(u16::from(*controller)).is_none() || pad_kind(*kind) != PadKind::DualSense {
            return Vec::new();
        }
        [(capability::ACCEL, 1), (capability::GYRO, 2)]
            .into_iter()
            .filter(|(cap, _)| capabilities & cap != 0)
            .map(|(_, motion_type)| HostMessage::MotionEventEnable {
                controller: u16::from(*controller),
                report_rate_hz: MOTION_REPORT_HZ,
                motion_type,
            })
            .collect()
    }

    fn has(&self, pad: u8) -> bool {
        self.arrived & (1 << pad) != 0
    }

    fn state(&mut self, state: &GamepadState, out: &mut Vec<InputEvent>) {
        // Every announced pad whose bit is gone has left (Moonlight clears it on disconnect).
        let gone = self.arrived & !state.active_mask;
        for pad in (0..CONTROLLERS as u8).filter(|p| gone & (1 << p) != 0) {
            out.push(InputEvent::PadRemove { pad });
        }
        self.arrived &= !gone;
        let Some(pad) = index(state.controller) else {
            return;
        };
        if state.active_mask & (1 << pad) == 0 {
            return;
        }
        if !self.has(pad) {
            // A client that never sent an arrival: the pad every game understands.
            self.arrived |= 1 << pad;
            out.push(InputEvent::PadArrive {
                pad,
                kind: PadKind::XboxOne,
                caps: pad_caps::RUMBLE,
            });
        }
        out.push(InputEvent::PadState {
            pad,
            state: PadState {
                buttons: buttons(state.buttons),
                left_x: state.left_stick.0,
                left_y: state.left_stick.1,
                right_x: state.right_stick.0,
                right_y: state.right_stick.1,
                left_trigger: state.left_trigger,
                right_trigger: state.right_trigger,
            },
        });
    }

    fn touch(&self, touch: &ControllerTouch) -> Option<InputEvent> {
        let pad = index(u16::from(touch.controller)).filter(|p| self.has(*p))?;
        let down = match touch.kind {
            TouchEventKind::Down | TouchEventKind::Move => true,
            TouchEventKind::Up | TouchEventKind::Cancel | TouchEventKind::CancelAll => false,
            _ => return None,
        };
        let scale = |v: f32| (v.clamp(0.0, 1.0) * 65535.0).round() as u16;
        Some(InputEvent::PadTouch {
            pad,
            // Two fingers is what a DualSense touchpad tracks.
            finger: (touch.pointer_id % 2) as u8,
            down,
            x: scale(touch.x),
            y: scale(touch.y),
        })
    }
}

/// The pad index of Moonlight controller `controller`, if it is one Moonlight can describe.
fn index(controller: u16) -> Option<u8> {
    (usize::from(controller) < CONTROLLERS).then_some(controller as u8)
}

/// PlayStation controllers become DualSense pads (touchpad, motion, light bar, adaptive triggers
/// all have a place there); everything else an Xbox One pad.
fn pad_kind(kind: ControllerKind) -> PadKind {
    match kind {
        ControllerKind::PlayStation => PadKind::DualSense,
        _ => PadKind::XboxOne,
    }
}

fn pad_capabilities(caps: u16) -> u32 {
    const MAP: [(u16, u32); 6] = [
        (capability::RUMBLE, pad_caps::RUMBLE),
        (capability::TRIGGER_RUMBLE, pad_caps::TRIGGER_RUMBLE),
        (capability::TOUCHPAD, pad_caps::TOUCHPAD),
        (capability::ACCEL | capability::GYRO, pad_caps::MOTION),
        (capability::BATTERY_STATE, pad_caps::BATTERY),
        (capability::RGB_LED, pad_caps::RGB_LED),
    ];
    MAP.iter()
        .filter(|(moonlight, _)| caps & moonlight != 0)
        .fold(0, |all, (_, ours)| all | ours)
}

/// Moonlight's button bits and ours, pair by pair.
const BUTTONS: [(u32, u32); 17] = [
    (button::A, pad_buttons::A),
    (button::B, pad_buttons::B),
    (button::X, pad_buttons::X),
    (button::Y, pad_buttons::Y),
    (button::LEFT_BUMPER, pad_buttons::LB),
    (button::RIGHT_BUMPER, pad_buttons::RB),
    (button::BACK, pad_buttons::BACK),
    (button::START, pad_buttons::START),
    (button::GUIDE, pad_buttons::GUIDE),
    (button::LEFT_STICK, pad_buttons::LS),
    (button::RIGHT_STICK, pad_buttons::RS),
    (button::DPAD_UP, pad_buttons::UP),
    (button::DPAD_DOWN, pad_buttons::DOWN),
    (button::DPAD_LEFT, pad_buttons::LEFT),
    (button::DPAD_RIGHT, pad_buttons::RIGHT),
    (button::TOUCHPAD, pad_buttons::TOUCHPAD),
    (button::MISC, pad_buttons::MISC),
];

/// Our button bits for every Moonlight bit set in `moonlight` (paddles have no place on the
/// pads this host creates).
fn buttons(moonlight: u32) -> u32 {
    BUTTONS
        .iter()
        .filter(|(theirs, _)| moonlight & theirs != 0)
        .fold(0, |all, (_, ours)| all | ours)
}

/// Moonlight's `LI_BATTERY_STATE_*` and percentage (0xFF = unknown) as the pads' battery report
/// (0 unknown, 1 discharging, 2 charging, 3 full).
fn battery(state: u8, percent: u8) -> (u8, u8) {
    let state = match state {
        0x02 | 0x04 => 1, // discharging, or plugged in but not charging
        0x03 => 2,
        0x05 => 3,
        _ => 0, // unknown, or no battery
    };
    let percent = if percent == 0xFF { 0 } else { percent.min(100) };
    (state, percent)
}

/// The control message that carries `feedback` to the client, if GameStream has one for it.
pub fn feedback_message(feedback: &Feedback) -> Option<HostMessage> {
    Some(match *feedback {
        Feedback::Rumble { pad, low, high } => HostMessage::Rumble {
            controller: u16::from(pad),
            low_frequency: low,
            high_frequency: high,
        },
        Feedback::TriggerRumble { pad, left, right } => HostMessage::TriggerRumble {
            controller: u16::from(pad),
            left,
            right,
        },
        Feedback::Led { pad, r, g, b } => HostMessage::RgbLed {
            controller: u16::from(pad),
            red: r,
            green: g,
            blue: b,
        },
        Feedback::AdaptiveTrigger {
            pad,
            trigger,
            mode,
            params,
        } => {
            let effect: [u8; TRIGGER_EFFECT_LEN] = params;
            let (event_flags, left, right) = match trigger {
                Trigger::Left => (0x08, effect, [0; TRIGGER_EFFECT_LEN]),
                Trigger::Right => (0x04, [0; TRIGGER_EFFECT_LEN], effect),
            };
            HostMessage::AdaptiveTriggers {
                controller: u16::from(pad),
                event_flags,
                type_left: if trigger == Trigger::Left { mode } else { 0 },
                type_right: if trigger == Trigger::Right { mode } else { 0 },
                left,
                right,
            }
        }
        // Moonlight has no player-number lights.
        Feedback::PlayerLeds { .. } => return None,
    })
}

#[cfg(test)]
mod tests;
