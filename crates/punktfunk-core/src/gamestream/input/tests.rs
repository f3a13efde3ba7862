use super::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Packets laid out by hand from moonlight-common-c's Input.h structs and byte-order macros.
#[test]
fn known_packets_decode() {
    // Key down 'A' (0x41) with Shift, non-normalized flag.
    let key = hex("0000000a 03000000 01 4100 01 0000");
    assert_eq!(
        InputEvent::decode(&key).unwrap(),
        InputEvent::Key {
            down: true,
            flags: 1,
            key_code: 0x41,
            modifiers: Modifiers(Modifiers::SHIFT)
        }
    );
    // Relative move: BE16 dx = -2, dy = 300.
    let rel = hex("00000008 07000000 fffe 012c");
    assert_eq!(
        InputEvent::decode(&rel).unwrap(),
        InputEvent::MouseMoveRelative { dx: -2, dy: 300 }
    );
    // Absolute move in a 1920×1080 reference (sent as 1919×1079).
    let abs = hex("0000000e 05000000 0064 00c8 0000 077f 0437");
    assert_eq!(
        InputEvent::decode(&abs).unwrap(),
        InputEvent::MouseMoveAbsolute {
            x: 100,
            y: 200,
            reference_width: 1920,
            reference_height: 1080
        }
    );
    // Scroll one notch down (-120), repeated.
    let scroll = hex("0000000a 0a000000 ff88 ff88 0000");
    assert_eq!(
        InputEvent::decode(&scroll).unwrap(),
        InputEvent::Scroll { amount: -120 }
    );
    let hscroll = hex("00000006 01000055 0078");
    assert_eq!(
        InputEvent::decode(&hscroll).unwrap(),
        InputEvent::HorizontalScroll { amount: 120 }
    );
    let button = hex("00000005 09000000 03");
    assert_eq!(
        InputEvent::decode(&button).unwrap(),
        InputEvent::MouseButton {
            down: false,
            button: MouseButton::Right
        }
    );
    let text = hex("00000007 17000000 c3a4 21");
    assert_eq!(
        InputEvent::decode(&text).unwrap(),
        InputEvent::Text("ä!".into())
    );
    // Gamepad 1 of mask 0b11: A + paddle 1, LT 255, left stick (-32768, 32767).
    let pad =
        hex("0000001e 0c000000 1a00 0100 0300 1400 0010 ff 00 0080 ff7f 0000 0000 9c00 0100 5500");
    assert_eq!(
        InputEvent::decode(&pad).unwrap(),
        InputEvent::Gamepad(GamepadState {
            controller: 1,
            active_mask: 3,
            buttons: button::A | button::PADDLE1,
            left_trigger: 255,
            right_trigger: 0,
            left_stick: (-32768, 32767),
            right_stick: (0, 0),
        })
    );
    let arrival = hex("0000000c 04000055 00 02 fb00 ffff0f00");
    assert_eq!(
        InputEvent::decode(&arrival).unwrap(),
        InputEvent::ControllerArrival {
            controller: 0,
            kind: ControllerKind::PlayStation,
            capabilities: 0xFB,
            supported_buttons: 0x000F_FFFF,
        }
    );
    // Touch down, pointer 7, x = 0.5, y = 1.0.
    let touch =
        hex("00000020 02000055 01 00 ffff 07000000 0000003f 0000803f 00000000 00000000 00000000");
    let InputEvent::Touch(t) = InputEvent::decode(&touch).unwrap() else {
        panic!("not a touch");
    };
    assert_eq!(
        (t.kind, t.rotation, t.pointer_id, t.x, t.y),
        (TouchEventKind::Down, 0xFFFF, 7, 0.5, 1.0)
    );
    let battery = hex("00000008 07000055 02 02 50 00");
    assert_eq!(
        InputEvent::decode(&battery).unwrap(),
        InputEvent::ControllerBattery {
            controller: 2,
            state: 2,
            percent: 80
        }
    );
    let haptics = hex("00000006 0d000000 0100");
    assert_eq!(
        InputEvent::decode(&haptics).unwrap(),
        InputEvent::HapticsEnable(true)
    );
}

