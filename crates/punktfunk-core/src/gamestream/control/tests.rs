use super::*;
use crate::gamestream::input::{InputEvent, Modifiers};
use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use proptest::prelude::*;

const KEY: [u8; 16] = [
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
];

/// Seals the way moonlight-common-c's encryptControlMessage does, written out step by step:
/// IV bytes 0–3 = LE seq, 10 = 'C', 11 = 'C'; tag right after the 8-byte header, ciphertext after it.
fn client_seal(seq: u32, plaintext: &[u8]) -> Vec<u8> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &KEY).unwrap());
    let mut iv = [0u8; 12];
    iv[0] = seq as u8;
    iv[1] = (seq >> 8) as u8;
    iv[2] = (seq >> 16) as u8;
    iv[3] = (seq >> 24) as u8;
    iv[10] = b'C';
    iv[11] = b'C';
    let mut body = plaintext.to_vec();
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut body)
        .unwrap();
    let mut packet = vec![0x01, 0x00];
    packet.extend_from_slice(&((4 + 16 + plaintext.len()) as u16).to_le_bytes());
    packet.extend_from_slice(&seq.to_le_bytes());
    packet.extend_from_slice(tag.as_ref());
    packet.extend_from_slice(&body);
    packet
}

#[test]
fn opens_what_a_client_seals() {
    let mut host = HostControl::new(&KEY).unwrap();
    // IDR request: type 0x0302, length 2, payload 00 00.
    let packet = client_seal(0, &[0x02, 0x03, 0x02, 0x00, 0x00, 0x00]);
    assert_eq!(host.open(&packet).unwrap(), ClientMessage::RequestIdr);
    // The same plaintext under a later sequence number.
    let packet = client_seal(0x0102_0304, &[0x07, 0x03, 0x01, 0x00, 0x00]);
    assert_eq!(host.open(&packet).unwrap(), ClientMessage::StartB);
}

#[test]
fn host_packets_use_the_host_iv_and_count_from_zero() {
    let mut host = HostControl::new(&KEY).unwrap();
    let message = HostMessage::Termination {
        code: TERMINATION_GRACEFUL,
    };
    let first = host.seal(&message).unwrap();
    let second = host.seal(&message).unwrap();
    assert_eq!(&first[..8], &[0x01, 0x00, 28, 0x00, 0, 0, 0, 0]);
    assert_eq!(&second[4..8], &[1, 0, 0, 0]);
    assert_ne!(first[8..], second[8..]);
    let cipher = ControlCipher::new(&KEY).unwrap();
    let (seq, plaintext) = cipher.open(Origin::Host, &second).unwrap();
    assert_eq!(seq, 1);
    // Type 0x0109, length 4, BE32 code.
    assert_eq!(plaintext, [0x09, 0x01, 0x04, 0x00, 0x80, 0x03, 0x00, 0x23]);
    // A host packet does not open as a client packet: the IVs differ.
    assert_eq!(
        cipher.open(Origin::Client, &second),
        Err(ControlError::BadTag)
    );
}

#[test]
fn client_messages_decode() {
    // LE32 first, LE32 0, LE32 last, 3 × LE32 0, as moonlight-common-c's SS_RFI_REQUEST.
    let mut rfi = vec![0x01, 0x03, 24, 0];
    for word in [10u32, 0, 12, 0, 0, 0] {
        rfi.extend_from_slice(&word.to_le_bytes());
    }
    assert_eq!(
        ClientMessage::from_plaintext(&rfi).unwrap(),
        ClientMessage::InvalidateReferenceFrames {
            first: 10,
            last: 12
        }
    );
    let mut fec = vec![0x02, 0x55, 21, 0];
    fec.extend_from_slice(&[
        0, 0, 0, 9, 0, 20, 0, 18, 0, 1, 0, 10, 0, 2, 0, 9, 0, 1, 20, 0, 1,
    ]);
    assert_eq!(
        ClientMessage::from_plaintext(&fec).unwrap(),
        ClientMessage::FrameFecStatus(FrameFecStatus {
            frame_index: 9,
            highest_received_sequence: 20,
            next_contiguous_sequence: 18,
            missing_before_highest: 1,
            total_data_packets: 10,
            total_parity_packets: 2,
            received_data_packets: 9,
            received_parity_packets: 1,
            fec_percent: 20,
            block_index: 0,
            block_count: 1,
        })
    );
    let mut input = vec![0x06, 0x02, 14, 0];
    input.extend_from_slice(&[0, 0, 0, 10, 4, 0, 0, 0, 0, 0x5a, 0, 0x02, 0, 0]);
    assert_eq!(
        ClientMessage::from_plaintext(&input).unwrap(),
        ClientMessage::Input(InputEvent::Key {
            down: false,
            flags: 0,
            key_code: 0x5a,
            modifiers: Modifiers(Modifiers::CTRL)
        })
    );
    assert_eq!(
        ClientMessage::from_plaintext(&[0x00, 0x02, 6, 0, 4, 0, 0, 0, 0, 0]).unwrap(),
        ClientMessage::PeriodicPing
    );
    assert_eq!(
        ClientMessage::from_plaintext(&[0x50, 0x03, 8, 0, 7, 0, 0, 0, 0, 0, 0, 0]).unwrap(),
        ClientMessage::LtrAck { frame_index: 7 }
    );
    assert_eq!(
        ClientMessage::from_plaintext(&[0x01, 0x02, 1, 0, 9]).unwrap(),
        ClientMessage::Unknown {
            ty: 0x0201,
            payload: vec![9]
        }
    );
}

