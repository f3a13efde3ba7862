//! The one operation all GF(2⁸) coding reduces to — a small coefficient matrix times a set of shards,
//! `out[r] (⊕)= Σ_c coeff[r][c] · in[c]` — on the fastest instructions the CPU has.
//!
//! Multiplying a byte by a constant of GF(2⁸) is linear over GF(2), so it is an 8×8 bit matrix, and
//! GFNI's `gf2p8affineqb` applies such a matrix to every byte of a vector in one instruction, whatever
//! the field polynomial (the instruction's own multiply, `gf2p8mulb`, is fixed to AES's 0x11B; ours is
//! 0x11D). The vector kernels keep a tile of up to 16 output rows in registers while they stream every
//! input once per tile, so the cost is one load per input vector and one affine + XOR per coefficient — about
//! six times less than the table multiply of `reed-solomon-erasure`, which loads and stores its
//! accumulator for every coefficient (`cargo bench -p punktfunk-core --bench fec`).
//!
//! The kernel is chosen at run time: AVX-512 + GFNI, then AVX2 + GFNI, then the portable table
//! multiply. [`Gf8Kernel::detect`] says which and why, for the host's start-up log.
// Needs `unsafe` for SIMD intrinsics (GFNI/AVX2/SSSE3 behind run-time feature checks); every block says why it is sound (`// SAFETY:`).
#![allow(unsafe_code)]

use reed_solomon_erasure::galois_8::{mul_slice, mul_slice_xor};

/// How [`mul_matrix`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gf8Kernel {
    /// 64-byte vectors, `vgf2p8affineqb` on zmm registers.
    Avx512Gfni,
    /// 32-byte vectors, `vgf2p8affineqb` on ymm registers.
    Avx2Gfni,
    /// `reed-solomon-erasure`'s SIMD table multiply, one coefficient at a time.
    Table,
}

impl Gf8Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let gfni = std::arch::is_x86_feature_detected!("gfni");
            if gfni
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
            {
                return Gf8Kernel::Avx512Gfni;
            }
            if gfni && std::arch::is_x86_feature_detected!("avx2") {
                return Gf8Kernel::Avx2Gfni;
            }
        }
        Gf8Kernel::Table
    }

    /// Every kernel this CPU can run (tests compare them against each other).
    pub fn available() -> Vec<Self> {
        let best = Self::detect();
        let all = [Gf8Kernel::Avx512Gfni, Gf8Kernel::Avx2Gfni, Gf8Kernel::Table];
        let from = all.iter().position(|k| *k == best).unwrap_or(all.len() - 1);
        all[from..].to_vec()
    }

    /// One line for logs: which kernel and why.
    pub fn describe(self) -> &'static str {
        match self {
            Gf8Kernel::Avx512Gfni => {
                "GF(2⁸) FEC on AVX-512 + GFNI (CPU has avx512f, avx512bw, gfni)"
            }
            Gf8Kernel::Avx2Gfni => "GF(2⁸) FEC on AVX2 + GFNI (CPU has gfni and avx2, no AVX-512)",
            Gf8Kernel::Table => "GF(2⁸) FEC on lookup tables (CPU has no GFNI)",
        }
    }
}

/// The kernel [`mul_matrix`] uses, detected once.
pub fn active_kernel() -> Gf8Kernel {
    static KERNEL: std::sync::OnceLock<Gf8Kernel> = std::sync::OnceLock::new();
    *KERNEL.get_or_init(Gf8Kernel::detect)
}

/// A `rows × cols` coefficient matrix, prepared once for every kernel: the coefficients as bytes for
/// the table multiply and as bit matrices, tile by tile, for the vector kernels. Building it costs
/// about as much as a quarter of the multiply it serves, so encoders keep theirs between blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coefficients {
    rows: usize,
    cols: usize,
    /// Row-major.
    bytes: Vec<u8>,
    /// Column-major (`affine[c · rows + r]`), so a tile of consecutive rows finds each input's
    /// matrices side by side.
    affine: Vec<u64>,
}

impl Coefficients {
    /// The matrix whose entry in row `r`, column `c` is `coeff(r, c)`.
    pub fn new(rows: usize, cols: usize, coeff: impl Fn(usize, usize) -> u8) -> Self {
        let bytes: Vec<u8> = (0..rows)
            .flat_map(|r| (0..cols).map(move |c| (r, c)))
            .map(|(r, c)| coeff(r, c))
            .collect();
        let mut affine = vec![0u64; rows * cols];
        for (r, row) in bytes.chunks_exact(cols.max(1)).enumerate().take(rows) {
            for (c, &b) in row.iter().enumerate() {
                affine[c * rows + r] = AFFINE[usize::from(b)];
            }
        }
        Coefficients {
            rows,
            cols,
            bytes,
            affine,
        }
    }

