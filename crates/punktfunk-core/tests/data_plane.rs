//! End-to-end properties of the data plane: packetize → seal → (loss, reordering, duplication,
//! tampering) → open → reassemble.

use proptest::prelude::*;
use punktfunk_core::crypto::{Opener, SessionKeys};
use punktfunk_core::packetize::{
    DatagramBatch, Event, FecConfig, FrameInput, Packetizer, PacketizerConfig, Reassembler,
    ReassemblerConfig,
};
use punktfunk_core::reject::Reject;
use punktfunk_core::wire::{PacketHeader, StreamKind};
use std::time::{Duration, Instant};

const SESSION: u32 = 0x5eed;

fn keys() -> SessionKeys {
    SessionKeys::derive(b"data-plane test secret, 32 bytes", SESSION).unwrap()
}

fn sender(fec: FecConfig, max_datagram: usize) -> Packetizer {
    let mut cfg = PacketizerConfig::new(StreamKind::Video, SESSION);
    cfg.fec = fec;
    cfg.max_datagram = max_datagram;
    Packetizer::new(cfg, &keys().host_to_client).unwrap()
}

fn receiver() -> (Opener, Reassembler) {
    (
        Opener::new(&keys().host_to_client, SESSION).unwrap(),
        Reassembler::new(ReassemblerConfig::default()),
    )
}

fn frame_bytes(len: usize, seed: u64) -> Vec<u8> {
    punktfunk_core::testsrc::pattern_bytes(seed, len)
}

fn headers(batch: &DatagramBatch) -> Vec<PacketHeader> {
    batch
        .iter()
        .map(|d| PacketHeader::decode(d).unwrap())
        .collect()
}

fn drain(r: &mut Reassembler) -> Vec<Event> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

/// A frame, a FEC configuration, and for every datagram whether it is dropped; at most the block's
/// recovery count is dropped per block. Also a permutation seed for delivery order and duplicates.
#[derive(Debug, Clone)]
struct Scenario {
    len: usize,
    fec: FecConfig,
    max_datagram: usize,
    seed: u64,
    drop_fraction: f64,
    shuffle: bool,
    duplicate_every: usize,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop_oneof![1usize..3_000, 1usize..200_000, 1_000_000usize..1_500_000],
        0u16..60,
        0u16..4,
        prop_oneof![Just(1024u16), Just(128u16), 1u16..300],
        prop_oneof![Just(128u16), Just(255u16), 0u16..255],
        prop_oneof![Just(1452usize), 200usize..1452, Just(9000usize)],
        any::<u64>(),
        0.0f64..1.0,
        any::<bool>(),
        prop_oneof![Just(0usize), 2usize..20],
    )
        .prop_map(
            |(
                len,
                pct,
                min_parity,
                max_block,
                gf8,
                max_datagram,
                seed,
                drop_fraction,
                shuffle,
                dup,
            )| Scenario {
                len,
                fec: FecConfig {
                    parity_percent: pct,
                    min_parity,
                    max_data_per_block: max_block,
                    gf8_max_data: gf8,
                },
                max_datagram,
                seed,
                drop_fraction,
                shuffle,
                duplicate_every: dup,
            },
        )
}