#[test]
fn every_known_packet_has_the_size_moonlight_sends() {
    // sizeof(struct) − 4 for each of Input.h's packets.
    let cases = [
        (KEY_DOWN, 10),
        (MOUSE_MOVE_REL, 8),
        (MOUSE_MOVE_ABS, 14),
        (MOUSE_BUTTON_UP, 5),
        (SCROLL, 10),
        (HSCROLL, 6),
        (MULTI_CONTROLLER, 30),
        (HAPTICS_ENABLE, 6),
        (TOUCH, 32),
        (PEN, 32),
        (CONTROLLER_ARRIVAL, 12),
        (CONTROLLER_TOUCH, 24),
        (CONTROLLER_MOTION, 20),
        (CONTROLLER_BATTERY, 8),
    ];
    for (magic, size) in cases {
        assert_eq!(body_len(magic).unwrap() + 4, size, "{magic:#x}");
    }
}

#[test]
fn malformed_packets_are_rejected_with_a_reason() {
    assert_eq!(InputEvent::decode(&[0, 0, 0]), Err(InputError::TooShort(3)));
    assert_eq!(
        InputEvent::decode(&hex("00000009 07000000 fffe 012c")),
        Err(InputError::SizeMismatch {
            declared: 9,
            actual: 8
        })
    );
    assert_eq!(
        InputEvent::decode(&hex("00000006 07000000 fffe")),
        Err(InputError::Truncated {
            magic: MOUSE_MOVE_REL,
            need: 4,
            have: 2
        })
    );
    assert_eq!(
        InputEvent::decode(&hex("00000006 17000000 c328")),
        Err(InputError::TextNotUtf8)
    );
    let mut long_text = hex("00000025 17000000");
    long_text.extend([b'a'; 33]);
    assert_eq!(
        InputEvent::decode(&long_text),
        Err(InputError::TextTooLong(33))
    );
    assert!(matches!(
        InputEvent::decode(&vec![0; MAX_PACKET + 1]),
        Err(InputError::TooLarge(_))
    ));
}

#[test]
fn unknown_magics_are_kept() {
    assert_eq!(
        InputEvent::decode(&hex("00000006 99000055 abcd")).unwrap(),
        InputEvent::Unknown {
            magic: 0x5500_0099,
            body: vec![0xab, 0xcd]
        }
    );
}

fn f32_bits() -> impl Strategy<Value = f32> {
    any::<u32>().prop_map(f32::from_bits)
}

fn touch_kind() -> impl Strategy<Value = TouchEventKind> {
    any::<u8>().prop_map(TouchEventKind::from_wire)
}