    /// The coefficient in row `r`, column `c`.
    pub fn get(&self, r: usize, c: usize) -> u8 {
        self.bytes[r * self.cols + c]
    }
}

/// `outputs[r] = Σ_c coeffs(r, c) · inputs[c]` over GF(2⁸) (polynomial 0x11D), or `outputs[r] ⊕= …`
/// when `accumulate` is set. Every input and output must have the same length.
pub fn mul_matrix(
    coeffs: &Coefficients,
    inputs: &[&[u8]],
    outputs: &mut [&mut [u8]],
    accumulate: bool,
) {
    mul_matrix_with(active_kernel(), coeffs, inputs, outputs, accumulate);
}

/// [`mul_matrix`] on a chosen kernel, which must be one of [`Gf8Kernel::available`].
pub fn mul_matrix_with(
    kernel: Gf8Kernel,
    coeffs: &Coefficients,
    inputs: &[&[u8]],
    outputs: &mut [&mut [u8]],
    accumulate: bool,
) {
    assert!(
        coeffs.cols == inputs.len() && coeffs.rows == outputs.len(),
        "coefficient matrix shape"
    );
    let Some(len) = outputs.first().map(|o| o.len()) else {
        return;
    };
    assert!(
        inputs.iter().all(|i| i.len() == len) && outputs.iter().all(|o| o.len() == len),
        "shards of different lengths"
    );
    if inputs.is_empty() {
        if !accumulate {
            outputs.iter_mut().for_each(|o| o.fill(0));
        }
        return;
    }
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Gf8Kernel::Avx512Gfni | Gf8Kernel::Avx2Gfni => {
            // The usual caller passes the detected kernel: only another one needs the check (and
            // its allocation), which keeps this off the per-block path.
            assert!(
                kernel == active_kernel() || Gf8Kernel::available().contains(&kernel),
                "{kernel:?} is not supported by this CPU"
            );
            x86::mul_matrix(kernel, coeffs, inputs, outputs, accumulate, len);
        }
        _ => table_mul_matrix(coeffs, inputs, outputs, accumulate),
    }
}

fn table_mul_matrix(
    coeffs: &Coefficients,
    inputs: &[&[u8]],
    outputs: &mut [&mut [u8]],
    accumulate: bool,
) {
    for (r, out) in outputs.iter_mut().enumerate() {
        for (c, input) in inputs.iter().enumerate() {
            let coeff = coeffs.get(r, c);
            if c == 0 && !accumulate {
                mul_slice(coeff, input, out);
            } else {
                mul_slice_xor(coeff, input, out);
            }
        }
    }
}

/// `a · b` in GF(2⁸) with polynomial 0x11D (shift-and-add; only used to build [`AFFINE`]).
const fn slow_mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            product ^= a;
        }
        let carry = a & 0x80 != 0;
        a <<= 1;
        if carry {
            a ^= 0x1D;
        }
        b >>= 1;
    }
    product
}

