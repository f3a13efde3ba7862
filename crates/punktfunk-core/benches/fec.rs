//! FEC encode and recover, GF(2⁸) Cauchy against Leopard GF(2¹⁶), across block sizes.
//!
//! Blocks have `k` data shards of 1388 bytes (a 1452-byte datagram's payload) and 20 % parity
//! (`m = ceil(k / 5)`, at least 2). Recovery is measured with 5 % of the data shards lost (at least
//! one) and with `m` data shards lost (the most a block survives). Throughput counts the block's
//! `k × 1388` data bytes in every case, so encode and recover figures of one `k` add up per frame.
//!
//! The crossover of these curves is what `FecConfig::gf8_max_data` should be (docs/performance.md).
//!
//! `gf8_kernel` runs the GF(2⁸) encode's matrix multiply on every kernel this CPU has (AVX-512 +
//! GFNI, AVX2 + GFNI, the table multiply), which is what the kernel-dependent defaults rest on.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use punktfunk_core::fec::gf8_kernel::{Coefficients, Gf8Kernel, mul_matrix_with};
use punktfunk_core::fec::{FecDecoder, FecEncoder, FecScheme, GF8_MAX_SHARDS, ReceivedBlock};
use std::hint::black_box;

const SHARD: usize = 1388;
const BLOCK_SIZES: [usize; 6] = [8, 16, 32, 64, 128, 200];
const SCHEMES: [(FecScheme, &str); 2] = [
    (FecScheme::Gf8Cauchy, "gf8"),
    (FecScheme::Gf16Leopard, "gf16"),
];

/// Recovery shards for `k` data shards: 20 %, rounded up, at least 2.
fn parity(k: usize) -> usize {
    (k * 20).div_ceil(100).max(2)
}

/// Whether `scheme` can carry a block of `k` data + `m` recovery shards.
fn supported(scheme: FecScheme, k: usize, m: usize) -> bool {
    scheme != FecScheme::Gf8Cauchy || k + m <= GF8_MAX_SHARDS
}

/// Deterministic, incompressible shard contents.
fn shard_data(k: usize) -> Vec<u8> {
    punktfunk_core::testsrc::pattern_bytes(1, k * SHARD)
}

fn encoded(scheme: FecScheme, data: &[u8], m: usize) -> Vec<u8> {
    let shards: Vec<&[u8]> = data.chunks_exact(SHARD).collect();
    let mut recovery = vec![0u8; m * SHARD];
    FecEncoder::new()
        .encode(scheme, &shards, &mut recovery, SHARD)
        .expect("encode");
    recovery
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("fec_encode");
    for k in BLOCK_SIZES {
        let m = parity(k);
        let data = shard_data(k);
        let shards: Vec<&[u8]> = data.chunks_exact(SHARD).collect();
        group.throughput(Throughput::Bytes((k * SHARD) as u64));
        for (scheme, name) in SCHEMES.into_iter().filter(|(s, _)| supported(*s, k, m)) {
            let mut encoder = FecEncoder::new();
            let mut recovery = vec![0u8; m * SHARD];
            group.bench_function(BenchmarkId::new(name, k), |b| {
                b.iter(|| {
                    encoder
                        .encode(scheme, black_box(&shards), &mut recovery, SHARD)
                        .expect("encode")
                });
            });
        }
    }
    group.finish();
}

/// The encode's `m × k` multiply alone, on each kernel (the Cauchy coefficients of the real code).
fn kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("gf8_kernel");
    for k in BLOCK_SIZES {
        let m = parity(k);
        let data = shard_data(k);
        let shards: Vec<&[u8]> = data.chunks_exact(SHARD).collect();
        let coefficients = Coefficients::new(m, k, |j, i| {
            reed_solomon_erasure::galois_8::div(1, ((m + i) ^ j) as u8)
        });
        group.throughput(Throughput::Bytes((k * SHARD) as u64));
        for kernel in Gf8Kernel::available() {
            let mut recovery = vec![0u8; m * SHARD];
            let name = format!("{kernel:?}").to_lowercase();
            group.bench_function(BenchmarkId::new(name, k), |b| {
                b.iter(|| {
                    let mut outputs: Vec<&mut [u8]> = recovery.chunks_exact_mut(SHARD).collect();
                    mul_matrix_with(
                        kernel,
                        &coefficients,
                        black_box(&shards),
                        &mut outputs,
                        false,
                    );
                });
            });
        }
    }
    group.finish();
}

/// `lost` data shards spread evenly over the block.
fn lost_pattern(k: usize, lost: usize) -> Vec<bool> {
    let mut present = vec![true; k];
    for i in 0..lost {
        present[i * k / lost] = false;
    }
    present
}

fn recover_with(c: &mut Criterion, group_name: &str, lost_for: fn(usize, usize) -> usize) {
    let mut group = c.benchmark_group(group_name);
    for k in BLOCK_SIZES {
        let m = parity(k);
        let lost = lost_for(k, m);
        let original = shard_data(k);
        let data_present = lost_pattern(k, lost);
        let recovery_present = vec![true; m];
        group.throughput(Throughput::Bytes((k * SHARD) as u64));
        for (scheme, name) in SCHEMES.into_iter().filter(|(s, _)| supported(*s, k, m)) {
            let recovery = encoded(scheme, &original, m);
            let mut data = original.clone();
            for (i, _) in data_present.iter().enumerate().filter(|(_, p)| !**p) {
                data[i * SHARD..(i + 1) * SHARD].fill(0);
            }
            let mut decoder = FecDecoder::new();
            let mut rebuild = |data: &mut [u8]| {
                let block = ReceivedBlock {
                    shard_bytes: SHARD,
                    data,
                    data_present: &data_present,
                    recovery: &recovery,
                    recovery_present: &recovery_present,
                };
                decoder.reconstruct(scheme, block).expect("reconstruct")
            };
            // Checked once outside the measurement; later rounds rewrite the same shards in place,
            // which costs exactly the same.
            assert_eq!(rebuild(&mut data), lost);
            assert!(data == original, "{name} k={k} lost={lost}: wrong data");
            group.bench_function(BenchmarkId::new(name, k), |b| {
                b.iter(|| rebuild(black_box(&mut data)));
            });
        }
    }
    group.finish();
}

fn recover_5pct(c: &mut Criterion) {
    recover_with(c, "fec_recover_5pct", |k, _| (k * 5).div_ceil(100).max(1));
}

fn recover_m(c: &mut Criterion) {
    recover_with(c, "fec_recover_m", |_, m| m);
}

criterion_group!(benches, encode, recover_5pct, recover_m, kernels);
criterion_main!(benches);
