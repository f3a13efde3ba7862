use super::*;
use proptest::prelude::*;

fn phase() -> impl Strategy<Value = Phase> {
    prop_oneof![
        Just(Phase::Hover),
        Just(Phase::Down),
        Just(Phase::Move),
        Just(Phase::Up),
        Just(Phase::Cancel)
    ]
}

fn pad() -> impl Strategy<Value = u8> {
    0..=MAX_PAD
}

fn event() -> impl Strategy<Value = InputEvent> {
    use InputEvent as E;
    prop_oneof![
        (any::<u16>(), any::<bool>()).prop_map(|(code, down)| E::Key { code, down }),
        (any::<u32>(), any::<bool>()).prop_map(|(keysym, down)| E::Keysym { keysym, down }),
        "\\PC{0,200}".prop_map(E::Text),
        (any::<u16>(), any::<u16>()).prop_map(|(x, y)| E::PointerAbs { x, y }),
        (any::<i16>(), any::<i16>()).prop_map(|(dx, dy)| E::PointerRel { dx, dy }),
        (0u8..5, any::<bool>()).prop_map(|(b, down)| E::Button {
            button: MouseButton::from_u8(b).unwrap(),
            down
        }),
        (any::<bool>(), any::<i32>()).prop_map(|(h, value120)| E::Scroll {
            axis: if h {
                ScrollAxis::Horizontal
            } else {
                ScrollAxis::Vertical
            },
            value120
        }),
        (
            any::<u32>(),
            phase(),
            any::<u16>(),
            any::<u16>(),
            any::<u16>()
        )
            .prop_map(|(id, phase, x, y, pressure)| E::Touch {
                id,
                phase,
                x,
                y,
                pressure
            }),
        (
            any::<bool>(),
            phase(),
            any::<(u16, u16, u16)>(),
            any::<(i8, i8, u8)>()
        )
            .prop_map(
                |(eraser, phase, (x, y, pressure), (tilt_x, tilt_y, buttons))| {
                    E::Pen {
                        tool: if eraser {
                            PenTool::Eraser
                        } else {
                            PenTool::Pen
                        },
                        phase,
                        x,
                        y,
                        pressure,
                        tilt_x,
                        tilt_y,
                        buttons,
                    }
                }
            ),
        (pad(), 0u8..4, any::<u32>()).prop_map(|(pad, k, caps)| E::PadArrive {
            pad,
            kind: PadKind::from_u8(k).unwrap(),
            caps
        }),
        pad().prop_map(|pad| E::PadRemove { pad }),
        (pad(), any::<(u32, i16, i16, i16, i16, u8, u8)>()).prop_map(|(pad, s)| E::PadState {
            pad,
            state: PadState {
                buttons: s.0,
                left_x: s.1,
                left_y: s.2,
                right_x: s.3,
                right_y: s.4,
                left_trigger: s.5,
                right_trigger: s.6,
            }
        }),
        (pad(), any::<[i16; 3]>(), any::<[i16; 3]>()).prop_map(|(pad, accel, gyro)| E::PadMotion {
            pad,
            accel,
            gyro
        }),
        (
            pad(),
            any::<u8>(),
            any::<bool>(),
            any::<u16>(),
            any::<u16>()
        )
            .prop_map(|(pad, finger, down, x, y)| E::PadTouch {
                pad,
                finger,
                down,
                x,
                y
            }),
        (pad(), any::<u8>(), any::<u8>()).prop_map(|(pad, state, percent)| E::PadBattery {
            pad,
            state,
            percent
        }),
    ]
}

fn feedback() -> impl Strategy<Value = Feedback> {
    prop_oneof![
        (pad(), any::<u16>(), any::<u16>()).prop_map(|(pad, low, high)| Feedback::Rumble {
            pad,
            low,
            high
        }),
        (pad(), any::<u16>(), any::<u16>())
            .prop_map(|(pad, left, right)| { Feedback::TriggerRumble { pad, left, right } }),
        (pad(), any::<(u8, u8, u8)>()).prop_map(|(pad, (r, g, b))| Feedback::Led { pad, r, g, b }),
        (pad(), any::<bool>(), any::<u8>(), any::<[u8; 10]>()).prop_map(
            |(pad, right, mode, params)| Feedback::AdaptiveTrigger {
                pad,
                trigger: if right { Trigger::Right } else { Trigger::Left },
                mode,
                params
            }
        ),
        (pad(), any::<u8>()).prop_map(|(pad, bits)| Feedback::PlayerLeds { pad, bits }),
    ]
}

