//! The whole data plane for one frame, sender and receiver, at two frame sizes:
//! "1080p60" (20 Mbps at 60 fps: 41 667 bytes) and "1gbps" (1 Gbps at 120 fps: 1 041 667 bytes).
//!
//! - `send`: `Packetizer::packetize` with 20 % parity — shard, FEC-encode, seal into a `DatagramBatch`.
//! - `receive`: `Reassembler::receive` (open + place + FEC recovery) of every datagram of the frame
//!   except a fixed ~5 % (every 20th), then `poll_event` until the frame comes out.
//!
//! Opening is in place, so every received frame is first copied from a pristine sealed batch into a
//! scratch buffer; that memcpy is part of the measured receive cost (`receive_copy_only` measures it
//! alone). The replay window and the reassembler's frame order need fresh sequence numbers and frame
//! indices for every frame, so `FRAMES` frames are packetized up front and replayed through a fresh
//! `Opener` + `Reassembler` per round; the first frame of each round warms the FEC decoder and is not
//! timed.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use punktfunk_core::crypto::{DirectionKey, Opener, SessionKeys};
use punktfunk_core::packetize::{
    DatagramBatch, Event, FecConfig, FrameInput, Packetizer, PacketizerConfig, Reassembler,
    ReassemblerConfig,
};
use punktfunk_core::wire::StreamKind;
use std::hint::black_box;
use std::time::{Duration, Instant};

const SESSION: u32 = 7;
const SIZES: [(&str, usize); 2] = [("1080p60", 41_667), ("1gbps", 1_041_667)];
/// Datagram `i` of a frame is dropped when `i % DROP_EVERY == DROP_PHASE` (5 %).
const DROP_EVERY: usize = 20;
const DROP_PHASE: usize = 7;

fn key() -> DirectionKey {
    SessionKeys::derive(b"punktfunk bench secret, 32 bytes", SESSION)
        .expect("keys")
        .host_to_client
}

fn packetizer() -> Packetizer {
    let mut config = PacketizerConfig::new(StreamKind::Video, SESSION);
    config.fec = FecConfig {
        parity_percent: 20,
        ..FecConfig::default()
    };
    Packetizer::new(config, &key()).expect("packetizer")
}

fn frame_bytes(len: usize, seed: u64) -> Vec<u8> {
    punktfunk_core::testsrc::pattern_bytes(seed, len)
}

fn input(data: &[u8], pts_us: u64) -> FrameInput<'_> {
    FrameInput {
        data,
        pts_us,
        keyframe: false,
        recovery_point: false,
    }
}

fn send(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline_send");
    for (name, len) in SIZES {
        let frame = frame_bytes(len, 1);
        let mut packetizer = packetizer();
        let mut batch = DatagramBatch::new();
        let mut pts = 0u64;
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                pts += 1;
                packetizer
                    .packetize(input(black_box(&frame), pts), &mut batch)
                    .expect("packetize")
            });
        });
    }
    group.finish();
}

/// One receiver: its opener, reassembler and the scratch buffer datagrams are opened in.
struct Receiver {
    opener: Opener,
    reassembler: Reassembler,
    scratch: Vec<u8>,
    now: Instant,
}

impl Receiver {
    fn new(key: &DirectionKey) -> Self {
        Receiver {
            opener: Opener::new(key, SESSION).expect("opener"),
            reassembler: Reassembler::new(ReassemblerConfig::default()),
            scratch: Vec::new(),
            now: Instant::now(),
        }
    }

    /// Receives one frame's batch minus the dropped datagrams; returns the frame if it came out.
    fn frame(&mut self, batch: &DatagramBatch) -> Option<Vec<u8>> {
        self.scratch.clear();
        self.scratch.extend_from_slice(batch.as_bytes());
        let chunks = self.scratch.chunks_exact_mut(batch.datagram_len());
        for (_, datagram) in chunks
            .enumerate()
            .filter(|(i, _)| i % DROP_EVERY != DROP_PHASE)
        {
            // Shards after a block's recovery are redundant, not errors; nothing else is expected.
            let _ = self
                .reassembler
                .receive(self.now, &mut self.opener, datagram);
        }
        let mut frame = None;
        while let Some(event) = self.reassembler.poll_event() {
            if let Event::Frame(f) = event {
                frame = Some(f.data);
            }
        }
        frame
    }
}

/// `count` consecutive frames of one packetizer, and their contents.
fn prepared(len: usize, count: usize) -> (Vec<DatagramBatch>, Vec<Vec<u8>>) {
    let mut packetizer = packetizer();
    let frames: Vec<Vec<u8>> = (0..count).map(|i| frame_bytes(len, i as u64 + 1)).collect();
    let batches = frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut batch = DatagramBatch::new();
            packetizer
                .packetize(input(f, i as u64), &mut batch)
                .expect("packetize");
            batch
        })
        .collect();
    (batches, frames)
}

fn receive(c: &mut Criterion) {
    let key = key();
    let mut group = c.benchmark_group("pipeline_receive");
    for (name, len) in SIZES {
        // About 3 MiB (1080p60) or 16 MiB (1gbps) of sealed datagrams per round.
        let count = if len < 100_000 { 64 } else { 12 };
        let (batches, frames) = prepared(len, count);

        // Outside the measurement: every frame of a round comes out whole despite the drops.
        let mut rx = Receiver::new(&key);
        for (batch, frame) in batches.iter().zip(&frames) {
            assert!(
                rx.frame(batch).as_ref() == Some(frame),
                "{name}: frame not recovered"
            );
        }
        assert!(
            rx.reassembler.take_loss_window().shards_recovered > 0,
            "{name}: no FEC exercised"
        );

        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut done = 0u64;
                let mut delivered = 0u64;
                while done < iters {
                    let mut rx = Receiver::new(&key);
                    black_box(rx.frame(&batches[0]));
                    let n = (iters - done).min(count as u64 - 1) as usize;
                    let start = Instant::now();
                    for batch in &batches[1..=n] {
                        delivered += u64::from(black_box(rx.frame(batch)).is_some());
                    }
                    timed += start.elapsed();
                    done += n as u64;
                }
                assert_eq!(
                    delivered, iters,
                    "{name}: frames lost during the measurement"
                );
                timed
            });
        });

        group.bench_function(BenchmarkId::new("copy_only", name), |b| {
            let mut scratch = Vec::new();
            let mut next = 0;
            b.iter(|| {
                next = (next + 1) % count;
                scratch.clear();
                scratch.extend_from_slice(black_box(batches[next].as_bytes()));
                black_box(scratch.len())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, send, receive);
criterion_main!(benches);