/// `AFFINE[c]` is multiplication by `c` as the 8×8 bit matrix `gf2p8affineqb` takes: byte `7 − i` of
/// the quadword selects the input bits whose images under `x ↦ c·x` have bit `i` set.
const AFFINE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut c = 0;
    while c < 256 {
        let mut q = 0u64;
        let mut i = 0;
        while i < 8 {
            let mut row = 0u64;
            let mut j = 0;
            while j < 8 {
                if (slow_mul(c as u8, 1 << j) >> i) & 1 != 0 {
                    row |= 1 << j;
                }
                j += 1;
            }
            q |= row << (8 * (7 - i));
            i += 1;
        }
        table[c] = q;
        c += 1;
    }
    table
};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Coefficients, Gf8Kernel};
    use std::arch::x86_64::*;

    /// Runs the vector kernel tile by tile: whole vectors straight from the shards, then the last
    /// partial vector through zero-padded copies on the stack.
    pub(super) fn mul_matrix(
        kernel: Gf8Kernel,
        coeffs: &Coefficients,
        inputs: &[&[u8]],
        outputs: &mut [&mut [u8]],
        accumulate: bool,
        len: usize,
    ) {
        // Vector width, and the most accumulators that stay in registers (32 zmm / 16 ymm).
        let (width, max_tile) = match kernel {
            Gf8Kernel::Avx512Gfni => (64, 16),
            _ => (32, 8),
        };
        // Equal tiles: a tile's inputs are loaded once for all its rows, so 25 rows go as 13 + 12
        // rather than 16 + 9.
        let rows = outputs.len();
        let tile_rows = rows.div_ceil(rows.div_ceil(max_tile));
        let whole = len - len % width;
        let tail_in: Vec<[u8; 64]> = if whole < len {
            inputs
                .iter()
                .map(|input| {
                    let mut buf = [0u8; 64];
                    buf[..len - whole].copy_from_slice(&input[whole..]);
                    buf
                })
                .collect()
        } else {
            Vec::new()
        };
        let tail_refs: Vec<&[u8]> = tail_in.iter().map(|b| &b[..width]).collect();

        for (t, rows) in outputs.chunks_mut(tile_rows).enumerate() {
            let mats = Matrices {
                all: &coeffs.affine,
                stride: coeffs.rows,
                first_row: t * tile_rows,
            };
            tile(kernel, mats, inputs, rows, 0, whole, accumulate);
            if whole < len {
                let mut tail_out = [[0u8; 64]; 16];
                for (buf, out) in tail_out.iter_mut().zip(rows.iter()) {
                    buf[..len - whole].copy_from_slice(&out[whole..]);
                }
                let mut tail_rows: Vec<&mut [u8]> = tail_out[..rows.len()]
                    .iter_mut()
                    .map(|b| &mut b[..width])
                    .collect();
                tile(
                    kernel,
                    mats,
                    &tail_refs,
                    &mut tail_rows,
                    0,
                    width,
                    accumulate,
                );
                for (buf, out) in tail_out.iter().zip(rows.iter_mut()) {
                    out[whole..].copy_from_slice(&buf[..len - whole]);
                }
            }
        }
    }

    /// The bit matrices of a tile: row `first_row + r`, input `c` at `all[c · stride + first_row + r]`.
    #[derive(Clone, Copy)]
    struct Matrices<'a> {
        all: &'a [u64],
        stride: usize,
        first_row: usize,
    }

    /// One tile of up to 16 rows over bytes `from..to` (a whole number of vectors).
    fn tile(
        kernel: Gf8Kernel,
        mats: Matrices<'_>,
        inputs: &[&[u8]],
        rows: &mut [&mut [u8]],
        from: usize,
        to: usize,
        accumulate: bool,
    ) {
        macro_rules! dispatch {
            ($f:ident) => {
                // SAFETY: `mul_matrix_with` only passes a vector kernel that `Gf8Kernel::available`
                // lists, i.e. whose CPU features were detected at run time.
                unsafe {
                    match rows.len() {
                        16 => $f::<16>(mats, inputs, rows, from, to, accumulate),
                        15 => $f::<15>(mats, inputs, rows, from, to, accumulate),
                        14 => $f::<14>(mats, inputs, rows, from, to, accumulate),
                        13 => $f::<13>(mats, inputs, rows, from, to, accumulate),
                        12 => $f::<12>(mats, inputs, rows, from, to, accumulate),
                        11 => $f::<11>(mats, inputs, rows, from, to, accumulate),
                        10 => $f::<10>(mats, inputs, rows, from, to, accumulate),
                        9 => $f::<9>(mats, inputs, rows, from, to, accumulate),
                        8 => $f::<8>(mats, inputs, rows, from, to, accumulate),
                        7 => $f::<7>(mats, inputs, rows, from, to, accumulate),
                        6 => $f::<6>(mats, inputs, rows, from, to, accumulate),
                        5 => $f::<5>(mats, inputs, rows, from, to, accumulate),
                        4 => $f::<4>(mats, inputs, rows, from, to, accumulate),
                        3 => $f::<3>(mats, inputs, rows, from, to, accumulate),
                        2 => $f::<2>(mats, inputs, rows, from, to, accumulate),
                        _ => $f::<1>(mats, inputs, rows, from, to, accumulate),
                    }
                }
            };
        }
        match kernel {
            Gf8Kernel::Avx512Gfni => dispatch!(tile_avx512),
            _ => dispatch!(tile_avx2),
        }
    }

    /// Writes one vector kernel: `$vec` registers of `$width` bytes, `T` accumulators per tile.
    macro_rules! gfni_tile {
        ($name:ident, $features:literal, $vec:ty, $width:literal,
         $zero:ident, $load:ident, $store:ident, $xor:ident, $affine:ident, $splat:ident) => {
            /// Every input and output is at least `to` bytes long and `to - from` is a multiple of
            /// the vector width; `mats` covers `T` rows of every input.
            #[target_feature(enable = $features)]
            fn $name<const T: usize>(
                mats: Matrices<'_>,
                inputs: &[&[u8]],
                rows: &mut [&mut [u8]],
                from: usize,
                to: usize,
                accumulate: bool,
            ) {
                assert!(rows.len() == T);
                let last = inputs.len().saturating_sub(1) * mats.stride + mats.first_row + T;
                assert!(mats.all.len() >= last);
                assert!((to - from) % $width == 0);
                assert!(inputs.iter().all(|i| i.len() >= to) && rows.iter().all(|r| r.len() >= to));
                let mut at = from;
                while at < to {
                    let mut acc = [$zero(); T];
                    if accumulate {
                        for (a, row) in acc.iter_mut().zip(rows.iter()) {
                            // SAFETY: `at + width <= to <= row.len()` (asserted above); unaligned
                            // loads are allowed.
                            *a = unsafe { $load(row.as_ptr().add(at).cast()) };
                        }
                    }
                    for (c, input) in inputs.iter().enumerate() {
                        // SAFETY: as above, `at + width <= to <= input.len()`.
                        let x = unsafe { $load(input.as_ptr().add(at).cast()) };
                        let column = &mats.all[c * mats.stride + mats.first_row..][..T];
                        for (a, &m) in acc.iter_mut().zip(column) {
                            let m = $splat(m as i64);
                            *a = $xor(*a, $affine::<0>(x, m));
                        }
                    }
                    for (a, row) in acc.iter().zip(rows.iter_mut()) {
                        // SAFETY: `at + width <= to <= row.len()`; unaligned stores are allowed.
                        unsafe { $store(row.as_mut_ptr().add(at).cast(), *a) };
                    }
                    at += $width;
                }
            }
        };
    }

    gfni_tile!(
        tile_avx512,
        "avx512f,avx512bw,gfni",
        __m512i,
        64,
        _mm512_setzero_si512,
        _mm512_loadu_si512,
        _mm512_storeu_si512,
        _mm512_xor_si512,
        _mm512_gf2p8affine_epi64_epi8,
        _mm512_set1_epi64
    );
    gfni_tile!(
        tile_avx2,
        "avx2,gfni",
        __m256i,
        32,
        _mm256_setzero_si256,
        _mm256_loadu_si256,
        _mm256_storeu_si256,
        _mm256_xor_si256,
        _mm256_gf2p8affine_epi64_epi8,
        _mm256_set1_epi64x
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, one byte at a time.
    fn reference(
        coeffs: &Coefficients,
        inputs: &[Vec<u8>],
        outputs: &mut [Vec<u8>],
        accumulate: bool,
    ) {
        for (r, out) in outputs.iter_mut().enumerate() {
            for (b, byte) in out.iter_mut().enumerate() {
                let sum = inputs.iter().enumerate().fold(0u8, |s, (c, input)| {
                    s ^ slow_mul(coeffs.get(r, c), input[b])
                });
                *byte = if accumulate { *byte ^ sum } else { sum };
            }
        }
    }

    #[test]
    fn affine_matrices_multiply_like_the_field() {
        // The table kernel (reed-solomon-erasure, 0x11D) and the shift-and-add agree.
        for a in 0..=255u8 {
            for b in [0u8, 1, 2, 3, 0x1D, 0x80, 0xFF, a] {
                assert_eq!(slow_mul(a, b), reed_solomon_erasure::galois_8::mul(a, b));
            }
        }
        assert_eq!(AFFINE[1], 0x0102_0408_1020_4080, "identity matrix");
        assert_eq!(AFFINE[0], 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn every_kernel_matches_the_definition(
            rows in 1usize..20,
            cols in 1usize..40,
            len in 1usize..300,
            accumulate in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let mut rng = seed | 1;
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng as u8
            };
            let bytes: Vec<u8> = (0..rows * cols).map(|_| next()).collect();
            let coeffs = Coefficients::new(rows, cols, |r, c| bytes[r * cols + c]);
            let inputs: Vec<Vec<u8>> = (0..cols).map(|_| (0..len).map(|_| next()).collect()).collect();
            let start: Vec<Vec<u8>> = (0..rows).map(|_| (0..len).map(|_| next()).collect()).collect();
            let mut want = start.clone();
            reference(&coeffs, &inputs, &mut want, accumulate);
            let refs: Vec<&[u8]> = inputs.iter().map(|v| v.as_slice()).collect();
            for kernel in Gf8Kernel::available() {
                let mut got = start.clone();
                let mut outs: Vec<&mut [u8]> = got.iter_mut().map(|v| v.as_mut_slice()).collect();
                mul_matrix_with(kernel, &coeffs, &refs, &mut outs, accumulate);
                prop_assert_eq!(&got, &want, "{:?}", kernel);
            }
        }
    }

    #[test]
    fn no_inputs_clears_or_keeps() {
        let mut a = vec![5u8; 10];
        let none = Coefficients::new(1, 0, |_, _| 0);
        mul_matrix(&none, &[], &mut [a.as_mut_slice()], true);
        assert_eq!(a, vec![5u8; 10]);
        mul_matrix(&none, &[], &mut [a.as_mut_slice()], false);
        assert_eq!(a, vec![0u8; 10]);
    }
}