proptest! {
    #[test]
    fn events_round_trip(e in event()) {
        prop_assert_eq!(InputEvent::decode(&e.encode()), Ok(e.clone()));
    }

    #[test]
    fn datagrams_round_trip(e in event(), seq in any::<u32>()) {
        prop_assert_eq!(InputEvent::decode_datagram(&e.encode_datagram(seq)), Ok((seq, e)));
    }

    #[test]
    fn feedback_round_trips(f in feedback()) {
        prop_assert_eq!(Feedback::decode(&f.encode()), Ok(f));
    }

    #[test]
    fn appended_fields_are_ignored(e in event(), tail in proptest::collection::vec(any::<u8>(), 0..16)) {
        // Text carries its own length, so bytes after it are a later version's fields too.
        let mut body = e.encode();
        body.extend_from_slice(&tail);
        prop_assert_eq!(InputEvent::decode(&body), Ok(e));
    }

    #[test]
    fn every_truncation_is_an_error(e in event()) {
        let body = e.encode();
        for cut in 0..body.len() {
            prop_assert!(InputEvent::decode(&body[..cut]).is_err(), "{:?} cut at {}", e, cut);
        }
    }

    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = InputEvent::decode(&bytes);
        let _ = InputEvent::decode_datagram(&bytes);
        let _ = Feedback::decode(&bytes);
        let _ = strip_magic(INPUT_STREAM_MAGIC, &bytes);
    }

    #[test]
    fn normalised_coordinates_stay_on_the_display(v in any::<u16>(), extent in 0u32..20_000) {
        let p = denormalize(v, extent);
        prop_assert!(extent == 0 || p < extent);
        if extent > 1 {
            // Every pixel survives the round trip.
            let px = p.min(extent - 1);
            prop_assert_eq!(denormalize(normalize(px, extent), extent), px);
        }
    }

    #[test]
    fn seq_order_is_antisymmetric(a in any::<u32>(), d in 1u32..(1 << 31)) {
        prop_assert!(seq_is_newer(a.wrapping_add(d), a));
        prop_assert!(!seq_is_newer(a, a.wrapping_add(d)));
        prop_assert!(!seq_is_newer(a, a));
    }
}

#[test]
fn layout_is_fixed_little_endian() {
    let e = InputEvent::Key {
        code: 30,
        down: true,
    };
    assert_eq!(e.encode(), [0x01, 30, 0, 1]);
    let e = InputEvent::PointerAbs {
        x: 0x1234,
        y: 0xffff,
    };
    assert_eq!(
        e.encode_datagram(7),
        [1, 7, 0, 0, 0, 0x04, 0x34, 0x12, 0xff, 0xff]
    );
    let f = Feedback::Rumble {
        pad: 2,
        low: 0x0100,
        high: 0xffff,
    };
    assert_eq!(f.encode(), [0x80, 2, 0, 1, 0xff, 0xff]);
}

#[test]
fn specific_rejections() {
    assert_eq!(InputEvent::decode(&[]), Err(InputError::Empty));
    assert_eq!(
        InputEvent::decode(&[0x7f]),
        Err(InputError::UnknownKind(0x7f))
    );
    assert_eq!(
        InputEvent::decode(&[0x01, 30, 0, 2]),
        Err(InputError::BadField("down"))
    );
    assert_eq!(
        InputEvent::decode(&[0x11, MAX_PAD + 1]),
        Err(InputError::BadField("pad"))
    );
    assert_eq!(
        InputEvent::decode(&[0x03, 2, 0, 0xff, 0xfe]),
        Err(InputError::BadField("text"))
    );
    assert_eq!(
        InputEvent::decode_datagram(&[2, 0, 0, 0, 0, 1]),
        Err(InputError::NotInput(2))
    );
    assert!(matches!(
        InputEvent::decode(&vec![0x03; MAX_EVENT_LEN + 1]),
        Err(InputError::TooLong(_))
    ));
    assert_eq!(strip_magic(INPUT_STREAM_MAGIC, b"pfi1xyz"), Ok(&b"xyz"[..]));
    assert_eq!(
        strip_magic(INPUT_STREAM_MAGIC, b"pff1"),
        Err(InputError::BadMagic)
    );
}

#[test]
fn long_text_is_cut_at_a_char_boundary() {
    let text = "ä".repeat(MAX_TEXT_BYTES); // 2 bytes each
    let Ok(InputEvent::Text(t)) = InputEvent::decode(&InputEvent::Text(text).encode()) else {
        panic!("text did not decode");
    };
    assert_eq!(t.len(), MAX_TEXT_BYTES);
    assert!(t.chars().all(|c| c == 'ä'));
}

#[test]
fn only_motion_is_a_datagram() {
    assert!(InputEvent::PointerAbs { x: 0, y: 0 }.is_motion());
    assert!(InputEvent::PointerRel { dx: 1, dy: 0 }.is_motion());
    assert!(
        !InputEvent::Button {
            button: MouseButton::Left,
            down: true
        }
        .is_motion()
    );
    assert!(!InputEvent::Text("a".into()).is_motion());
    assert_eq!(MouseButton::Left.evdev_code(), 0x110);
    assert_eq!(MouseButton::Extra.evdev_code(), 0x114);
    assert_eq!(denormalize(65535, 1280), 1279);
    assert_eq!(denormalize(0, 1280), 0);
    assert_eq!(denormalize(32768, 1281), 640);
}
