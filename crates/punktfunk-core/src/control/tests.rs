use super::*;
use crate::packetize::LossStats;
use proptest::prelude::*;

fn samples() -> Vec<Message> {
    vec![
        Message::Hello(Hello {
            client_name: "probe ✓".into(),
            width: 1280,
            height: 720,
            refresh_mhz: 60_000,
            codecs: vec![Codec::Hevc, Codec::H264, Codec::RawTest],
            bitrate_kbps: 20_000,
            caps: caps::TEN_BIT | caps::HDR,
            audio_channels: 2,
            max_datagram: 1452,
        }),
        Message::Welcome(Welcome {
            session_id: 7,
            codec: Codec::RawTest,
            color_format: color::format::YUV420_10,
            color: color::ColorDescription::BT2020_PQ,
            hdr: Some(color::HdrMetadata {
                primaries: [(35400, 14600), (8500, 39850), (6550, 2300)],
                white_point: (15635, 16450),
                max_luminance: 10_000_000,
                min_luminance: 50,
                max_cll: 1000,
                max_fall: 400,
            }),
            width: 1280,
            height: 720,
            refresh_mhz: 60_000,
            bitrate_kbps: 20_000,
            parity_percent: 20,
            max_datagram: 1452,
            data_port: 50_000,
            audio_channels: 6,
            mic_channels: 1,
        }),
        Message::Start,
        Message::Feedback(Feedback {
            window_ms: 100,
            loss: LossStats {
                packets_expected: 1000,
                packets_received: 950,
                bursts: 40,
                max_burst: 3,
                shards_recovered: 50,
                frames_complete: 6,
                frames_lost: 0,
            },
            late_frames: 1,
            delay_gradient_us_per_s: -1500,
            one_way_delay_us: 1234,
        }),
        Message::KeyframeRequest {
            first_lost_frame: 99,
        },
        Message::ClockPing { client_send_us: 1 },
        Message::ClockPong {
            client_send_us: 1,
            host_recv_us: 2,
            host_send_us: 3,
        },
        Message::RateUpdate {
            bitrate_kbps: 10_000,
            parity_percent: 35,
        },
        Message::Goodbye {
            reason: "bye".into(),
        },
        Message::Ticket {
            ticket: "00ff".repeat(16),
        },
        Message::PairStart {
            client_name: "living room tv".into(),
            spake: vec![0x41; 33],
        },
        Message::PairChallenge {
            spake: vec![0x42; 33],
        },
        Message::PairConfirm { mac: vec![1; 32] },
        Message::PairDone { mac: vec![2; 32] },
        Message::LibraryRequest { offset: 64 },
        Message::LibraryPage {
            offset: 0,
            total: 2,
            titles: vec![
                LibraryEntry {
                    id: "steam:570".into(),
                    name: "Dota 2".into(),
                    has_art: true,
                },
                LibraryEntry {
                    id: "desktop:räder.desktop".into(),
                    name: String::new(),
                    has_art: false,
                },
            ],
        },
        Message::Launch {
            title_id: "lutris:12".into(),
        },
        Message::LaunchResult {
            title_id: "lutris:12".into(),
            ok: false,
            message: "no such title".into(),
        },
        Message::EndApp,
        Message::AppEnded {
            title_id: "lutris:12".into(),
            reason: "the app exited".into(),
        },
        Message::ArtRequest {
            title_id: "steam:570".into(),
            offset: 49_152,
        },
        Message::ArtChunk {
            title_id: "steam:570".into(),
            offset: 49_152,
            total: 60_000,
            media_type: "image/jpeg".into(),
            data: vec![0xA5; 60_000 - 49_152],
        },
    ]
}

#[test]
fn every_message_round_trips() {
    for m in samples() {
        assert_eq!(Message::decode(&m.encode()), Ok(m.clone()));
    }
}

#[test]
fn unknown_fields_are_skipped_and_missing_ones_named() {
    let mut body = Message::KeyframeRequest {
        first_lost_frame: 5,
    }
    .encode();
    body.extend_from_slice(&[0xEE, 0xEE, 3, 0, 1, 2, 3]); // tag 0xEEEE, 3 bytes
    assert_eq!(
        Message::decode(&body),
        Ok(Message::KeyframeRequest {
            first_lost_frame: 5
        })
    );
    let empty = FieldWriter::new(5).finish();
    assert_eq!(
        Message::decode(&empty),
        Err(ControlError::Missing("first lost frame"))
    );
    assert_eq!(Message::decode(&[2, 5, 0]), Err(ControlError::Version(2)));
    assert_eq!(
        Message::decode(&[1, 0xFF, 0xFF]),
        Err(ControlError::UnknownMessage(0xFFFF))
    );
}

