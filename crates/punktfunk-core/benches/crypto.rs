//! AES-128-GCM seal and open of single data-plane datagrams.
//!
//! A datagram is 1452 bytes (fits a 1500-byte MTU over IPv6): 48-byte header (associated data),
//! 1388-byte payload, 16-byte tag. Throughput counts the 1388 payload bytes.
//!
//! `open` includes everything `Opener::open` does: header decode and validation, the replay check,
//! authentication and decryption. Each opened datagram needs a fresh sequence number and an intact
//! ciphertext, so it is sealed in criterion's (untimed) batch setup.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use punktfunk_core::crypto::{Opener, Sealer, SessionKeys, TAG_LEN};
use punktfunk_core::wire::{FecScheme, Flags, HEADER_LEN, PacketHeader, StreamKind};
use std::hint::black_box;

const DATAGRAM: usize = 1452;
const PAYLOAD: usize = DATAGRAM - HEADER_LEN - TAG_LEN;
const SESSION: u32 = 7;

/// A header that passes validation: a one-shard frame filling the whole payload.
fn header(seq: u64) -> PacketHeader {
    PacketHeader {
        kind: StreamKind::Video,
        flags: Flags::START_OF_FRAME | Flags::END_OF_FRAME,
        fec: FecScheme::None,
        shard_bytes: PAYLOAD as u16,
        session_id: SESSION,
        frame_index: 0,
        seq,
        pts_us: 0,
        frame_len: PAYLOAD as u32,
        block_index: 0,
        block_count: 1,
        data_shards: 1,
        recovery_shards: 0,
        shard_index: 0,
    }
}

/// Writes header `seq` and a payload pattern into `buf` and seals it.
fn sealed(sealer: &Sealer, seq: u64, buf: &mut [u8]) {
    header(seq).encode(buf);
    for (i, b) in buf[HEADER_LEN..DATAGRAM - TAG_LEN].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(seq as u8);
    }
    sealer.seal_in_place(buf).expect("seal");
}

fn crypto(c: &mut Criterion) {
    let keys = SessionKeys::derive(b"punktfunk bench secret, 32 bytes", SESSION).expect("keys");
    let key = keys.host_to_client;
    let mut group = c.benchmark_group("crypto");
    group.throughput(Throughput::Bytes(PAYLOAD as u64));

    group.bench_function("seal_1452", |b| {
        let sealer = Sealer::new(&key).expect("sealer");
        let mut buf = vec![0u8; DATAGRAM];
        sealed(&sealer, 0, &mut buf);
        // Re-sealing the same buffer costs exactly what sealing a fresh payload does.
        b.iter(|| sealer.seal_in_place(black_box(&mut buf)).expect("seal"));
    });

    group.bench_function("open_1452", |b| {
        let sealer = Sealer::new(&key).expect("sealer");
        let mut opener = Opener::new(&key, SESSION).expect("opener");
        // Sanity check outside the measurement: a sealed datagram opens to its payload.
        let mut probe = vec![0u8; DATAGRAM];
        sealed(&sealer, 0, &mut probe);
        let (h, payload) = opener.open(&mut probe).expect("open");
        assert_eq!((h.seq, payload.len()), (0, PAYLOAD));

        let mut seq = 1u64;
        b.iter_batched_ref(
            || {
                let mut buf = vec![0u8; DATAGRAM];
                sealed(&sealer, seq, &mut buf);
                seq += 1;
                buf
            },
            |buf| {
                let (_, payload) = opener.open(buf).expect("open");
                black_box(payload.len());
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, crypto);
criterion_main!(benches);