/// Chooses which datagrams to drop: in every block, a random subset no larger than its recovery count.
fn droppable(headers: &[PacketHeader], fraction: f64, seed: u64) -> Vec<bool> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut drop = vec![false; headers.len()];
    // Blocks are interleaved in the batch: collect each block's datagrams wherever they are.
    let blocks = headers.first().map_or(0, |h| usize::from(h.block_count));
    for b in 0..blocks {
        let mut idx: Vec<usize> = (0..headers.len())
            .filter(|&i| usize::from(headers[i].block_index) == b)
            .collect();
        let Some(h) = idx.first().map(|&i| headers[i]) else {
            continue;
        };
        assert_eq!(
            idx.len(),
            h.block_shards() as usize,
            "block {b} is complete"
        );
        let budget = (f64::from(h.recovery_shards) * fraction).round() as usize;
        for i in (1..idx.len()).rev() {
            idx.swap(i, (next() % (i as u64 + 1)) as usize);
        }
        for &i in idx.iter().take(budget) {
            drop[i] = true;
        }
    }
    drop
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64).min(128), ..ProptestConfig::default() })]

    /// Any loss pattern with at most `parity` losses per block, in any order and with duplicates,
    /// reassembles byte-exact.
    #[test]
    fn recoverable_loss_reassembles_exactly(sc in scenario()) {
        let data = frame_bytes(sc.len, sc.seed);
        let mut tx = sender(sc.fec, sc.max_datagram);
        let mut batch = DatagramBatch::new();
        let summary = tx.packetize(FrameInput { data: &data, pts_us: 42, keyframe: true, recovery_point: false }, &mut batch).unwrap();
        prop_assert!(batch.datagram_len() <= sc.max_datagram.max(64 + 2));
        let hs = headers(&batch);
        let drop = droppable(&hs, sc.drop_fraction, sc.seed);

        let mut order: Vec<usize> = (0..batch.len()).filter(|&i| !drop[i]).collect();
        if sc.shuffle {
            // Any order among packets whose sequence numbers lie in the same 2048-wide span:
            // reordering deeper than the 4096-packet replay window is (by design) rejected as too
            // old. Spans are cut by sequence number, not by surviving count, so heavy loss cannot
            // stretch one span past the window.
            let mut x = sc.seed | 1;
            for span in order.chunk_by_mut(|&a, &b| a / 2048 == b / 2048) {
                for i in (1..span.len()).rev() {
                    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                    span.swap(i, (x % (i as u64 + 1)) as usize);
                }
            }
        }
        let (mut opener, mut rx) = receiver();
        let now = Instant::now();
        for (n, &i) in order.iter().enumerate() {
            let mut d = batch.get(i).to_vec();
            let dup = d.clone();
            rx.receive(now, &mut opener, &mut d).unwrap();
            if sc.duplicate_every > 0 && n % sc.duplicate_every == 0 {
                let mut dup = dup;
                prop_assert_eq!(rx.receive(now, &mut opener, &mut dup), Err(Reject::Replayed));
            }
        }
        let events = drain(&mut rx);
        prop_assert_eq!(events.len(), 1);
        let Event::Frame(f) = &events[0] else { panic!("expected a frame, got {:?}", events[0]) };
        prop_assert_eq!(f.frame_index, summary.frame_index);
        prop_assert_eq!(f.pts_us, 42);
        prop_assert!(f.keyframe);
        prop_assert!(f.data == data, "frame bytes differ");
        prop_assert_eq!(rx.memory_used(), 0);
    }

    /// Any single flipped bit anywhere in a sealed datagram makes it fail to open.
    #[test]
    fn any_flipped_bit_is_rejected(len in 1usize..5_000, which in any::<prop::sample::Index>(), bit in any::<prop::sample::Index>(), seed in any::<u64>()) {
        let data = frame_bytes(len, seed);
        let mut tx = sender(FecConfig::default(), 1452);
        let mut batch = DatagramBatch::new();
        tx.packetize(FrameInput { data: &data, pts_us: 1, keyframe: false, recovery_point: false }, &mut batch).unwrap();
        let mut d = batch.get(which.index(batch.len())).to_vec();
        let bit = bit.index(d.len() * 8);
        d[bit / 8] ^= 1 << (bit % 8);
        let (mut opener, _) = receiver();
        prop_assert!(opener.open(&mut d).is_err());
        prop_assert_eq!(opener.rejects().total(), 1);
    }

    /// Random datagrams never panic, never open, and never make the reassembler exceed its budget.
    #[test]
    fn random_datagrams_are_harmless(datagrams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..2_000), 1..50)) {
        let (mut opener, mut rx) = receiver();
        let now = Instant::now();
        for mut d in datagrams {
            prop_assert!(rx.receive(now, &mut opener, &mut d).is_err());
        }
        prop_assert_eq!(rx.memory_used(), 0);
        prop_assert!(rx.poll_event().is_none());
    }

    /// Authenticated but hostile headers (valid fields, absurd sizes, random frame indices) cannot push
    /// the reassembler past its memory budget.
    #[test]
    fn hostile_sender_stays_within_budget(packets in proptest::collection::vec((any::<u32>(), 1u32..=16 * 1024 * 1024, 1u16..2000, any::<u16>(), any::<u16>(), 0u16..64, any::<u16>()), 1..200)) {
        let budget = 4 * 1024 * 1024;
        let mut rx = Reassembler::new(ReassemblerConfig { memory_budget: budget, ..ReassemblerConfig::default() });
        let mut now = Instant::now();
        for (seq, (frame_index, frame_len, shard_bytes, block_count, block_index, recovery, shard_index)) in packets.into_iter().enumerate() {
            let shard_bytes = shard_bytes & !1;
            if shard_bytes == 0 { continue; }
            let total = frame_len.div_ceil(u32::from(shard_bytes));
            let block_count = (block_count % 64).clamp(1, total.min(64) as u16);
            let block_index = block_index % block_count;
            let layout = punktfunk_core::wire::BlockLayout::new(total, block_count);
            let data_shards = layout.data_shards(block_index);
            let Ok(data_shards) = u16::try_from(data_shards) else { continue };
            let fec = if recovery == 0 { punktfunk_core::wire::FecScheme::None } else { punktfunk_core::wire::FecScheme::Gf16Leopard };
            let mut flags = punktfunk_core::wire::Flags::empty();
            if block_index == 0 { flags = flags | punktfunk_core::wire::Flags::START_OF_FRAME; }
            if block_index + 1 == block_count { flags = flags | punktfunk_core::wire::Flags::END_OF_FRAME; }
            let h = PacketHeader {
                kind: StreamKind::Video, flags, fec, shard_bytes, session_id: SESSION, frame_index: frame_index % 300,
                seq: seq as u64, pts_us: 0, frame_len, block_index, block_count, data_shards, recovery_shards: recovery,
                shard_index: (u32::from(shard_index) % (u32::from(data_shards) + u32::from(recovery))) as u16,
            };
            if h.validate().is_err() { continue; }
            let payload = vec![0u8; usize::from(shard_bytes)];
            let _ = rx.push(now, &h, &payload);
            prop_assert!(rx.memory_used() <= budget, "used {} > budget {}", rx.memory_used(), budget);
            now += Duration::from_millis(3);
            rx.handle_timeout(now);
            while rx.poll_event().is_some() {}
        }
    }
}

