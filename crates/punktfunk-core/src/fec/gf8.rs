//! Systematic Reed–Solomon over GF(2⁸) (polynomial 0x11D) with the Cauchy parity matrix GameStream
//! uses: the coefficient of data shard `i` in recovery shard `j` of a block with `m` recovery shards is
//! `1 / ((m + i) XOR j)`. Every square submatrix of a Cauchy matrix is invertible, so any `k` shards
//! rebuild the block. The slice arithmetic is [`super::gf8_kernel`]'s matrix multiply.
//!
//! The same encoder and solver also run with an explicit parity matrix ([`Gf8Matrix`]) for codes whose
//! coefficients a protocol fixes instead of deriving them (GameStream audio's RS(4,2)).

use super::gf8_kernel::{Coefficients, mul_matrix};
use super::{FecError, FecScheme, GF8_MAX_SHARDS, ReceivedBlock};
use reed_solomon_erasure::galois_8::{div, mul};

/// Parity matrices kept per encoder: a stream's blocks come in one or two shapes (a frame's blocks
/// differ by at most one data shard), and a few more cover a change of bitrate or FEC strength.
const CACHED_SHAPES: usize = 4;

#[derive(Default)]
pub(super) struct Gf8Cauchy {
    /// Scratch for the rebuilt shards before they are written into the block.
    scratch: Vec<u8>,
    /// Parity matrices of recent `(k, m)` block shapes, newest last.
    parity: Vec<((usize, usize), Coefficients)>,
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
        recovery: &mut [&mut [u8]],
        s: usize,
    ) -> Result<(), FecError> {
        let (k, m) = (data.len(), recovery.len());
        if k == 0 || m == 0 || k + m > GF8_MAX_SHARDS {
            return Err(unsupported(k, m, s));
        }
        mul_matrix(self.parity_matrix(k, m), data, recovery, false);
        Ok(())
    }

    fn parity_matrix(&mut self, k: usize, m: usize) -> &Coefficients {
        match self.parity.iter().position(|(shape, _)| *shape == (k, m)) {
            Some(at) => {
                let entry = self.parity.remove(at);
                self.parity.push(entry);
            }
            None => {
                if self.parity.len() == CACHED_SHAPES {
                    self.parity.remove(0);
                }
                let matrix = Coefficients::new(m, k, |j, i| coefficient(m, j, i));
                self.parity.push(((k, m), matrix));
            }
        }
        &self.parity.last().expect("just pushed").1
    }

    pub(super) fn reconstruct(
        &mut self,
        block: ReceivedBlock<'_>,
        k: usize,
        m: usize,
    ) -> Result<(), FecError> {
        if k + m > GF8_MAX_SHARDS {
            return Err(unsupported(k, m, block.shard_bytes));
        }
        reconstruct_with(|j, i| coefficient(m, j, i), &mut self.scratch, block, k, m)
    }
}

/// Solves for the missing data shards using as many present recovery shards as data is missing:
/// subtract the known data's contribution from each chosen recovery shard, then apply the inverse of
/// the small submatrix that links those recovery rows to the missing columns.
fn reconstruct_with(
    coeff: impl Fn(usize, usize) -> u8,
    scratch: &mut Vec<u8>,
    block: ReceivedBlock<'_>,
    k: usize,
    m: usize,
) -> Result<(), FecError> {
    let s = block.shard_bytes;
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
    scratch.clear();
    scratch.resize(e * s, 0);
    for (out, &j) in scratch.chunks_exact_mut(s).zip(&rows) {
        out.copy_from_slice(block.recovery_shard(j));
    }
    let known: Vec<usize> = (0..k).filter(|&i| block.data_present[i]).collect();
    let known_shards: Vec<&[u8]> = known.iter().map(|&i| block.data_shard(i)).collect();
    let mut syndromes: Vec<&mut [u8]> = scratch.chunks_exact_mut(s).collect();
    let contribution = Coefficients::new(e, known.len(), |r, c| coeff(rows[r], known[c]));
    mul_matrix(&contribution, &known_shards, &mut syndromes, true);

    let mut submatrix = Vec::with_capacity(e * e);
    for &j in &rows {
        submatrix.extend(missing.iter().map(|&i| coeff(j, i)));
    }
    let inverse = invert(&submatrix, e).ok_or(FecError::Backend(
        "singular parity submatrix (cannot happen for a Cauchy or MDS matrix)".into(),
    ))?;
    let syndromes: Vec<&[u8]> = scratch.chunks_exact(s).collect();
    let mut rebuilt: Vec<&mut [u8]> = block
        .data
        .chunks_exact_mut(s)
        .zip(block.data_present)
        .filter(|(_, present)| !**present)
        .map(|(shard, _)| shard)
        .collect();
    let inverse = Coefficients::new(e, e, |r, c| inverse[r * e + c]);
    mul_matrix(&inverse, &syndromes, &mut rebuilt, false);
    Ok(())
}

