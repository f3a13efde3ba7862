use super::*;
use proptest::prelude::*;

fn state(controller: u16, active_mask: u16, buttons: u32) -> GsEvent {
    GsEvent::Gamepad(GamepadState {
        controller,
        active_mask,
        buttons,
        left_trigger: 10,
        right_trigger: 250,
        left_stick: (-32768, 32767),
        right_stick: (100, -100),
    })
}

fn run(bridge: &mut PadBridge, event: &GsEvent) -> Vec<InputEvent> {
    let mut out = Vec::new();
    bridge.translate(event, &mut out);
    out
}

#[test]
fn an_arrival_creates_the_matching_pad_and_state_drives_it() {
    let mut bridge = PadBridge::new();
    let arrival = GsEvent::ControllerArrival {
        controller: 1,
        kind: ControllerKind::PlayStation,
        capabilities: capability::RUMBLE
            | capability::TOUCHPAD
            | capability::ACCEL
            | capability::GYRO
            | capability::RGB_LED,
        supported_buttons: 0xFFFF,
    };
    assert_eq!(
        run(&mut bridge, &arrival),
        [InputEvent::PadArrive {
            pad: 1,
            kind: PadKind::DualSense,
            caps: pad_caps::RUMBLE | pad_caps::TOUCHPAD | pad_caps::MOTION | pad_caps::RGB_LED,
        }]
    );
    let pressed = button::A | button::DPAD_LEFT | button::GUIDE | button::TOUCHPAD;
    assert_eq!(
        run(&mut bridge, &state(1, 0b10, pressed)),
        [InputEvent::PadState {
            pad: 1,
            state: PadState {
                buttons: pad_buttons::A
                    | pad_buttons::LEFT
                    | pad_buttons::GUIDE
                    | pad_buttons::TOUCHPAD,
                left_x: -32768,
                left_y: 32767,
                right_x: 100,
                right_y: -100,
                left_trigger: 10,
                right_trigger: 250,
            },
        }]
    );
}

#[test]
fn state_without_an_arrival_creates_an_xbox_pad_once() {
    let mut bridge = PadBridge::new();
    let first = run(&mut bridge, &state(0, 0b1, button::B));
    assert!(matches!(
        first[0],
        InputEvent::PadArrive {
            pad: 0,
            kind: PadKind::XboxOne,
            ..
        }
    ));
    assert!(matches!(first[1], InputEvent::PadState { pad: 0, .. }));
    let second = run(&mut bridge, &state(0, 0b1, 0));
    assert_eq!(second.len(), 1, "{second:?}");
}

#[test]
fn a_cleared_mask_bit_removes_the_pad() {
    let mut bridge = PadBridge::new();
    run(&mut bridge, &state(0, 0b11, 0));
    run(&mut bridge, &state(1, 0b11, 0));
    // Controller 1 goes away: Moonlight sends its state with its bit cleared.
    assert_eq!(
        run(&mut bridge, &state(1, 0b01, 0)),
        [InputEvent::PadRemove { pad: 1 }]
    );
    // Pad 0 is untouched and still known.
    assert_eq!(run(&mut bridge, &state(0, 0b01, 0)).len(), 1);
}

#[test]
fn touch_motion_and_battery_reach_announced_pads_only() {
    let mut bridge = PadBridge::new();
    let touch = GsEvent::ControllerTouch(ControllerTouch {
        controller: 0,
        kind: TouchEventKind::Down,
        touchpad: 0,
        pointer_id: 3,
        x: 0.5,
        y: 2.0,
        pressure: 1.0,
    });
    assert!(run(&mut bridge, &touch).is_empty(), "no pad yet");
    run(&mut bridge, &state(0, 1, 0));
    assert_eq!(
        run(&mut bridge, &touch),
        [InputEvent::PadTouch {
            pad: 0,
            finger: 1,
            down: true,
            x: 32768,
            y: 65535,
        }]
    );
    let accel = GsEvent::ControllerMotion {
        controller: 0,
        motion_type: 1,
        x: 0.0,
        y: 9.81,
        z: -1.5,
    };
    let gyro = GsEvent::ControllerMotion {
        controller: 0,
        motion_type: 2,
        x: 1000.0,
        y: -2.0,
        z: 0.25,
    };
    assert_eq!(
        run(&mut bridge, &accel),
        [InputEvent::PadMotion {
            pad: 0,
            accel: [0, 981, -150],
            gyro: [0, 0, 0],
        }]
    );
    // Each report carries the other sensor's last reading; out-of-range values saturate.
    assert_eq!(
        run(&mut bridge, &gyro),
        [InputEvent::PadMotion {
            pad: 0,
            accel: [0, 981, -150],
            gyro: [32767, -200, 25],
        }]
    );
    let battery = GsEvent::ControllerBattery {
        controller: 0,
        state: 0x03,
        percent: 0xFF,
    };
    assert_eq!(
        run(&mut bridge, &battery),
        [InputEvent::PadBattery {
            pad: 0,
            state: 2,
            percent: 0,
        }]
    );
}