#[test]
fn replayed_datagram_is_rejected_after_delivery() {
    let data = frame_bytes(10_000, 3);
    let mut tx = sender(FecConfig::default(), 1452);
    let mut batch = DatagramBatch::new();
    tx.packetize(
        FrameInput {
            data: &data,
            pts_us: 0,
            keyframe: false,
            recovery_point: false,
        },
        &mut batch,
    )
    .unwrap();
    let (mut opener, mut rx) = receiver();
    let now = Instant::now();
    for d in batch.iter() {
        rx.receive(now, &mut opener, &mut d.to_vec()).unwrap();
    }
    for d in batch.iter() {
        assert_eq!(
            rx.receive(now, &mut opener, &mut d.to_vec()),
            Err(Reject::Replayed)
        );
    }
    assert_eq!(opener.rejects().replayed, batch.len() as u64);
}

#[test]
fn wrong_key_or_session_is_rejected() {
    let mut tx = sender(FecConfig::default(), 1452);
    let mut batch = DatagramBatch::new();
    tx.packetize(
        FrameInput {
            data: b"hello",
            pts_us: 0,
            keyframe: false,
            recovery_point: false,
        },
        &mut batch,
    )
    .unwrap();
    let other = SessionKeys::derive(b"another secret entirely, 32 byte", SESSION).unwrap();
    let mut wrong_key = Opener::new(&other.host_to_client, SESSION).unwrap();
    assert_eq!(
        wrong_key.open(&mut batch.get(0).to_vec()).err(),
        Some(Reject::BadTag)
    );
    let mut wrong_dir = Opener::new(&keys().client_to_host, SESSION).unwrap();
    assert_eq!(
        wrong_dir.open(&mut batch.get(0).to_vec()).err(),
        Some(Reject::BadTag)
    );
    let mut wrong_session = Opener::new(&keys().host_to_client, SESSION + 1).unwrap();
    assert_eq!(
        wrong_session.open(&mut batch.get(0).to_vec()).err(),
        Some(Reject::WrongSession)
    );
}