/// A systematic GF(2⁸) code whose `m × k` parity matrix is given row by row instead of derived.
///
/// Recovery inverts square submatrices of it, so it must be MDS (every square submatrix invertible)
/// for any `k` of the `k + m` shards to suffice; [`Gf8Matrix::new`] checks that once.
pub struct Gf8Matrix {
    k: usize,
    m: usize,
    parity: Coefficients,
    scratch: Vec<u8>,
}

impl Gf8Matrix {
    /// `rows` holds `m` rows of `k` coefficients (row `j` = the weights of recovery shard `j`).
    pub fn new(k: usize, m: usize, rows: &[u8]) -> Result<Self, FecError> {
        let geometry_ok = k > 0 && m > 0 && k + m <= GF8_MAX_SHARDS && rows.len() == k * m;
        if !geometry_ok || !every_square_submatrix_invertible(k, m, rows) {
            return Err(FecError::Geometry);
        }
        Ok(Gf8Matrix {
            k,
            m,
            parity: Coefficients::new(m, k, |j, i| rows[j * k + i]),
            scratch: Vec::new(),
        })
    }

    /// Computes the `m` recovery shards over exactly `k` data shards of `shard_bytes` each.
    pub fn encode(
        &self,
        data: &[&[u8]],
        recovery: &mut [u8],
        shard_bytes: usize,
    ) -> Result<(), FecError> {
        let s = shard_bytes;
        if s == 0
            || data.len() != self.k
            || recovery.len() != self.m * s
            || data.iter().any(|d| d.len() != s)
        {
            return Err(FecError::Geometry);
        }
        let mut outputs: Vec<&mut [u8]> = recovery.chunks_exact_mut(s).collect();
        mul_matrix(&self.parity, data, &mut outputs, false);
        Ok(())
    }

    /// Rebuilds every missing data shard of `block` in place; returns how many were rebuilt.
    pub fn reconstruct(&mut self, block: ReceivedBlock<'_>) -> Result<usize, FecError> {
        let (k, m) = block.check()?;
        if (k, m) != (self.k, self.m) {
            return Err(FecError::Geometry);
        }
        let missing = block.data_present.iter().filter(|p| !**p).count();
        if missing == 0 {
            return Ok(0);
        }
        let parity = &self.parity;
        reconstruct_with(|j, i| parity.get(j, i), &mut self.scratch, block, k, m)?;
        Ok(missing)
    }
}

/// Checks every square submatrix (any choice of rows and columns) for invertibility. Only called for
/// small fixed matrices: the number of submatrices grows exponentially with `k` and `m`.
fn every_square_submatrix_invertible(k: usize, m: usize, rows: &[u8]) -> bool {
    if k > 16 || m > 8 {
        return false;
    }
    let subsets =
        |n: usize| (1u32..(1 << n)).map(move |mask| (0..n).filter(move |b| mask & (1 << b) != 0));
    subsets(m).all(|rsel| {
        let rsel: Vec<usize> = rsel.collect();
        subsets(k)
            .map(|c| c.collect::<Vec<usize>>())
            .filter(|csel| csel.len() == rsel.len())
            .all(|csel| {
                let sub: Vec<u8> = rsel
                    .iter()
                    .flat_map(|&j| csel.iter().map(move |&i| rows[j * k + i]))
                    .collect();
                invert(&sub, rsel.len()).is_some()
            })
    })
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
