//! The reassembler under a fuzzer-chosen sequence of operations, with a 1 MiB memory budget.
//!
//! Operations: shards with arbitrary header fields (`Raw`), shards whose header is shaped to be
//! consistent with a frame geometry so they get past validation (`Shaped`), the sealed datagrams of
//! real frames from a `Packetizer` with some dropped and the rest rotated (`Real`, fed through
//! `receive`), and timeouts at advancing instants. `push` takes authenticated headers, so synthetic
//! headers are skipped unless they pass `validate()` — and, like everything the opener lets through,
//! have a sequence number below `u64::MAX`.
//!
//! Checked after every operation: `memory_used() <= budget`; `poll_timeout()` lies in the future;
//! events come out in contiguous frame order; a real frame that no synthetic shard touched comes out
//! byte-exact.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use punktfunk_core::crypto::{Opener, SessionKeys};
use punktfunk_core::packetize::{
    DatagramBatch, Event, FecConfig, FrameInput, Packetizer, PacketizerConfig, Reassembler,
    ReassemblerConfig,
};
use punktfunk_core::reject::Reject;
use punktfunk_core::wire::{BlockLayout, FecScheme, Flags, PacketHeader, StreamKind};
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const SESSION: u32 = 7;
const BUDGET: usize = 1 << 20;

fn keys() -> &'static SessionKeys {
    static KEYS: OnceLock<SessionKeys> = OnceLock::new();
    KEYS.get_or_init(|| SessionKeys::derive(b"punktfunk fuzz secret, 32 bytes!", SESSION).unwrap())
}

#[derive(Arbitrary, Debug)]
struct Input {
    max_frames_in_flight: u8,
    reorder_grace_ms: u8,
    max_frame_age_ms: u16,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum FrameRef {
    /// Relative to the newest frame index used so far.
    Near(i8),
    Absolute(u32),
}

#[derive(Arbitrary, Debug)]
struct RawHeader {
    kind: u8,
    flags: u8,
    fec: u8,
    shard_bytes: u16,
    frame_len: u32,
    block_index: u16,
    block_count: u16,
    data_shards: u16,
    recovery_shards: u16,
    shard_index: u16,
}

#[derive(Arbitrary, Debug)]
struct Shape {
    kind: u8,
    keyframe: bool,
    recovery_point: bool,
    /// Frame length `1 + frame_len % 300_000`.
    frame_len: u32,
    /// Shard size `1 + shard_bytes % 2048` (made even for GF(2¹⁶)).
    shard_bytes: u16,
    /// Block count: the fewest that keep blocks at ≤ 4096 data shards, plus `block_count % 32`.
    block_count: u8,
    block_index: u8,
    /// 0: none, 1: GF(2⁸), 2+: GF(2¹⁶).
    fec: u8,
    recovery_shards: u8,
    shard_index: u16,
}

#[derive(Arbitrary, Debug)]
struct Payload {
    /// When set, the payload length differs from the header's shard size by this much.
    length_error: Option<i8>,
    bytes: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Raw {
        frame: FrameRef,
        seq: u64,
        pts_us: u8,
        header: RawHeader,
        payload: Payload,
        dt_us: u16,
    },
    Shaped {
        frame: FrameRef,
        seq: u64,
        pts_us: u8,
        shape: Shape,
        payload: Payload,
        dt_us: u16,
    },
    Real {
        frame_len: u16,
        parity_percent: u8,
        drop_mask: u64,
        rotate: u16,
        dt_us: u16,
    },
    Timeout {
        dt_us: u32,
    },
}

/// Everything a run keeps between operations.
struct Harness {
    reassembler: Reassembler,
    packetizer: Packetizer,
    opener: Opener,
    batch: DatagramBatch,
    now: Instant,
    /// Newest frame index used by any operation (`FrameRef::Near` is relative to it).
    newest: u32,
    /// Contents of real frames by index, and the frame indices synthetic shards were aimed at.
    real: HashMap<u32, (Vec<u8>, bool)>,
    tainted: HashSet<u32>,
    /// The frame index the next event must start at, once the first event fixed it.
    next_event: Option<u32>,
    /// Whether the reassembler has run its timers at `now` since time last advanced.
    synced: bool,
}

impl Harness {
    fn frame_index(&mut self, frame: &FrameRef) -> u32 {
        let index = match frame {
            FrameRef::Near(d) => self.newest.wrapping_add_signed(i32::from(*d)),
            FrameRef::Absolute(i) => *i,
        };
        self.tainted.insert(index);
        index
    }