/// Frames come out in order; an unrecoverable frame becomes a `Lost` event once a newer frame has
/// been complete for the reorder grace, and the stream continues.
#[test]
fn unrecoverable_frame_is_reported_lost_and_stream_continues() {
    let mut tx = sender(
        FecConfig {
            parity_percent: 10,
            min_parity: 1,
            ..FecConfig::default()
        },
        1452,
    );
    let (mut opener, mut rx) = receiver();
    let t0 = Instant::now();
    let mut batch = DatagramBatch::new();
    let frames: Vec<Vec<u8>> = (0..5)
        .map(|i| frame_bytes(20_000 + i * 100, i as u64 + 1))
        .collect();
    for (i, f) in frames.iter().enumerate() {
        tx.packetize(
            FrameInput {
                data: f,
                pts_us: i as u64,
                keyframe: i == 0,
                recovery_point: false,
            },
            &mut batch,
        )
        .unwrap();
        let now = t0 + Duration::from_millis(4 * i as u64);
        for (n, d) in batch.iter().enumerate() {
            // Frame 2 loses half its packets: far beyond its parity.
            if i == 2 && n % 2 == 0 {
                continue;
            }
            rx.receive(now, &mut opener, &mut d.to_vec()).unwrap();
        }
    }
    let mut events = drain(&mut rx);
    // Frames 0 and 1 are out; 2 blocks 3 and 4 until the grace passes.
    assert_eq!(events.len(), 2);
    let deadline = rx.poll_timeout().expect("a pending deadline");
    rx.handle_timeout(deadline);
    events.extend(drain(&mut rx));
    let summary: Vec<String> = events
        .iter()
        .map(|e| match e {
            Event::Frame(f) => format!("F{}", f.frame_index),
            Event::Lost { first, count } => format!("L{first}+{count}"),
        })
        .collect();
    assert_eq!(summary, ["F0", "F1", "L2+1", "F3", "F4"]);
    for e in &events {
        if let Event::Frame(f) = e {
            assert_eq!(f.data, frames[f.frame_index as usize]);
        }
    }
    assert_eq!(rx.memory_used(), 0);
    let stats = rx.take_loss_window();
    assert_eq!(stats.frames_lost, 1);
    assert_eq!(stats.frames_complete, 4);
    assert!(stats.loss_fraction() > 0.05);
}

/// A jump far ahead (e.g. after a long outage) slides the window and reports the gap as one range.
#[test]
fn large_gap_is_one_lost_range() {
    let mut tx = sender(FecConfig::default(), 1452);
    let (mut opener, mut rx) = receiver();
    let now = Instant::now();
    let mut batch = DatagramBatch::new();
    for i in 0..1000u32 {
        tx.packetize(
            FrameInput {
                data: &[i as u8; 100],
                pts_us: u64::from(i),
                keyframe: false,
                recovery_point: false,
            },
            &mut batch,
        )
        .unwrap();
        if i == 0 || i == 999 {
            for d in batch.iter() {
                rx.receive(now, &mut opener, &mut d.to_vec()).unwrap();
            }
        }
    }
    // The newest frames sit in the window until the reorder grace gives up the ones that never came.
    rx.handle_timeout(now + Duration::from_secs(1));
    let events = drain(&mut rx);
    assert!(matches!(events[0], Event::Frame(ref f) if f.frame_index == 0));
    assert_eq!(
        events[1],
        Event::Lost {
            first: 1,
            count: 998
        }
    );
    assert!(matches!(events[2], Event::Frame(ref f) if f.frame_index == 999));
}

