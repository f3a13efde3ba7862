use super::fifo::PcmFifo;
use super::jitter::{JitterBuffer, JitterConfig, Pull};
use super::layout::{Layout, Position};
use super::packet::{AudioPacketError, AudioPayload, MAX_OPUS_PACKET};
use proptest::prelude::*;

#[test]
fn payload_round_trip_with_and_without_previous() {
    for previous in [None, Some(&b"prev"[..])] {
        let p = AudioPayload {
            primary: b"opus!",
            previous,
        };
        let mut out = Vec::new();
        p.encode(&mut out).unwrap();
        assert_eq!(out.len(), p.encoded_len());
        assert_eq!(AudioPayload::decode(&out).unwrap(), p);
    }
}

#[test]
fn payload_rejects_bad_fields() {
    assert_eq!(
        AudioPayload::decode(&[1, 0, 1]),
        Err(AudioPacketError::TooShort)
    );
    assert_eq!(
        AudioPayload::decode(&[2, 0, 1, 0, 9]),
        Err(AudioPacketError::Version(2))
    );
    assert_eq!(
        AudioPayload::decode(&[1, 2, 1, 0, 9]),
        Err(AudioPacketError::Flags(2))
    );
    assert_eq!(
        AudioPayload::decode(&[1, 0, 0, 0]),
        Err(AudioPacketError::Length(0))
    );
    assert_eq!(
        AudioPayload::decode(&[1, 0, 2, 0, 9]),
        Err(AudioPacketError::Truncated)
    );
    // Trailing bytes without the flag, and the flag without a previous packet.
    assert_eq!(
        AudioPayload::decode(&[1, 0, 1, 0, 9, 9]),
        Err(AudioPacketError::Truncated)
    );
    assert_eq!(
        AudioPayload::decode(&[1, 1, 1, 0, 9]),
        Err(AudioPacketError::Length(0))
    );
    let huge = vec![0u8; MAX_OPUS_PACKET + 1];
    let p = AudioPayload {
        primary: &huge,
        previous: None,
    };
    assert_eq!(
        p.encode(&mut Vec::new()),
        Err(AudioPacketError::Length(MAX_OPUS_PACKET + 1))
    );
}

proptest! {
    #[test]
    fn payload_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = AudioPayload::decode(&bytes);
    }

    #[test]
    fn payload_round_trips(
        primary in proptest::collection::vec(any::<u8>(), 1..400),
        previous in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..400)),
    ) {
        let p = AudioPayload { primary: &primary, previous: previous.as_deref() };
        let mut out = Vec::new();
        p.encode(&mut out).unwrap();
        prop_assert_eq!(AudioPayload::decode(&out).unwrap(), p);
    }

    /// Whatever order and duplication packets arrive in, every packet pulled is one that was
    /// inserted for that slot, and pulls are in frame order.
    #[test]
    fn jitter_plays_in_order(order in proptest::collection::vec(0u32..60, 1..200), start in any::<u32>()) {
        let mut jb = JitterBuffer::new(JitterConfig { target: 3, capacity: 64, drift_window: 1000 });
        for i in &order {
            let index = start.wrapping_add(*i);
            jb.insert(index, &index.to_le_bytes());
        }
        let mut last: Option<u32> = None;
        for _ in 0..100 {
            if let Pull::Packet(p) = jb.pull() {
                let got = u32::from_le_bytes(p.try_into().unwrap());
                if let Some(l) = last {
                    prop_assert!(got.wrapping_sub(l) < (1 << 31) && got != l);
                }
                last = Some(got);
            }
        }
    }
}

fn pulls(jb: &mut JitterBuffer, n: usize) -> Vec<Pull> {
    (0..n).map(|_| jb.pull()).collect()
}

fn packet(i: u32) -> Pull {
    Pull::Packet(vec![i as u8])
}

