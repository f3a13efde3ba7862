//! Moonlight's input, as the host's input sinks understand it: GameStream input packets (decoded by
//! `punktfunk_core::gamestream::input`) become `punktfunk_core::control::input` events — Windows
//! virtual-key codes become Linux evdev key codes (the key's position on a US keyboard, which is
//! what Moonlight's VK codes mean), absolute positions are normalised to the client's reference
//! size, wheel directions follow the sink's convention, touchscreen contacts keep their pointer ids.
//! Gamepads go through `pad_bridge`; pen input is not bridged yet (no sink here takes it).

use punktfunk_core::control::input::{InputEvent, MouseButton, Phase, ScrollAxis};
use punktfunk_core::gamestream::input::{
    InputEvent as GsEvent, MouseButton as GsButton, TouchEventKind,
};

/// The sink event for one Moonlight input event, if the host injects that kind.
pub fn translate(event: &GsEvent) -> Option<InputEvent> {
    Some(match event {
        GsEvent::Key { down, key_code, .. } => InputEvent::Key {
            // Moonlight sets the high byte for some keys; the VK code is the low byte.
            code: evdev_of_vk((key_code & 0xFF) as u8)?,
            down: *down,
        },
        GsEvent::MouseMoveRelative { dx, dy } => InputEvent::PointerRel { dx: *dx, dy: *dy },
        GsEvent::MouseMoveAbsolute {
            x,
            y,
            reference_width,
            reference_height,
        } => InputEvent::PointerAbs {
            x: normalise(*x, *reference_width),
            y: normalise(*y, *reference_height),
        },
        GsEvent::MouseButton { down, button } => InputEvent::Button {
            button: match button {
                GsButton::Left => MouseButton::Left,
                GsButton::Middle => MouseButton::Middle,
                GsButton::Right => MouseButton::Right,
                GsButton::X1 => MouseButton::Side,
                GsButton::X2 => MouseButton::Extra,
                GsButton::Other(_) => return None,
            },
            down: *down,
        },
        // Moonlight: positive = wheel turned away from the user (content scrolls up); the sinks:
        // positive = down.
        GsEvent::Scroll { amount } => InputEvent::Scroll {
            axis: ScrollAxis::Vertical,
            value120: -i32::from(*amount),
        },
        GsEvent::HorizontalScroll { amount } => InputEvent::Scroll {
            axis: ScrollAxis::Horizontal,
            value120: i32::from(*amount),
        },
        GsEvent::Text(text) => InputEvent::Text(text.clone()),
        // A finger on the client's screen, positioned over the stream's picture (0..1).
        GsEvent::Touch(touch) => InputEvent::Touch {
            id: touch.pointer_id,
            phase: match touch.kind {
                TouchEventKind::Down => Phase::Down,
                TouchEventKind::Move => Phase::Move,
                TouchEventKind::Up => Phase::Up,
                TouchEventKind::Cancel => Phase::Cancel,
                // Hovering and "cancel everything" have no per-contact meaning for a touchscreen.
                _ => return None,
            },
            x: unit(touch.x),
            y: unit(touch.y),
            pressure: unit(touch.pressure_or_distance),
        },
        _ => return None,
    })
}

/// A fraction 0..=1 as 0..=65535 (NaN and out-of-range values clamped).
fn unit(fraction: f32) -> u16 {
    let f = if fraction.is_nan() { 0.0 } else { fraction };
    (f.clamp(0.0, 1.0) * 65535.0).round() as u16
}

/// `position` on a `size`-wide reference surface as 0..=65535 (clamped to the surface).
fn normalise(position: i16, size: u32) -> u16 {
    let last = i64::from(size.max(2) - 1);
    let p = i64::from(position).clamp(0, last);
    (p * 65535 / last) as u16
}