#[test]
fn host_message_layouts() {
    let rumble = HostMessage::Rumble {
        controller: 1,
        low_frequency: 0x1234,
        high_frequency: 0xffff,
    };
    assert_eq!(
        rumble.to_plaintext(),
        [0x0b, 0x01, 10, 0, 0, 0, 0, 0, 1, 0, 0x34, 0x12, 0xff, 0xff]
    );
    let led = HostMessage::RgbLed {
        controller: 2,
        red: 1,
        green: 2,
        blue: 3,
    };
    assert_eq!(led.to_plaintext(), [0x02, 0x55, 5, 0, 2, 0, 1, 2, 3]);
    let motion = HostMessage::MotionEventEnable {
        controller: 0,
        report_rate_hz: 200,
        motion_type: 2,
    };
    assert_eq!(motion.to_plaintext(), [0x01, 0x55, 5, 0, 0, 0, 200, 0, 2]);
    let hdr = HostMessage::HdrMode {
        enabled: true,
        metadata: HdrMetadata {
            display_primaries: [(35400, 14600), (8500, 39850), (6550, 2300)],
            white_point: (15635, 16450),
            max_display_luminance: 1000,
            min_display_luminance: 50,
            max_content_light_level: 1000,
            max_frame_average_light_level: 400,
            max_full_frame_luminance: 600,
        },
    };
    let p = hdr.to_plaintext();
    assert_eq!(p.len(), 4 + 27);
    assert_eq!(&p[..7], &[0x0e, 0x01, 27, 0, 1, 0x48, 0x8a]);
    assert_eq!(HostMessage::from_plaintext(&p).unwrap(), hdr);
}

#[test]
fn malformed_envelopes_are_rejected_with_a_reason() {
    let mut host = HostControl::new(&KEY).unwrap();
    let good = client_seal(3, &[0x02, 0x03, 0x02, 0x00, 0x00, 0x00]);
    assert_eq!(host.open(&good[..10]), Err(ControlError::TooShort(10)));
    let mut wrong_type = good.clone();
    wrong_type[0] = 2;
    assert_eq!(host.open(&wrong_type), Err(ControlError::NotEncrypted(2)));
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(
        host.open(&longer),
        Err(ControlError::LengthMismatch { .. })
    ));
    let mut flipped = good.clone();
    flipped[27] ^= 0x40;
    assert_eq!(host.open(&flipped), Err(ControlError::BadTag));
    let mut wrong_seq = good.clone();
    wrong_seq[4] = 4;
    assert_eq!(host.open(&wrong_seq), Err(ControlError::BadTag));
    // Authentic but with a lying inner length.
    let lying = client_seal(4, &[0x02, 0x03, 0x05, 0x00, 0x00, 0x00]);
    assert_eq!(
        host.open(&lying),
        Err(ControlError::PayloadLength {
            declared: 5,
            actual: 2
        })
    );
    let short_rfi = client_seal(5, &[0x01, 0x03, 0x02, 0x00, 0x00, 0x00]);
    assert!(matches!(
        host.open(&short_rfi),
        Err(ControlError::Truncated { ty: 0x0301, .. })
    ));
}