#[test]
fn long_names_are_cut_on_a_char_boundary() {
    let name = "ü".repeat(100);
    let Message::Hello(h) = &samples()[0] else {
        unreachable!()
    };
    let m = Message::Hello(Hello {
        client_name: name,
        ..h.clone()
    });
    let Ok(Message::Hello(back)) = Message::decode(&m.encode()) else {
        panic!()
    };
    assert!(back.client_name.len() <= MAX_NAME_LEN);
    assert!(back.client_name.chars().all(|c| c == 'ü'));
}

#[test]
fn stream_framing_reassembles_split_bodies() {
    let bodies: Vec<Vec<u8>> = samples().iter().map(Message::encode).collect();
    let stream: Vec<u8> = bodies.iter().flat_map(|b| frame(b)).collect();
    let mut fb = FrameBuffer::new();
    let mut out = Vec::new();
    for chunk in stream.chunks(3) {
        fb.extend(chunk);
        while let Some(b) = fb.next_body().unwrap() {
            out.push(b);
        }
    }
    assert_eq!(out, bodies);
    let mut fb = FrameBuffer::new();
    fb.extend(&(MAX_MESSAGE_LEN as u32 + 1).to_le_bytes());
    assert!(fb.next_body().is_err());
}

#[test]
fn clock_offset_from_symmetric_exchange() {
    // Host clock runs 5 000 µs ahead; 200 µs each way; host holds the ping for 50 µs.
    let s = ClockSample::from_times(1_000, 6_200, 6_250, 1_450);
    assert_eq!(
        s,
        ClockSample {
            rtt_us: 400,
            offset_us: 5_000
        }
    );
    let mut sync = ClockSync::new();
    sync.add(ClockSample {
        rtt_us: 5_000,
        offset_us: 9_999,
    });
    sync.add(s);
    assert_eq!(sync.host_to_client_us(10_000), Some(5_000));
}

proptest! {
    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Message::decode(&body);
    }

    #[test]
    fn mutated_messages_never_panic(which in 0usize..22, pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut body = samples()[which].encode();
        let i = pos.index(body.len());
        body[i] = byte;
        let _ = Message::decode(&body);
    }
}

#[test]
fn long_goodbye_reasons_round_trip() {
    // Found by the control_message fuzz target: decode kept what encode would cut.
    let body = FieldWriter::new(9).str(50, &"x".repeat(5000)).finish();
    let decoded = Message::decode(&body).unwrap();
    assert_eq!(Message::decode(&decoded.encode()), Ok(decoded.clone()));
    let Message::Goodbye { reason } = decoded else {
        panic!()
    };
    assert_eq!(reason.len(), MAX_REASON_LEN);
}

#[test]
fn oversized_pairing_fields_are_refused_and_cut_when_encoding() {
    let body = FieldWriter::new(12).bytes(61, &[7; 300]).finish();
    assert_eq!(Message::decode(&body), Err(ControlError::BadField("mac")));
    let long = Message::PairDone { mac: vec![7; 300] };
    assert_eq!(
        Message::decode(&long.encode()),
        Ok(Message::PairDone {
            mac: vec![7; MAX_PAIRING_FIELD_LEN]
        })
    );
}

proptest! {
    #[test]
    fn pairing_messages_round_trip(
        name in ".{0,200}",
        a in proptest::collection::vec(any::<u8>(), 0..300),
        b in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        for m in [
            Message::PairStart { client_name: name.clone(), spake: a.clone() },
            Message::PairChallenge { spake: b.clone() },
            Message::PairConfirm { mac: a.clone() },
            Message::PairDone { mac: b.clone() },
        ] {
            let once = Message::decode(&m.encode()).unwrap();
            prop_assert_eq!(Message::decode(&once.encode()).unwrap(), once.clone());
            if name.len() <= MAX_NAME_LEN && a.len() <= MAX_PAIRING_FIELD_LEN && b.len() <= MAX_PAIRING_FIELD_LEN {
                prop_assert_eq!(once, m);
            }
        }
    }
}

#[test]
fn welcome_from_a_host_without_audio_means_no_audio() {
    let Message::Welcome(w) = &samples()[1] else {
        panic!("sample 1 is the Welcome")
    };
    // The Welcome an older host sends: every field but the audio ones.
    let body = FieldWriter::new(2)
        .u32(10, w.session_id)
        .u8(11, w.codec as u8)
        .u8(12, w.color_format)
        .u32(2, w.width)
        .u32(3, w.height)
        .u32(4, w.refresh_mhz)
        .u32(6, w.bitrate_kbps)
        .u16(13, w.parity_percent)
        .u16(9, w.max_datagram)
        .u16(14, w.data_port)
        .finish();
    let Ok(Message::Welcome(old)) = Message::decode(&body) else {
        panic!("old Welcome must decode")
    };
    assert_eq!((old.audio_channels, old.mic_channels), (0, 0));
}