#[test]
fn frame_size_limits() {
    let mut tx = sender(FecConfig::default(), 1452);
    let mut batch = DatagramBatch::new();
    let empty = FrameInput {
        data: &[],
        pts_us: 0,
        keyframe: false,
        recovery_point: false,
    };
    assert!(tx.packetize(empty, &mut batch).is_err());
    let huge = vec![0u8; 16 * 1024 * 1024 + 1];
    assert!(
        tx.packetize(
            FrameInput {
                data: &huge,
                ..empty
            },
            &mut batch
        )
        .is_err()
    );
    let max = vec![7u8; 16 * 1024 * 1024];
    let s = tx
        .packetize(
            FrameInput {
                data: &max,
                ..empty
            },
            &mut batch,
        )
        .unwrap();
    assert!(s.blocks > 1);
    assert!(batch.iter().all(|d| d.len() <= 1452));
}

/// Lost ranges that together exceed u32 stay separate events instead of overflowing.
#[test]
fn lost_ranges_never_overflow() {
    let mut rx = Reassembler::new(ReassemblerConfig::default());
    let now = Instant::now();
    for (seq, frame_index) in [0u32, 2_147_483_448, 4_294_966_896].into_iter().enumerate() {
        let h = PacketHeader {
            kind: StreamKind::Video,
            flags: punktfunk_core::wire::Flags::START_OF_FRAME
                | punktfunk_core::wire::Flags::END_OF_FRAME,
            fec: punktfunk_core::wire::FecScheme::None,
            shard_bytes: 4,
            session_id: SESSION,
            frame_index,
            seq: seq as u64,
            pts_us: 0,
            frame_len: 8,
            block_index: 0,
            block_count: 1,
            data_shards: 2,
            recovery_shards: 0,
            shard_index: 0,
        };
        h.validate().unwrap();
        let _ = rx.push(now, &h, &[0; 4]);
    }
    let lost: u64 = drain(&mut rx)
        .iter()
        .map(|e| match e {
            Event::Lost { count, .. } => u64::from(*count),
            Event::Frame(_) => 0,
        })
        .sum();
    assert!(lost > u64::from(u32::MAX) / 2, "{lost}");
}

/// Blocks are interleaved on the wire, so a run of consecutive losses is shared between them: with
/// four blocks of 8 recovery shards, every burst of 28 datagrams — wherever it starts — is recovered,
/// although 28 losses in one block would be far beyond its 8.
#[test]
fn bursts_are_spread_over_interleaved_blocks() {
    let fec = FecConfig {
        parity_percent: 20,
        min_parity: 2,
        max_data_per_block: 40,
        gf8_max_data: 255,
    };
    let data = frame_bytes(200_000, 9);
    let mut tx = sender(fec, 1452);
    let mut batch = DatagramBatch::new();
    let summary = tx
        .packetize(
            FrameInput {
                data: &data,
                pts_us: 5,
                keyframe: false,
                recovery_point: false,
            },
            &mut batch,
        )
        .unwrap();
    assert_eq!(summary.blocks, 4);
    let hs = headers(&batch);
    assert!(hs.iter().all(|h| h.recovery_shards == 8));
    // Send order: shard 0 of blocks 0..4, then shard 1 of each, and so on.
    let order: Vec<(u16, u16)> = hs.iter().map(|h| (h.block_index, h.shard_index)).collect();
    assert_eq!(&order[..5], &[(0, 0), (1, 0), (2, 0), (3, 0), (0, 1)]);
    // Sequence numbers follow the send order.
    assert!(hs.windows(2).all(|w| w[1].seq == w[0].seq + 1));

    const BURST: usize = 28;
    for start in (0..=batch.len() - BURST).step_by(3) {
        let (mut opener, mut rx) = receiver();
        let now = Instant::now();
        for i in (0..batch.len()).filter(|i| !(start..start + BURST).contains(i)) {
            let mut d = batch.get(i).to_vec();
            rx.receive(now, &mut opener, &mut d).unwrap();
        }
        match drain(&mut rx).as_slice() {
            [Event::Frame(f)] => assert!(f.data == data, "burst at {start}: frame bytes differ"),
            other => panic!("burst at {start}: {other:?}"),
        }
    }
}