#[test]
fn feedback_becomes_moonlight_messages() {
    assert_eq!(
        feedback_message(&Feedback::Rumble {
            pad: 2,
            low: 0x1234,
            high: 0xFFFF
        }),
        Some(HostMessage::Rumble {
            controller: 2,
            low_frequency: 0x1234,
            high_frequency: 0xFFFF
        })
    );
    assert_eq!(
        feedback_message(&Feedback::Led {
            pad: 0,
            r: 1,
            g: 2,
            b: 3
        }),
        Some(HostMessage::RgbLed {
            controller: 0,
            red: 1,
            green: 2,
            blue: 3
        })
    );
    let params = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert_eq!(
        feedback_message(&Feedback::AdaptiveTrigger {
            pad: 1,
            trigger: Trigger::Right,
            mode: 0x26,
            params
        }),
        Some(HostMessage::AdaptiveTriggers {
            controller: 1,
            event_flags: 0x04,
            type_left: 0,
            type_right: 0x26,
            left: [0; 10],
            right: params,
        })
    );
    assert_eq!(
        feedback_message(&Feedback::PlayerLeds { pad: 0, bits: 1 }),
        None
    );
}

fn any_controller_event() -> impl Strategy<Value = GsEvent> {
    // Controller numbers past Moonlight's 16 are in range too: they must be ignored.
    let controller = 0u8..20;
    prop_oneof![
        (controller.clone(), 0u8..6, any::<u16>()).prop_map(|(c, kind, caps)| {
            GsEvent::ControllerArrival {
                controller: c,
                kind: ControllerKind::from_wire(kind),
                capabilities: caps,
                supported_buttons: 0,
            }
        }),
        (0u16..20, any::<u16>(), any::<u32>()).prop_map(|(c, mask, b)| state(c, mask, b)),
        (
            controller.clone(),
            0u8..9,
            any::<u32>(),
            any::<f32>(),
            any::<f32>()
        )
            .prop_map(
                |(c, kind, id, x, y)| GsEvent::ControllerTouch(ControllerTouch {
                    controller: c,
                    kind: TouchEventKind::from_wire(kind),
                    touchpad: 0,
                    pointer_id: id,
                    x,
                    y,
                    pressure: 1.0,
                })
            ),
        (controller.clone(), 0u8..4, any::<f32>()).prop_map(|(c, t, v)| {
            GsEvent::ControllerMotion {
                controller: c,
                motion_type: t,
                x: v,
                y: -v,
                z: v * 1e6,
            }
        }),
        (controller, any::<u8>(), any::<u8>()).prop_map(|(c, state, percent)| {
            GsEvent::ControllerBattery {
                controller: c,
                state,
                percent,
            }
        }),
    ]
}

proptest! {
    /// Whatever a client sends, the bridge never panics and only ever names pads 0..16 that it
    /// announced first (and removes only pads it announced).
    #[test]
    fn pad_events_only_name_announced_pads(events in proptest::collection::vec(any_controller_event(), 0..60)) {
        let mut bridge = PadBridge::new();
        let mut arrived = [false; CONTROLLERS];
        for event in events {
            for e in run(&mut bridge, &event) {
                match e {
                    InputEvent::PadArrive { pad, .. } => arrived[usize::from(pad)] = true,
                    InputEvent::PadRemove { pad } => {
                        prop_assert!(arrived[usize::from(pad)]);
                        arrived[usize::from(pad)] = false;
                    }
                    InputEvent::PadState { pad, .. }
                    | InputEvent::PadTouch { pad, .. }
                    | InputEvent::PadMotion { pad, .. }
                    | InputEvent::PadBattery { pad, .. } => prop_assert!(arrived[usize::from(pad)]),
                    other => prop_assert!(false, "not a pad event: {other:?}"),
                }
            }
        }
    }

    /// Raw packets through the real decoder as well.
    #[test]
    fn decoded_packets_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(event) = GsEvent::decode(&bytes) {
            let _ = run(&mut PadBridge::new(), &event);
        }
    }
}

#[test]
fn only_pads_with_a_place_for_motion_get_it_switched_on() {
    let arrival = |kind, capabilities| GsEvent::ControllerArrival {
        controller: 3,
        kind,
        capabilities,
        supported_buttons: 0,
    };
    let both = capability::ACCEL | capability::GYRO;
    assert_eq!(
        PadBridge::requests(&arrival(ControllerKind::PlayStation, capability::GYRO)),
        [HostMessage::MotionEventEnable {
            controller: 3,
            report_rate_hz: MOTION_REPORT_HZ,
            motion_type: 2,
        }]
    );
    assert_eq!(
        PadBridge::requests(&arrival(ControllerKind::PlayStation, both)).len(),
        2
    );
    // An Xbox pad has no motion sensors to feed; a PlayStation pad without sensors asks nothing.
    assert!(PadBridge::requests(&arrival(ControllerKind::Xbox, both)).is_empty());
    assert!(PadBridge::requests(&arrival(ControllerKind::PlayStation, 0)).is_empty());
    assert!(PadBridge::requests(&state(0, 1, 0)).is_empty());
}
