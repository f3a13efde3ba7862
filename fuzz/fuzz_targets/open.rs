//! `Opener::open` never panics, on arbitrary bytes and on mutated real datagrams.
//!
//! The first input byte picks the mode:
//! - even: the rest of the input is one datagram, opened as is;
//! - odd: the rest drives a [`Scenario`]: a `Packetizer` seals a few real frames with the same key,
//!   and chosen datagrams are opened after fuzzer-chosen mutations (bit flips, truncation,
//!   extension). This reaches past header validation into the replay window and the AEAD.
//!
//! For the scenario the outcome is also checked: an unmodified datagram opens (unless its sequence
//! number was accepted before or fell out of the replay window) to exactly the header and payload
//! that were sealed; a modified one never opens.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use punktfunk_core::crypto::{Opener, SessionKeys, TAG_LEN};
use punktfunk_core::packetize::{
    DatagramBatch, FecConfig, FrameInput, Packetizer, PacketizerConfig,
};
use punktfunk_core::reject::Reject;
use punktfunk_core::wire::{HEADER_LEN, PacketHeader, StreamKind};
use std::collections::HashSet;
use std::sync::OnceLock;

const SESSION: u32 = 7;
/// Width of the opener's replay window (`crypto::replay::WINDOW_BITS`).
const REPLAY_WINDOW: u64 = 4096;

fn keys() -> &'static SessionKeys {
    static KEYS: OnceLock<SessionKeys> = OnceLock::new();
    KEYS.get_or_init(|| SessionKeys::derive(b"punktfunk fuzz secret, 32 bytes!", SESSION).unwrap())
}

#[derive(Arbitrary, Debug)]
struct Scenario {
    /// Frame length is `1 + frame_len % 2048`.
    frame_len: u16,
    /// Datagram size is `HEADER_LEN + TAG_LEN + 2 + max_datagram % 1400` (shards of 2 ..= 1400 bytes).
    max_datagram: u16,
    parity_percent: u8,
    min_parity: u8,
    max_data_per_block: u8,
    gf8_max_data: u8,
    keyframe: bool,
    recovery_point: bool,
    /// Frames packetized: `1 + frames % 3`.
    frames: u8,
    seed: u8,
    deliveries: Vec<Delivery>,
}

#[derive(Arbitrary, Debug)]
struct Delivery {
    frame: u8,
    index: u16,
    mutations: Vec<Mutation>,
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    Xor { at: u16, value: u8 },
    Truncate { len: u16 },
    Extend { bytes: Vec<u8> },
}

fn apply(datagram: &mut Vec<u8>, mutation: &Mutation) {
    match mutation {
        Mutation::Xor { at, value } => {
            if !datagram.is_empty() {
                let at = usize::from(*at) % datagram.len();
                datagram[at] ^= value;
            }
        }
        Mutation::Truncate { len } => datagram.truncate(usize::from(*len) % (datagram.len() + 1)),
        Mutation::Extend { bytes } => datagram.extend_from_slice(bytes),
    }
}

/// Payload of data shard `index` of `frame` with `s`-byte shards (the last one zero-padded).
fn data_shard(frame: &[u8], index: usize, s: usize) -> Vec<u8> {
    let mut shard =
        frame[(index * s).min(frame.len())..((index + 1) * s).min(frame.len())].to_vec();
    shard.resize(s, 0);
    shard
}

fn scenario(sc: Scenario) {
    let keys = keys();
    let mut config = PacketizerConfig::new(StreamKind::Video, SESSION);
    config.max_datagram = HEADER_LEN + TAG_LEN + 2 + usize::from(sc.max_datagram) % 1400;
    config.fec = FecConfig {
        parity_percent: u16::from(sc.parity_percent) % 101,
        min_parity: u16::from(sc.min_parity % 4),
        max_data_per_block: u16::from(sc.max_data_per_block).max(1),
        gf8_max_data: u16::from(sc.gf8_max_data),
    };
    let mut packetizer = Packetizer::new(config, &keys.host_to_client).unwrap();
    let len = 1 + usize::from(sc.frame_len) % 2048;
    let mut frames = Vec::new();
    for f in 0..1 + sc.frames % 3 {
        let data: Vec<u8> = (0..len)
            .map(|i| (i as u8).wrapping_mul(sc.seed | 1).wrapping_add(f))
            .collect();
        let mut batch = DatagramBatch::new();
        let input = FrameInput {
            data: &data,
            pts_us: u64::from(f) * 16_667,
            keyframe: sc.keyframe,
            recovery_point: sc.recovery_point,
        };
        let summary = packetizer
            .packetize(input, &mut batch)
            .expect("sane frames always packetize");
        assert_eq!(summary.datagrams, batch.len());
        frames.push((data, batch));
    }

    let mut opener = Opener::new(&keys.host_to_client, SESSION).unwrap();
    let mut accepted = HashSet::new();
    let mut top = 0u64; // one past the highest accepted sequence number
    for delivery in &sc.deliveries {
        let (data, batch) = &frames[usize::from(delivery.frame) % frames.len()];
        let pristine = batch.get(usize::from(delivery.index) % batch.len());
        let mut datagram = pristine.to_vec();
        for mutation in &delivery.mutations {
            apply(&mut datagram, mutation);
        }
        let sent = PacketHeader::decode(pristine).expect("the packetizer writes valid headers");
        let modified = datagram != pristine;
        let result = opener.open(&mut datagram).map(|(h, p)| (h, p.to_vec()));
        if modified {
            assert!(result.is_err(), "a modified datagram opened: {delivery:?}");
            continue;
        }
        let expected = if top > sent.seq && top - sent.seq > REPLAY_WINDOW {
            Err(Reject::TooOld)
        } else if accepted.contains(&sent.seq) {
            Err(Reject::Replayed)
        } else {
            Ok(sent)
        };
        match (result, expected) {
            (Ok((header, payload)), Ok(sent)) => {
                assert_eq!(header, sent);
                assert_eq!(payload.len(), usize::from(sent.shard_bytes));
                if !sent.is_recovery() {
                    let s = usize::from(sent.shard_bytes);
                    let first = first_shard_of_block(&sent);
                    let index = first + usize::from(sent.shard_index);
                    assert!(
                        payload == data_shard(data, index, s),
                        "payload differs from what was sealed"
                    );
                }
                accepted.insert(sent.seq);
                top = top.max(sent.seq + 1);
            }
            (Err(got), Err(want)) => assert_eq!(got, want),
            (got, want) => panic!("opened {got:?}, expected {want:?}"),
        }
    }
}

/// Index of the first data shard of `h`'s block within its frame.
fn first_shard_of_block(h: &PacketHeader) -> usize {
    let total = (h.frame_len as usize).div_ceil(usize::from(h.shard_bytes));
    punktfunk_core::wire::BlockLayout::new(total as u32, h.block_count).first_shard(h.block_index)
        as usize
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let mut opener = Opener::new(&keys().host_to_client, SESSION).unwrap();
        let mut datagram = rest.to_vec();
        if let Ok((header, payload)) = opener.open(&mut datagram) {
            assert_eq!(header.session_id, SESSION);
            assert_eq!(payload.len(), usize::from(header.shard_bytes));
        }
        return;
    }
    if let Ok(sc) = Scenario::arbitrary_take_rest(Unstructured::new(rest)) {
        scenario(sc);
    }
});
