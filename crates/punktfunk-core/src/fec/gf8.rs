//! Systematic Reed–Solomon over GF(2⁸) (polynomial 0x11D) with the Cauchy parity matrix GameStream
//! uses: the coefficient of data shard `i` in recovery shard `j` of a block with `m` recovery shards is
//! `1 / ((m + i) XOR j)`. Every square submatrix of a Cauchy matrix is invertible, so any `k` shards
//! rebuild the block. The slice arithmetic is `reed-solomon-erasure`'s SIMD table multiply.

use super::{FecError, FecScheme, GF8_MAX_SHARDS, ReceivedBlock};
use reed_solomon_erasure::galois_8::{div, mul, mul_slice, mul_slice_xor};

#[derive(Default)]
pub(super) struct Gf8Cauchy {
    /// Scratch for the rebuilt shards before they are written into the block.
    scratch: Vec<u8>,
}

/// Parity coefficient of data column `i` in recovery row `j` for a block with `m` recovery shards.
pub(crate) fn coefficient(m: usize, j: usize, i: usize) -> u8 {
    div(1, ((m + i) ^ j) as u8)
}

fn unsupported(data: usize, recovery: usize, shard_bytes: usize) -> FecError {
    FecError::Unsupported {
        scheme: FecScheme::Gf8Cauchy,
        data,
        recovery,
        shard_bytes,
    }
}

impl Gf8Cauchy {
    pub(super) fn encode(
        &mut self,
        data: &[&[u8]],
        recovery: &mut [u8],
        s: usize,
    ) -> Result<(), FecError> {
        let (k, m) = (data.len(), recovery.len() / s);
        if k == 0 || m == 0 || k + m > GF8_MAX_SHARDS {
            return Err(unsupported(k, m, s));
        }
        for (j, out) in recovery.chunks_exact_mut(s).enumerate() {
            mul_slice(coefficient(m, j, 0), data[0], out);
            for (i, shard) in data.iter().enumerate().skip(1) {
                mul_slice_xor(coefficient(m, j, i), shard, out);
            }
        }
        Ok(())
    }

    /// Solves for the missing data shards using as many present recovery shards as data is missing:
    /// subtract the known data's contribution from each chosen recovery shard, then apply the inverse of
    /// the small Cauchy submatrix that links those recovery rows to the missing columns.
    pub(super) fn reconstruct(
        &mut self,
        block: ReceivedBlock<'_>,
        k: usize,
        m: usize,
    ) -> Result<(), FecError> {
        let s = block.shard_bytes;
        if k + m > GF8_MAX_SHARDS {
            return Err(unsupported(k, m, s));
        }
        let missing: Vec<usize> = (0..k).filter(|&i| !block.data_present[i]).collect();
        let rows: Vec<usize> = (0..m)
            .filter(|&j| block.recovery_present[j])
            .take(missing.len())
            .collect();
        let e = missing.len();
        if rows.len() < e {
            return Err(FecError::NotEnoughShards {
                have: k - e + rows.len(),
                need: k,
            });
        }

        // syndrome[r] = recovery[rows[r]] - Σ_{known i} c(rows[r], i) · data[i]
        self.scratch.clear();
        self.scratch.resize(e * s, 0);
        for (r, &j) in rows.iter().enumerate() {
            let out = &mut self.scratch[r * s..(r + 1) * s];
            out.copy_from_slice(block.recovery_shard(j));
            for i in (0..k).filter(|&i| block.data_present[i]) {
                mul_slice_xor(coefficient(m, j, i), block.data_shard(i), out);
            }
        }

        let inverse = invert(&cauchy_submatrix(m, &rows, &missing), e).ok_or(FecError::Backend(
            "singular Cauchy submatrix (cannot happen for valid blocks)".into(),
        ))?;
        for (r, &i) in missing.iter().enumerate() {
            let out = &mut block.data[i * s..(i + 1) * s];
            mul_slice(inverse[r * e], &self.scratch[..s], out);
            for c in 1..e {
                mul_slice_xor(inverse[r * e + c], &self.scratch[c * s..(c + 1) * s], out);
            }
        }
        Ok(())
    }
}

/// Row-major e×e matrix linking recovery rows `rows` to data columns `cols`.
fn cauchy_submatrix(m: usize, rows: &[usize], cols: &[usize]) -> Vec<u8> {
    rows.iter()
        .flat_map(|&j| cols.iter().map(move |&i| coefficient(m, j, i)))
        .collect()
}

/// Gauss–Jordan inverse of a row-major n×n matrix over GF(2⁸); `None` if singular.
fn invert(matrix: &[u8], n: usize) -> Option<Vec<u8>> {
    let mut a = matrix.to_vec();
    let mut inv = vec![0u8; n * n];
    for d in 0..n {
        inv[d * n + d] = 1;
    }
    for col in 0..n {
        let pivot = (col..n).find(|&r| a[r * n + col] != 0)?;
        if pivot != col {
            for c in 0..n {
                a.swap(pivot * n + c, col * n + c);
                inv.swap(pivot * n + c, col * n + c);
            }
        }
        let scale = div(1, a[col * n + col]);
        for c in 0..n {
            a[col * n + c] = mul(a[col * n + c], scale);
            inv[col * n + c] = mul(inv[col * n + c], scale);
        }
        for r in (0..n).filter(|&r| r != col) {
            let f = a[r * n + col];
            if f != 0 {
                for c in 0..n {
                    a[r * n + c] ^= mul(f, a[col * n + c]);
                    inv[r * n + c] ^= mul(f, inv[col * n + c]);
                }
            }
        }
    }
    Some(inv)
}