fn event() -> impl Strategy<Value = InputEvent> {
    prop_oneof![
        (any::<bool>(), any::<u8>(), any::<u16>(), any::<u8>()).prop_map(
            |(down, flags, key_code, m)| {
                InputEvent::Key {
                    down,
                    flags,
                    key_code,
                    modifiers: Modifiers(m),
                }
            }
        ),
        (any::<i16>(), any::<i16>()).prop_map(|(dx, dy)| InputEvent::MouseMoveRelative { dx, dy }),
        (any::<i16>(), any::<i16>(), 1u32..=65536, 1u32..=65536).prop_map(|(x, y, w, h)| {
            InputEvent::MouseMoveAbsolute {
                x,
                y,
                reference_width: w,
                reference_height: h,
            }
        }),
        (any::<bool>(), any::<u8>()).prop_map(|(down, b)| InputEvent::MouseButton {
            down,
            button: MouseButton::from_wire(b)
        }),
        any::<i16>().prop_map(|amount| InputEvent::Scroll { amount }),
        any::<i16>().prop_map(|amount| InputEvent::HorizontalScroll { amount }),
        "\\PC{0,8}"
            .prop_filter("fits a text packet", |s: &String| s.len() <= MAX_TEXT_BYTES)
            .prop_map(InputEvent::Text),
        (
            any::<u16>(),
            any::<u16>(),
            0u32..0x40_0000,
            any::<u8>(),
            any::<u8>(),
            any::<[i16; 4]>()
        )
            .prop_map(|(controller, active_mask, buttons, lt, rt, s)| {
                InputEvent::Gamepad(GamepadState {
                    controller,
                    active_mask,
                    buttons,
                    left_trigger: lt,
                    right_trigger: rt,
                    left_stick: (s[0], s[1]),
                    right_stick: (s[2], s[3]),
                })
            }),
        any::<bool>().prop_map(InputEvent::HapticsEnable),
        (
            touch_kind(),
            any::<u16>(),
            any::<u32>(),
            [f32_bits(), f32_bits(), f32_bits(), f32_bits(), f32_bits()]
        )
            .prop_map(|(kind, rotation, pointer_id, f)| InputEvent::Touch(Touch {
                kind,
                rotation,
                pointer_id,
                x: f[0],
                y: f[1],
                pressure_or_distance: f[2],
                contact_major: f[3],
                contact_minor: f[4],
            })),
        (
            touch_kind(),
            any::<[u8; 3]>(),
            any::<u16>(),
            [f32_bits(), f32_bits(), f32_bits(), f32_bits(), f32_bits()]
        )
            .prop_map(|(kind, b, rotation, f)| InputEvent::Pen(Pen {
                kind,
                tool: b[0],
                buttons: b[1],
                x: f[0],
                y: f[1],
                pressure_or_distance: f[2],
                rotation,
                tilt: b[2],
                contact_major: f[3],
                contact_minor: f[4],
            })),
        (any::<u8>(), any::<u8>(), any::<u16>(), any::<u32>()).prop_map(
            |(controller, k, capabilities, supported_buttons)| {
                InputEvent::ControllerArrival {
                    controller,
                    kind: ControllerKind::from_wire(k),
                    capabilities,
                    supported_buttons,
                }
            }
        ),
        (
            any::<u8>(),
            touch_kind(),
            any::<u8>(),
            any::<u32>(),
            [f32_bits(), f32_bits(), f32_bits()]
        )
            .prop_map(|(controller, kind, touchpad, pointer_id, f)| {
                InputEvent::ControllerTouch(ControllerTouch {
                    controller,
                    kind,
                    touchpad,
                    pointer_id,
                    x: f[0],
                    y: f[1],
                    pressure: f[2],
                })
            }),
        (
            any::<u8>(),
            any::<u8>(),
            [f32_bits(), f32_bits(), f32_bits()]
        )
            .prop_map(|(controller, motion_type, f)| {
                InputEvent::ControllerMotion {
                    controller,
                    motion_type,
                    x: f[0],
                    y: f[1],
                    z: f[2],
                }
            }),
        any::<[u8; 3]>().prop_map(|b| InputEvent::ControllerBattery {
            controller: b[0],
            state: b[1],
            percent: b[2]
        }),
        (
            0x5600_0000u32..0x5700_0000,
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(magic, body)| InputEvent::Unknown { magic, body }),
    ]
}

proptest! {
    /// Build → encode → decode → encode gives the same bytes (bytes, because NaN ≠ NaN).
    #[test]
    fn events_round_trip(event in event()) {
        let packet = event.encode();
        let decoded = InputEvent::decode(&packet).unwrap();
        prop_assert_eq!(decoded.encode(), packet);
    }

    /// Arbitrary bytes never panic, and whatever decodes re-encodes to a packet that decodes the same.
    #[test]
    fn hostile_packets_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(event) = InputEvent::decode(&bytes) {
            let again = InputEvent::decode(&event.encode()).unwrap();
            prop_assert_eq!(again.encode(), event.encode());
        }
    }

    /// Well-framed packets with a known magic and a random body: only the declared layout decides.
    #[test]
    fn framed_bodies_never_panic(magic_index in 0usize..15, body in proptest::collection::vec(any::<u8>(), 0..40)) {
        let magics = [KEY_DOWN, MOUSE_MOVE_REL, MOUSE_MOVE_ABS, MOUSE_BUTTON_DOWN, SCROLL, HSCROLL,
            MULTI_CONTROLLER, HAPTICS_ENABLE, UTF8_TEXT, TOUCH, PEN, CONTROLLER_ARRIVAL,
            CONTROLLER_TOUCH, CONTROLLER_MOTION, CONTROLLER_BATTERY];
        let magic = magics[magic_index];
        let mut packet = ((4 + body.len()) as u32).to_be_bytes().to_vec();
        packet.extend_from_slice(&magic.to_le_bytes());
        packet.extend_from_slice(&body);
        match InputEvent::decode(&packet) {
            Ok(_) => prop_assert!(body.len() >= body_len(magic).unwrap_or(0)),
            Err(InputError::Truncated { need, have, .. }) => prop_assert!(have < need),
            Err(InputError::TextNotUtf8 | InputError::TextTooLong(_)) => prop_assert_eq!(magic, UTF8_TEXT),
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}