    fn advance(&mut self, dt_us: u64) {
        self.now += Duration::from_micros(dt_us);
        self.synced &= dt_us == 0;
    }

    fn push(&mut self, header: &PacketHeader, payload: &Payload) {
        if header.validate().is_err() || header.seq == u64::MAX {
            return;
        }
        let len = usize::from(header.shard_bytes)
            .saturating_add_signed(payload.length_error.map_or(0, isize::from));
        let bytes: Vec<u8> = if payload.bytes.is_empty() {
            vec![0; len]
        } else {
            payload.bytes.iter().copied().cycle().take(len).collect()
        };
        self.newest = header.frame_index;
        let _ = self.reassembler.push(self.now, header, &bytes);
        self.synced = true;
    }

    fn real(&mut self, frame_len: u16, parity_percent: u8, drop_mask: u64, rotate: u16) {
        let index = self.packetizer.next_frame_index();
        let len = 1 + usize::from(frame_len) % 20_000;
        let data: Vec<u8> = (0..len)
            .map(|i| (i as u32).wrapping_mul(index | 1) as u8)
            .collect();
        self.packetizer.set_fec(FecConfig {
            parity_percent: u16::from(parity_percent % 101),
            ..FecConfig::default()
        });
        let keyframe = index.is_multiple_of(2);
        let input = FrameInput {
            data: &data,
            pts_us: 0,
            keyframe,
            recovery_point: false,
        };
        self.packetizer
            .packetize(input, &mut self.batch)
            .expect("sane frames always packetize");
        self.real.insert(index, (data, keyframe));
        self.newest = index;
        let n = self.batch.len();
        let rotate = usize::from(rotate) % n;
        for i in (0..n).map(|i| (i + rotate) % n) {
            if drop_mask >> (i % 64) & 1 == 1 {
                continue;
            }
            let mut datagram = self.batch.get(i).to_vec();
            let result = self
                .reassembler
                .receive(self.now, &mut self.opener, &mut datagram);
            // Rejections by the reassembler (not the opener) mean it ran its timers.
            self.synced |= matches!(
                result,
                Ok(())
                    | Err(Reject::Inconsistent
                        | Reject::Late
                        | Reject::Duplicate
                        | Reject::OverBudget)
            );
        }
    }