proptest! {
    #[test]
    fn welcome_audio_fields_round_trip(audio in any::<u8>(), mic in any::<u8>()) {
        let Message::Welcome(mut w) = samples()[1].clone() else {
            panic!("sample 1 is the Welcome")
        };
        w.audio_channels = audio;
        w.mic_channels = mic;
        prop_assert_eq!(Message::decode(&Message::Welcome(w).encode()), Ok(Message::Welcome(w)));
    }
}

#[test]
fn every_sample_is_mutated_by_the_fuzz_property() {
    assert_eq!(samples().len(), 22, "widen `which` above with the samples");
}

#[test]
fn library_pages_are_bounded() {
    let entry = LibraryEntry {
        id: "desktop:x".into(),
        name: "X".into(),
        has_art: true,
    };
    let page = Message::LibraryPage {
        offset: 0,
        total: 1000,
        titles: vec![entry.clone(); MAX_LIBRARY_PAGE + 10],
    };
    let body = page.encode();
    assert!(body.len() < MAX_MESSAGE_LEN);
    match Message::decode(&body) {
        Ok(Message::LibraryPage { titles, .. }) => assert_eq!(titles.len(), MAX_LIBRARY_PAGE),
        other => panic!("{other:?}"),
    }
    // A peer that sends more entries than a page holds is refused, not believed.
    let mut w = FieldWriter::new(15);
    w.u32(70, 0).u32(71, 1000);
    for _ in 0..=MAX_LIBRARY_PAGE {
        w.bytes(72, b"\x01xX");
    }
    assert_eq!(
        Message::decode(&w.finish()),
        Err(ControlError::BadField("library entries"))
    );
    // An entry whose id length points past its end.
    let mut w = FieldWriter::new(15);
    w.u32(70, 0).u32(71, 1).bytes(72, &[9, b'a']);
    assert_eq!(
        Message::decode(&w.finish()),
        Err(ControlError::BadField("library entry"))
    );
}

proptest! {
    #[test]
    fn library_messages_round_trip_after_cutting(
        id in ".{0,300}",
        name in ".{0,200}",
        reason in ".{0,40}",
        offset in any::<u32>(),
        total in any::<u32>(),
        count in 0usize..80,
        ok in any::<bool>(),
    ) {
        let page = Message::LibraryPage {
            offset,
            total,
            titles: (0..count).map(|i| LibraryEntry { id: id.clone(), name: name.clone(), has_art: i % 3 == 0 }).collect(),
        };
        let decoded = Message::decode(&page.encode()).unwrap();
        // What decodes re-encodes to itself (the fuzz target's property), and is the input cut.
        prop_assert_eq!(Message::decode(&decoded.encode()).unwrap(), decoded.clone());
        let Message::LibraryPage { titles, offset: o, total: t } = decoded else {
            panic!("not a page");
        };
        prop_assert_eq!((o, t, titles.len()), (offset, total, count.min(MAX_LIBRARY_PAGE)));
        for (i, entry) in titles.iter().enumerate() {
            prop_assert_eq!(entry.has_art, i % 3 == 0);
            prop_assert!(id.starts_with(&entry.id) && entry.id.len() <= MAX_TITLE_ID_LEN);
            prop_assert!(name.starts_with(&entry.name) && entry.name.len() <= MAX_NAME_LEN);
        }
        for m in [
            Message::Launch { title_id: id.clone() },
            Message::LaunchResult { title_id: id.clone(), ok, message: reason.clone() },
            Message::AppEnded { title_id: id.clone(), reason: reason.clone() },
            Message::ArtRequest { title_id: id.clone(), offset },
            Message::ArtChunk { title_id: id.clone(), offset, total, media_type: "image/png".into(), data: name.as_bytes().to_vec() },
        ] {
            let decoded = Message::decode(&m.encode()).unwrap();
            prop_assert_eq!(Message::decode(&decoded.encode()).unwrap(), decoded.clone());
            if id.len() <= MAX_TITLE_ID_LEN {
                prop_assert_eq!(decoded, m);
            }
        }
    }
}

#[test]
fn art_chunks_are_bounded() {
    let chunk = Message::ArtChunk {
        title_id: "steam:570".into(),
        offset: 0,
        total: 1_000_000,
        media_type: "image/png".into(),
        data: vec![1; MAX_ART_CHUNK + 100],
    };
    let body = chunk.encode();
    assert!(body.len() < MAX_MESSAGE_LEN);
    match Message::decode(&body) {
        Ok(Message::ArtChunk { data, .. }) => assert_eq!(data.len(), MAX_ART_CHUNK),
        other => panic!("{other:?}"),
    }
    // A peer that sends a bigger chunk is refused, not believed.
    let mut w = FieldWriter::new(21);
    w.str(73, "steam:570").u32(70, 0).u32(71, 70_000);
    w.bytes(77, &vec![0; MAX_ART_CHUNK + 1]);
    assert_eq!(
        Message::decode(&w.finish()),
        Err(ControlError::BadField("art data"))
    );
}