#[test]
fn jitter_waits_for_target_then_reorders() {
    let mut jb = JitterBuffer::new(JitterConfig {
        target: 3,
        capacity: 16,
        drift_window: 1000,
    });
    jb.insert(10, &[10]);
    assert_eq!(jb.pull(), Pull::Silence, "below target: not started");
    jb.insert(12, &[12]);
    jb.insert(11, &[11]);
    assert_eq!(pulls(&mut jb, 3), vec![packet(10), packet(11), packet(12)]);
    // Empty: underrun, then rebuffer to the target before playing again.
    assert_eq!(jb.pull(), Pull::Silence);
    assert_eq!(jb.stats().underruns, 1);
    jb.insert(13, &[13]);
    assert_eq!(jb.pull(), Pull::Silence);
    jb.insert(14, &[14]);
    jb.insert(15, &[15]);
    assert_eq!(jb.pull(), packet(13));
    // Behind the play position: late.
    jb.insert(12, &[12]);
    assert_eq!(jb.stats().late, 1);
}

#[test]
fn jitter_conceals_loss_and_uses_redundancy() {
    let mut jb = JitterBuffer::new(JitterConfig {
        target: 2,
        capacity: 16,
        drift_window: 1000,
    });
    jb.insert(0, &[0]);
    jb.insert(2, &[2]); // 1 lost
    jb.insert(3, &[3]);
    jb.insert_redundant(2, &[99]); // slot already full: ignored
    jb.insert(5, &[5]); // 4 lost, but its copy rides in 5's payload
    jb.insert_redundant(4, &[4]);
    assert_eq!(
        pulls(&mut jb, 6),
        vec![
            packet(0),
            Pull::Conceal,
            packet(2),
            packet(3),
            packet(4),
            packet(5)
        ]
    );
    let s = jb.stats();
    assert_eq!((s.concealed, s.recovered_from_redundancy), (1, 1));
}

#[test]
fn jitter_drops_a_packet_when_the_sender_runs_fast() {
    let mut jb = JitterBuffer::new(JitterConfig {
        target: 2,
        capacity: 64,
        drift_window: 10,
    });
    // The sender delivers 11 packets per 10 pulls (a 10 % faster clock).
    let mut sent = 0u32;
    for _ in 0..20 {
        let n = 11;
        for _ in 0..n {
            jb.insert(sent, &[0]);
            sent += 1;
        }
        pulls(&mut jb, 10);
    }
    let s = jb.stats();
    assert!(s.dropped_for_drift >= 10, "{s:?}");
    assert!(jb.depth() < 30, "depth {} kept growing", jb.depth());
}

#[test]
fn jitter_skips_ahead_when_far_behind() {
    let mut jb = JitterBuffer::new(JitterConfig {
        target: 1,
        capacity: 4,
        drift_window: 1000,
    });
    jb.insert(0, &[0]);
    jb.insert(10, &[10]);
    assert_eq!(jb.stats().overflow_skipped, 7);
    assert_eq!(jb.depth(), 4);
    assert_eq!(pulls(&mut jb, 4)[3], packet(10));
}

#[test]
fn jitter_handles_index_wrap() {
    let mut jb = JitterBuffer::new(JitterConfig {
        target: 2,
        capacity: 8,
        drift_window: 1000,
    });
    jb.insert(u32::MAX, &[1]);
    jb.insert(0, &[2]);
    assert_eq!(
        pulls(&mut jb, 2),
        vec![Pull::Packet(vec![1]), Pull::Packet(vec![2])]
    );
}