    /// Drains and checks events and invariants.
    fn check(&mut self) {
        assert!(
            self.reassembler.memory_used() <= BUDGET,
            "{} bytes used",
            self.reassembler.memory_used()
        );
        if let (Some(t), true) = (self.reassembler.poll_timeout(), self.synced) {
            assert!(
                t > self.now,
                "a deadline that handle_timeout({:?}) should have handled",
                self.now
            );
        }
        while let Some(event) = self.reassembler.poll_event() {
            let (first, count) = match &event {
                Event::Frame(f) => (f.frame_index, 1),
                Event::Lost { first, count } => (*first, *count),
            };
            assert!(count >= 1, "{event:?}");
            if let Some(next) = self.next_event {
                assert_eq!(first, next, "events out of frame order: {event:?}");
            }
            self.next_event = Some(first.wrapping_add(count));
            if let Event::Frame(f) = &event
                && let (Some((data, keyframe)), false) = (
                    self.real.get(&f.frame_index),
                    self.tainted.contains(&f.frame_index),
                )
            {
                assert!(
                    &f.data == data,
                    "real frame {} delivered with wrong bytes",
                    f.frame_index
                );
                assert_eq!(f.keyframe, *keyframe);
            }
        }
    }
}

fn raw_header(frame_index: u32, seq: u64, pts_us: u8, r: &RawHeader) -> Option<PacketHeader> {
    Some(PacketHeader {
        kind: *StreamKind::ALL.get(usize::from(r.kind))?,
        flags: Flags::from_bits(r.flags)?,
        fec: match r.fec {
            0 => FecScheme::None,
            1 => FecScheme::Gf8Cauchy,
            2 => FecScheme::Gf16Leopard,
            _ => return None,
        },
        shard_bytes: r.shard_bytes,
        session_id: SESSION,
        frame_index,
        seq,
        pts_us: u64::from(pts_us),
        frame_len: r.frame_len,
        block_index: r.block_index,
        block_count: r.block_count,
        data_shards: r.data_shards,
        recovery_shards: r.recovery_shards,
        shard_index: r.shard_index,
    })
}

/// A header consistent with the frame geometry `s` describes.
fn shaped_header(frame_index: u32, seq: u64, pts_us: u8, s: &Shape) -> PacketHeader {
    let frame_len = 1 + s.frame_len % 300_000;
    let fec = match s.fec {
        0 => FecScheme::None,
        1 => FecScheme::Gf8Cauchy,
        _ => FecScheme::Gf16Leopard,
    };
    let mut shard_bytes = 1 + s.shard_bytes % 2048;
    if fec == FecScheme::Gf16Leopard {
        shard_bytes += shard_bytes % 2;
    }
    let total = frame_len.div_ceil(u32::from(shard_bytes));
    // At most 4096 data shards per block, so any FEC scheme's limits can be met.
    let block_count = (total.div_ceil(4096) + u32::from(s.block_count) % 32).min(total) as u16;
    let block_index = u16::from(s.block_index) % block_count;
    let k = BlockLayout::new(total, block_count).data_shards(block_index) as u16;
    let m = match fec {
        FecScheme::None => 0,
        FecScheme::Gf8Cauchy => 1 + u16::from(s.recovery_shards) % 255u16.saturating_sub(k).max(1),
        FecScheme::Gf16Leopard => 1 + u16::from(s.recovery_shards),
    };
    let mut flags = Flags::empty();
    if block_index == 0 {
        flags = flags | Flags::START_OF_FRAME;
    }
    if block_index + 1 == block_count {
        flags = flags | Flags::END_OF_FRAME;
    }
    if s.keyframe {
        flags = flags | Flags::KEYFRAME;
    }
    if s.recovery_point {
        flags = flags | Flags::RECOVERY_POINT;
    }
    PacketHeader {
        kind: StreamKind::ALL[usize::from(s.kind) % StreamKind::ALL.len()],
        flags,
        fec,
        shard_bytes,
        session_id: SESSION,
        frame_index,
        seq,
        pts_us: u64::from(pts_us),
        frame_len,
        block_index,
        block_count,
        data_shards: k,
        recovery_shards: m,
        shard_index: s.shard_index % (k + m),
    }
}

fuzz_target!(|input: Input| {
    let keys = keys();
    let config = ReassemblerConfig {
        memory_budget: BUDGET,
        max_frames_in_flight: 1 + u32::from(input.max_frames_in_flight % 64),
        reorder_grace: Duration::from_millis(u64::from(input.reorder_grace_ms)),
        max_frame_age: Duration::from_millis(u64::from(input.max_frame_age_ms)),
    };
    let mut h = Harness {
        reassembler: Reassembler::new(config),
        packetizer: Packetizer::new(
            PacketizerConfig::new(StreamKind::Video, SESSION),
            &keys.host_to_client,
        )
        .unwrap(),
        opener: Opener::new(&keys.host_to_client, SESSION).unwrap(),
        batch: DatagramBatch::new(),
        now: Instant::now(),
        newest: 0,
        real: HashMap::new(),
        tainted: HashSet::new(),
        next_event: None,
        synced: false,
    };
    for op in input.ops.iter().take(256) {
        match op {
            Op::Raw {
                frame,
                seq,
                pts_us,
                header,
                payload,
                dt_us,
            } => {
                h.advance(u64::from(*dt_us));
                let index = h.frame_index(frame);
                if let Some(header) = raw_header(index, *seq, *pts_us, header) {
                    h.push(&header, payload);
                }
            }
            Op::Shaped {
                frame,
                seq,
                pts_us,
                shape,
                payload,
                dt_us,
            } => {
                h.advance(u64::from(*dt_us));
                let index = h.frame_index(frame);
                h.push(&shaped_header(index, *seq, *pts_us, shape), payload);
            }
            Op::Real {
                frame_len,
                parity_percent,
                drop_mask,
                rotate,
                dt_us,
            } => {
                h.advance(u64::from(*dt_us));
                h.real(*frame_len, *parity_percent, *drop_mask, *rotate);
            }
            Op::Timeout { dt_us } => {
                h.advance(u64::from(*dt_us));
                h.reassembler.handle_timeout(h.now);
                h.synced = true;
            }
        }
        h.check();
    }
});