fn host_message() -> impl Strategy<Value = HostMessage> {
    prop_oneof![
        any::<u32>().prop_map(|code| HostMessage::Termination { code }),
        any::<[u16; 3]>().prop_map(|v| HostMessage::Rumble {
            controller: v[0],
            low_frequency: v[1],
            high_frequency: v[2]
        }),
        (any::<bool>(), any::<[u16; 13]>()).prop_map(|(enabled, w)| HostMessage::HdrMode {
            enabled,
            metadata: HdrMetadata::from_words(w)
        }),
        any::<[u16; 3]>().prop_map(|v| HostMessage::TriggerRumble {
            controller: v[0],
            left: v[1],
            right: v[2]
        }),
        (any::<u16>(), any::<u16>(), any::<u8>()).prop_map(|(c, r, t)| {
            HostMessage::MotionEventEnable {
                controller: c,
                report_rate_hz: r,
                motion_type: t,
            }
        }),
        (any::<u16>(), any::<[u8; 3]>()).prop_map(|(c, rgb)| HostMessage::RgbLed {
            controller: c,
            red: rgb[0],
            green: rgb[1],
            blue: rgb[2]
        }),
        (
            any::<u16>(),
            any::<[u8; 3]>(),
            any::<[u8; 10]>(),
            any::<[u8; 10]>()
        )
            .prop_map(|(c, f, left, right)| HostMessage::AdaptiveTriggers {
                controller: c,
                event_flags: f[0],
                type_left: f[1],
                type_right: f[2],
                left,
                right,
            }),
    ]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        Just(ClientMessage::RequestIdr),
        Just(ClientMessage::StartB),
        Just(ClientMessage::PeriodicPing),
        (any::<u64>(), any::<u64>())
            .prop_map(|(first, last)| ClientMessage::InvalidateReferenceFrames { first, last }),
        any::<u32>().prop_map(|frame_index| ClientMessage::LtrAck { frame_index }),
        (any::<i16>(), any::<i16>())
            .prop_map(|(dx, dy)| ClientMessage::Input(InputEvent::MouseMoveRelative { dx, dy })),
        (
            0x6000u16..0x7000,
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(ty, payload)| ClientMessage::Unknown { ty, payload }),
    ]
}

proptest! {
    #[test]
    fn host_messages_round_trip_through_the_envelope(message in host_message(), seq: u32) {
        let cipher = ControlCipher::new(&KEY).unwrap();
        let packet = cipher.seal(Origin::Host, seq, &message.to_plaintext()).unwrap();
        let (got_seq, plaintext) = cipher.open(Origin::Host, &packet).unwrap();
        prop_assert_eq!(got_seq, seq);
        prop_assert_eq!(HostMessage::from_plaintext(&plaintext).unwrap(), message);
    }

    #[test]
    fn client_messages_round_trip(message in client_message(), seq: u32) {
        let packet = client_seal(seq, &message.to_plaintext());
        prop_assert_eq!(HostControl::new(&KEY).unwrap().open(&packet).unwrap(), message);
    }

    /// Arbitrary bytes as envelope or as plaintext never panic; decoded messages re-encode to a
    /// plaintext that decodes the same.
    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let mut host = HostControl::new(&KEY).unwrap();
        prop_assert!(host.open(&bytes).is_err());
        if let Ok(message) = ClientMessage::from_plaintext(&bytes) {
            // Compared as bytes: input events may carry NaN floats.
            let again = ClientMessage::from_plaintext(&message.to_plaintext()).unwrap();
            prop_assert_eq!(again.to_plaintext(), message.to_plaintext());
        }
        if let Ok(message) = HostMessage::from_plaintext(&bytes) {
            prop_assert_eq!(HostMessage::from_plaintext(&message.to_plaintext()).unwrap(), message);
        }
    }

    /// Authentic envelopes around arbitrary plaintext: decoding is the only thing that can fail.
    #[test]
    fn authentic_garbage_never_panics(plaintext in proptest::collection::vec(any::<u8>(), 0..96), seq: u32) {
        let _ = HostControl::new(&KEY).unwrap().open(&client_seal(seq, &plaintext));
    }
}

#[test]
fn a_replayed_packet_is_refused_and_reordering_is_not() {
    let mut host = HostControl::new(&KEY).unwrap();
    let idr = |seq| client_seal(seq, &[0x02, 0x03, 0x02, 0x00, 0x00, 0x00]);
    // Unsequenced ENet channels deliver out of order: 5 before 4 is fine.
    assert_eq!(host.open(&idr(5)).unwrap(), ClientMessage::RequestIdr);
    assert_eq!(host.open(&idr(4)).unwrap(), ClientMessage::RequestIdr);
    // The same packet again (captured on the LAN and resent) is not.
    assert_eq!(host.open(&idr(5)), Err(ControlError::Replayed(5)));
    assert_eq!(host.open(&idr(4)), Err(ControlError::Replayed(4)));
    // Far behind the newest one: refused as too old rather than remembered forever.
    assert_eq!(host.open(&idr(10_000)).unwrap(), ClientMessage::RequestIdr);
    assert_eq!(host.open(&idr(6)), Err(ControlError::TooOld(6)));
    // A forgery under a fresh number does not burn that number for the real packet.
    let mut forged = idr(10_001);
    forged[27] ^= 1;
    assert_eq!(host.open(&forged), Err(ControlError::BadTag));
    assert_eq!(host.open(&idr(10_001)).unwrap(), ClientMessage::RequestIdr);
}