#[test]
fn fifo_pads_underruns_and_drops_for_drift() {
    let mut fifo = PcmFifo::new(2, 4, 6, 64);
    let mut out = [1.0f32; 8];
    assert_eq!(fifo.pop(&mut out), 0, "nothing playing: silence");
    assert_eq!(out, [0.0; 8]);
    fifo.push(&[0.5; 8]); // 4 sample frames: below the target of 6, still priming
    assert_eq!(fifo.pop(&mut out), 0);
    fifo.push(&[0.5; 6]); // 7 frames: plays 4, then 3 and runs dry
    assert_eq!(fifo.pop(&mut out), 4);
    assert_eq!(fifo.pop(&mut out), 3);
    assert_eq!(&out[6..], &[0.0, 0.0]);
    assert_eq!(fifo.stats().underruns, 1);
    // Ran dry mid-stream: the target grew by a packet, and it waits for that much again.
    assert_eq!(fifo.target(), 10);
    fifo.push(&[0.5; 16]);
    assert_eq!(fifo.pop(&mut out), 0);
    fifo.push(&[0.5; 4]);
    assert_eq!(fifo.pop(&mut out), 4);
    // The graph delivers 5 frames per 4 popped: the level would grow without bound.
    let mut fifo = PcmFifo::new(1, 4, 4, 10_000);
    let mut out = [0.0f32; 4];
    for _ in 0..2_000 {
        fifo.push(&[0.1; 5]);
        fifo.pop(&mut out);
    }
    assert!(fifo.stats().dropped_for_drift > 0);
    assert!(fifo.level() < 200, "level {}", fifo.level());
}

#[test]
fn fifo_overflow_keeps_the_newest() {
    let mut fifo = PcmFifo::new(1, 2, 0, 4);
    fifo.push(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    assert_eq!(fifo.level(), 4);
    let mut out = [0.0; 2];
    fifo.pop(&mut out);
    assert_eq!(out, [4.0, 5.0]);
}

#[test]
fn layouts_map_every_channel_once() {
    for layout in [
        Layout::Mono,
        Layout::Stereo,
        Layout::Surround51,
        Layout::Surround71,
    ] {
        let ms = layout.multistream();
        let n = layout.channels();
        assert_eq!(Layout::from_channels(n), Some(layout));
        assert_eq!(ms.mapping.len(), usize::from(n));
        // Coupled streams decode two channels each, the rest one: together exactly `n`.
        assert_eq!(usize::from(ms.streams + ms.coupled), usize::from(n));
        let mut seen = ms.mapping.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
    }
    assert_eq!(Layout::from_channels(3), None);
    // 5.1: FL/FR and RL/RR are pairs; centre and LFE are mono streams.
    let ms = Layout::Surround51.multistream();
    let pos = Layout::Surround51.positions();
    assert_eq!(pos[2], Position::FrontCenter);
    assert_eq!(ms.mapping[2], 4);
    assert_eq!(ms.mapping[3], 5);
    assert_eq!((ms.mapping[4], ms.mapping[5]), (2, 3));
}

/// Plays `n` packets through a jitter buffer after iid loss `p` (seeded), with or without the
/// previous packet inside each payload; returns the fraction concealed.
fn concealed_fraction(n: u32, p: f64, redundancy: bool, seed: u64) -> f64 {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut jb = JitterBuffer::new(JitterConfig {
        target: 3,
        capacity: 64,
        drift_window: 1_000_000,
    });
    for i in 0..n {
        if !rng.random_bool(p) {
            jb.insert(i, &[1]);
            if redundancy && i > 0 {
                jb.insert_redundant(i - 1, &[1]);
            }
        }
        // One pull per packet interval, three packets behind (the target delay).
        if i >= 3 {
            jb.pull();
        }
    }
    jb.stats().concealed as f64 / f64::from(n)
}

/// The numbers behind docs/protocol.md "Audio": carrying the previous packet turns a loss rate p
/// into about p² concealed packets (two consecutive datagrams must be lost).
#[test]
fn redundancy_squares_the_loss() {
    for p in [0.01, 0.05, 0.10] {
        let plain = concealed_fraction(200_000, p, false, 7);
        let redundant = concealed_fraction(200_000, p, true, 7);
        eprintln!(
            "loss {p}: concealed {plain:.5} without, {redundant:.5} with the previous packet"
        );
        assert!((plain - p).abs() < p * 0.1 + 0.001, "{plain}");
        assert!(redundant < p * p * 1.3 + 0.0005, "{redundant}");
    }
}