/// Linux evdev code (`linux/input-event-codes.h`) of a Windows virtual-key code.
pub fn evdev_of_vk(vk: u8) -> Option<u16> {
    // Letters: evdev numbers them by their row on a QWERTY keyboard.
    const LETTERS: [u16; 26] = [
        30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17,
        45, 21, 44,
    ];
    // 0x60..=0x69: keypad 0–9.
    const KEYPAD: [u16; 10] = [82, 79, 80, 81, 75, 76, 77, 71, 72, 73];
    Some(match vk {
        b'A'..=b'Z' => LETTERS[usize::from(vk - b'A')],
        b'1'..=b'9' => u16::from(vk - b'1') + 2,
        b'0' => 11,
        0x60..=0x69 => KEYPAD[usize::from(vk - 0x60)],
        // F1–F10, F11, F12, F13–F24.
        0x70..=0x79 => u16::from(vk - 0x70) + 59,
        0x7A => 87,
        0x7B => 88,
        0x7C..=0x87 => u16::from(vk - 0x7C) + 183,
        0x08 => 14,  // backspace
        0x09 => 15,  // tab
        0x0C => 76,  // clear (keypad 5 without num lock)
        0x0D => 28,  // enter
        0x10 => 42,  // shift
        0x11 => 29,  // control
        0x12 => 56,  // alt
        0x13 => 119, // pause
        0x14 => 58,  // caps lock
        0x1B => 1,   // escape
        0x20 => 57,  // space
        0x21 => 104, // page up
        0x22 => 109, // page down
        0x23 => 107, // end
        0x24 => 102, // home
        0x25 => 105, // left
        0x26 => 103, // up
        0x27 => 106, // right
        0x28 => 108, // down
        0x2C => 99,  // print screen
        0x2D => 110, // insert
        0x2E => 111, // delete
        0x5B => 125, // left meta
        0x5C => 126, // right meta
        0x5D => 127, // menu
        0x6A => 55,  // keypad *
        0x6B => 78,  // keypad +
        0x6C => 121, // keypad separator
        0x6D => 74,  // keypad -
        0x6E => 83,  // keypad .
        0x6F => 98,  // keypad /
        0x90 => 69,  // num lock
        0x91 => 70,  // scroll lock
        0xA0 => 42,  // left shift
        0xA1 => 54,  // right shift
        0xA2 => 29,  // left control
        0xA3 => 97,  // right control
        0xA4 => 56,  // left alt
        0xA5 => 100, // right alt
        0xAD => 113, // mute
        0xAE => 114, // volume down
        0xAF => 115, // volume up
        0xB0 => 163, // next track
        0xB1 => 165, // previous track
        0xB2 => 166, // stop
        0xB3 => 164, // play/pause
        0xBA => 39,  // ;
        0xBB => 13,  // =
        0xBC => 51,  // ,
        0xBD => 12,  // -
        0xBE => 52,  // .
        0xBF => 53,  // /
        0xC0 => 41,  // `
        0xDB => 26,  // [
        0xDC => 43,  // backslash
        0xDD => 27,  // ]
        0xDE => 40,  // '
        0xE2 => 86,  // the extra key of ISO keyboards
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_map_by_position() {
        assert_eq!(evdev_of_vk(b'A'), Some(30));
        assert_eq!(evdev_of_vk(b'Q'), Some(16));
        assert_eq!(evdev_of_vk(b'Z'), Some(44));
        assert_eq!(evdev_of_vk(b'1'), Some(2));
        assert_eq!(evdev_of_vk(b'0'), Some(11));
        assert_eq!(evdev_of_vk(0x70), Some(59), "F1");
        assert_eq!(evdev_of_vk(0x7B), Some(88), "F12");
        assert_eq!(evdev_of_vk(0x0D), Some(28), "enter");
        assert_eq!(evdev_of_vk(0xFF), None);
        // Distinct letters and digits land on distinct keys.
        let mut codes: Vec<u16> = (b'A'..=b'Z')
            .chain(b'0'..=b'9')
            .filter_map(evdev_of_vk)
            .collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 36);
    }

    #[test]
    fn pointer_and_wheel() {
        let abs = GsEvent::MouseMoveAbsolute {
            x: 1279,
            y: 0,
            reference_width: 1280,
            reference_height: 720,
        };
        assert_eq!(
            translate(&abs),
            Some(InputEvent::PointerAbs { x: 65535, y: 0 })
        );
        let centre = GsEvent::MouseMoveAbsolute {
            x: 640,
            y: 360,
            reference_width: 1281,
            reference_height: 721,
        };
        assert_eq!(
            translate(&centre),
            Some(InputEvent::PointerAbs { x: 32767, y: 32767 })
        );
        assert_eq!(
            translate(&GsEvent::Scroll { amount: 120 }),
            Some(InputEvent::Scroll {
                axis: ScrollAxis::Vertical,
                value120: -120
            })
        );
        assert_eq!(
            translate(&GsEvent::MouseButton {
                down: true,
                button: GsButton::X1
            }),
            Some(InputEvent::Button {
                button: MouseButton::Side,
                down: true
            })
        );
    }

    #[test]
    fn touch_contacts_keep_their_ids_and_positions() {
        use punktfunk_core::gamestream::input::Touch;
        let touch = |kind, x, y| {
            GsEvent::Touch(Touch {
                kind,
                rotation: 0xFFFF,
                pointer_id: 7,
                x,
                y,
                pressure_or_distance: 0.5,
                contact_major: 0.0,
                contact_minor: 0.0,
            })
        };
        assert_eq!(
            translate(&touch(TouchEventKind::Down, 0.25, 1.5)),
            Some(InputEvent::Touch {
                id: 7,
                phase: Phase::Down,
                x: 16384,
                y: 65535,
                pressure: 32768,
            })
        );
        assert!(matches!(
            translate(&touch(TouchEventKind::Up, f32::NAN, 0.0)),
            Some(InputEvent::Touch {
                phase: Phase::Up,
                x: 0,
                ..
            })
        ));
        assert_eq!(translate(&touch(TouchEventKind::Hover, 0.5, 0.5)), None);
        assert_eq!(translate(&touch(TouchEventKind::CancelAll, 0.5, 0.5)), None);
    }

    proptest! {
        #[test]
        fn any_decoded_packet_translates_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(event) = GsEvent::decode(&bytes) {
                let _ = translate(&event);
            }
        }

        #[test]
        fn absolute_positions_stay_in_range(x in any::<i16>(), y in any::<i16>(), w in 0u32..100_000, h in 0u32..100_000) {
            let event = GsEvent::MouseMoveAbsolute { x, y, reference_width: w, reference_height: h };
            let translated = translate(&event);
            prop_assert!(matches!(translated, Some(InputEvent::PointerAbs { .. })), "{:?}", translated);
        }
    }
}
