//! Forward error correction behind one interface: GF(2⁸) Cauchy Reed–Solomon for small blocks and
//! Leopard GF(2¹⁶) Reed–Solomon for large ones. Both are systematic: data shards go out unchanged and
//! any `k` of a block's `k + m` shards rebuild its data.
//!
//! Which scheme a block uses is decided by [`choose_scheme`] from the block's size, using the crossover
//! measured by `cargo bench -p punktfunk-core --bench fec` (see `docs/performance.md`).

mod gf8;
pub mod gf8_kernel;
mod leopard;

pub use crate::wire::FecScheme;
use gf8::Gf8Cauchy;
pub use gf8::Gf8Matrix;
use leopard::Leopard;

/// Largest block (data + recovery shards) the GF(2⁸) code supports.
pub const GF8_MAX_SHARDS: usize = 255;

/// Why a block could not be encoded or rebuilt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FecError {
    #[error(
        "{scheme:?} does not support {data} data + {recovery} recovery shards of {shard_bytes} bytes"
    )]
    /// The scheme cannot code a block of this shape (too many shards, odd shard size for Leopard, …).
    Unsupported {
        /// The scheme asked for.
        scheme: FecScheme,
        /// Data shards (`k`) of the block.
        data: usize,
        /// Recovery shards (`m`) of the block.
        recovery: usize,
        /// Bytes per shard.
        shard_bytes: usize,
    },
    /// Too few shards of the block arrived to rebuild its data.
    #[error("block has {have} shards but needs {need} to recover")]
    NotEnoughShards {
        /// Shards of the block that arrived.
        have: usize,
        /// Shards needed: the block's data shard count `k`.
        need: usize,
    },
    /// Buffer lengths disagree with `k`, `m` and the shard size.
    #[error("shard buffers do not match the block geometry")]
    Geometry,
    /// The Reed–Solomon library reported an error; carries its message.
    #[error("FEC backend failed: {0}")]
    Backend(String),
}

/// Picks the scheme for a block of `data` + `recovery` shards.
///
/// GF(2⁸) Cauchy costs O(k·m) per byte to encode and O(k·lost) to recover with no fixed overhead;
/// Leopard costs O(log n) per byte but every recovery pays a fixed ~0.1 ms transform. Below the
/// crossover (`gf8_max_data` data shards, default from the benchmarks) GF(2⁸) is faster end to end.
pub fn choose_scheme(data: usize, recovery: usize, gf8_max_data: usize) -> FecScheme {
    if recovery == 0 {
        FecScheme::None
    } else if data <= gf8_max_data && data + recovery <= GF8_MAX_SHARDS {
        FecScheme::Gf8Cauchy
    } else {
        FecScheme::Gf16Leopard
    }
}

/// Reusable encoder state for both schemes (allocations are kept between blocks).
#[derive(Default)]
pub struct FecEncoder {
    gf8: Gf8Cauchy,
    leopard: Leopard,
}

impl FecEncoder {
    /// An encoder with empty scratch space (it grows on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// Computes `recovery.len() / shard_bytes` recovery shards over `data` (each `shard_bytes` long)
    /// into the contiguous `recovery` buffer.
    pub fn encode(
        &mut self,
        scheme: FecScheme,
        data: &[&[u8]],
        recovery: &mut [u8],
        shard_bytes: usize,
    ) -> Result<(), FecError> {
        if shard_bytes == 0 || !recovery.len().is_multiple_of(shard_bytes) {
            return Err(FecError::Geometry);
        }
        let mut shards: Vec<&mut [u8]> = recovery.chunks_exact_mut(shard_bytes).collect();
        self.encode_into(scheme, data, &mut shards)
    }

    /// Computes one recovery shard per element of `recovery` (wherever those live, e.g. inside the
    /// datagrams that will carry them) over `data`; every shard has the same non-zero length.
    pub fn encode_into(
        &mut self,
        scheme: FecScheme,
        data: &[&[u8]],
        recovery: &mut [&mut [u8]],
    ) -> Result<(), FecError> {
        let shard_bytes = data.first().map_or(0, |d| d.len());
        if shard_bytes == 0
            || data.iter().any(|d| d.len() != shard_bytes)
            || recovery.iter().any(|r| r.len() != shard_bytes)
        {
            return Err(FecError::Geometry);
        }
        match scheme {
            FecScheme::None if recovery.is_empty() => Ok(()),
            FecScheme::None => Err(FecError::Geometry),
            FecScheme::Gf8Cauchy => self.gf8.encode(data, recovery, shard_bytes),
            FecScheme::Gf16Leopard => self.leopard.encode(data, recovery, shard_bytes),
        }
    }
}

/// A block as the receiver holds it: data shards in place (missing ones to be filled), recovery
/// shards contiguous, and which of each arrived.
pub struct ReceivedBlock<'a> {
    /// Bytes per shard (the same for data and recovery shards).
    pub shard_bytes: usize,
    /// `k * shard_bytes` bytes; missing shards are overwritten with their rebuilt contents.
    pub data: &'a mut [u8],
    /// Which of the `k` data shards arrived (`k` entries).
    pub data_present: &'a [bool],
    /// `m * shard_bytes` bytes; only the present shards are read.
    pub recovery: &'a [u8],
    /// Which of the `m` recovery shards arrived (`m` entries).
    pub recovery_present: &'a [bool],
}

impl ReceivedBlock<'_> {
    fn check(&self) -> Result<(usize, usize), FecError> {
        let s = self.shard_bytes;
        let (k, m) = (self.data_present.len(), self.recovery_present.len());
        if s == 0 || k == 0 || self.data.len() != k * s || self.recovery.len() != m * s {
            return Err(FecError::Geometry);
        }
        let have = self
            .data_present
            .iter()
            .chain(self.recovery_present)
            .filter(|p| **p)
            .count();
        if have < k {
            return Err(FecError::NotEnoughShards { have, need: k });
        }
        Ok((k, m))
    }

    fn data_shard(&self, i: usize) -> &[u8] {
        &self.data[i * self.shard_bytes..(i + 1) * self.shard_bytes]
    }

    fn recovery_shard(&self, j: usize) -> &[u8] {
        &self.recovery[j * self.shard_bytes..(j + 1) * self.shard_bytes]
    }
}

/// Reusable decoder state for both schemes.
#[derive(Default)]
pub struct FecDecoder {
    gf8: Gf8Cauchy,
    leopard: Leopard,
}

impl FecDecoder {
    /// A decoder with empty scratch space (it grows on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds every missing data shard of `block` in place; returns how many were rebuilt.
    pub fn reconstruct(
        &mut self,
        scheme: FecScheme,
        block: ReceivedBlock<'_>,
    ) -> Result<usize, FecError> {
        let (k, m) = block.check()?;
        let missing = block.data_present.iter().filter(|p| !**p).count();
        if missing == 0 {
            return Ok(0);
        }
        match scheme {
            FecScheme::None => Err(FecError::NotEnoughShards {
                have: k - missing,
                need: k,
            }),
            FecScheme::Gf8Cauchy => self.gf8.reconstruct(block, k, m).map(|()| missing),
            FecScheme::Gf16Leopard => self.leopard.reconstruct(block, k, m).map(|()| missing),
        }
    }
}

#[cfg(test)]
mod tests;
