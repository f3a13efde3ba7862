//! GameStream's forward error correction: how a video frame is cut into FEC blocks (block count, data
//! and parity shards per block, the `fecInfo` word every datagram carries) and the two parity codes —
//! Moonlight's Cauchy matrix for video and the fixed RS(4,2) matrix for audio. The GF(2⁸) arithmetic
//! is [`crate::fec`]'s; this file only adds GameStream's geometry and coefficients.

use crate::fec::{FecEncoder, FecError, FecScheme, Gf8Matrix, ReceivedBlock};

/// A frame is sent in at most this many FEC blocks (the block index fields are 2 bits wide).
pub const MAX_BLOCKS: usize = 4;
/// Data + parity shards of one block: the GF(2⁸) code's limit.
pub const MAX_BLOCK_SHARDS: usize = 255;
/// Largest shard index and data-shard count the 10-bit `fecInfo` fields can carry.
pub const MAX_SHARD_INDEX: usize = 0x3FF;
/// FEC percentage hosts use unless configured otherwise.
pub const DEFAULT_FEC_PERCENT: u8 = 20;

/// Audio FEC: every 4 data packets are followed by 2 parity packets.
pub const AUDIO_DATA_SHARDS: usize = 4;
/// Parity packets after every [`AUDIO_DATA_SHARDS`] audio data packets.
pub const AUDIO_PARITY_SHARDS: usize = 2;
/// The audio code's parity matrix, row by row. It is not the Cauchy matrix video uses: Moonlight and
/// Sunshine both hard-code these rows because that is what NVIDIA's host sent.
pub const AUDIO_PARITY_MATRIX: [u8; AUDIO_DATA_SHARDS * AUDIO_PARITY_SHARDS] =
    [0x77, 0x40, 0x38, 0x0e, 0xc7, 0xa7, 0x0d, 0x6c];

/// Why GameStream FEC could not plan or code a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GsFecError {
    /// A frame too large for four blocks of at most 1023 data shards.
    #[error("frame needs {shards} data shards per block, more than the 10-bit shard index allows")]
    FrameTooLarge {
        /// Data shards one block would need (at most 1023 fit the 10-bit index).
        shards: usize,
    },
    /// The underlying Reed–Solomon code failed.
    #[error(transparent)]
    Fec(#[from] FecError),
}

/// The `fecInfo` word of a video datagram (LE32 at offset 28): data shards in the block (bits 22–31),
/// this shard's index in the block (bits 12–21) and the FEC percentage (bits 4–11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FecInfo {
    /// Data shards in the block, 10 bits.
    pub data_shards: u16,
    /// This shard's index in the block (data first, then parity), 10 bits.
    pub shard_index: u16,
    /// Parity percentage the client derives the parity count from, 8 bits.
    pub fec_percent: u8,
}

impl FecInfo {
    /// The LE32 `fecInfo` word with the three fields packed.
    pub fn encode(self) -> u32 {
        let mask = MAX_SHARD_INDEX as u32;
        ((u32::from(self.data_shards) & mask) << 22)
            | ((u32::from(self.shard_index) & mask) << 12)
            | (u32::from(self.fec_percent) << 4)
    }

    /// Unpacks a `fecInfo` word.
    pub fn decode(word: u32) -> Self {
        FecInfo {
            data_shards: (word >> 22) as u16,
            shard_index: ((word >> 12) & MAX_SHARD_INDEX as u32) as u16,
            fec_percent: (word >> 4) as u8,
        }
    }

    /// Parity shards of this block as the client computes them from the two fields.
    pub fn parity_shards(self) -> usize {
        client_parity_count(usize::from(self.data_shards), self.fec_percent)
    }
}

/// The client never receives the parity count; it derives it as `ceil(data × percent / 100)`.
pub fn client_parity_count(data: usize, fec_percent: u8) -> usize {
    (data * usize::from(fec_percent)).div_ceil(100)
}

/// One FEC block of a frame: which of the frame's data shards it holds and its parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockPlan {
    /// Index of the block's first data shard within the frame.
    pub first_shard: usize,
    /// Data shards in the block.
    pub data_shards: usize,
    /// Parity shards the block gets, as the client will derive them.
    pub parity_shards: usize,
    /// What the block's `fecInfo` says; `parity_shards == client_parity_count(data_shards, fec_percent)`.
    pub fec_percent: u8,
}

/// Splits a frame of `total_shards` data shards into FEC blocks.
///
/// A block holds at most `⌊25500 / (100 + F)⌋` data shards so that data plus `F` % parity fits in 255
/// shards. Up to 4 equal blocks (the last takes the remainder); a frame that would need more is sent
/// without FEC in 4 blocks, as Sunshine does.
pub fn plan_frame(
    total_shards: usize,
    fec_percent: u8,
    min_parity: usize,
) -> Result<Vec<BlockPlan>, GsFecError> {
    if total_shards == 0 {
        return Ok(Vec::new());
    }
    let mut percent = fec_percent;
    let max_data = MAX_BLOCK_SHARDS * 100 / (100 + usize::from(percent));
    let mut blocks = total_shards.div_ceil(max_data);
    if blocks > MAX_BLOCKS {
        percent = 0;
        blocks = MAX_BLOCKS;
    }
    let per_block = total_shards.div_ceil(blocks);
    if per_block > MAX_SHARD_INDEX {
        return Err(GsFecError::FrameTooLarge { shards: per_block });
    }
    let mut plans = Vec::with_capacity(blocks);
    let mut first = 0;
    while first < total_shards {
        let data = per_block.min(total_shards - first);
        let (parity, field) = block_parity(data, percent, min_parity);
        plans.push(BlockPlan {
            first_shard: first,
            data_shards: data,
            parity_shards: parity,
            fec_percent: field,
        });
        first += data;
    }
    Ok(plans)
}

/// Parity count and `fecInfo` percentage for a block of `data` shards.
///
/// `ceil(D × F / 100)` parity shards, raised to `min_parity` (the client's `minRequiredFecPackets`) by
/// writing `F = ⌊100 × parity / D⌋`. Whatever is chosen, the returned count is the one the client
/// derives from the written percentage, so both sides always agree on where parity starts.
pub fn block_parity(data: usize, fec_percent: u8, min_parity: usize) -> (usize, u8) {
    if fec_percent == 0 || data == 0 {
        return (0, 0);
    }
    let mut field = fec_percent;
    if client_parity_count(data, field) < min_parity {
        // Sunshine's floor gives exactly `min_parity` for blocks under 100 shards; above that it can
        // fall one short, and the rounded-up percentage cannot.
        let floor = 100 * min_parity / data;
        let pick = if client_parity_count(data, clamp_percent(floor)) >= min_parity {
            floor
        } else {
            (100 * min_parity).div_ceil(data)
        };
        field = clamp_percent(pick);
    }
    while field > 0 && data + client_parity_count(data, field) > MAX_BLOCK_SHARDS {
        field -= 1;
    }
    (client_parity_count(data, field), field)
}

fn clamp_percent(percent: usize) -> u8 {
    percent.min(usize::from(u8::MAX)) as u8
}

/// Moonlight's video code: Cauchy parity over GF(2⁸)/0x11D, coefficient `1 / ((m + i) XOR j)`.
#[derive(Default)]
pub struct VideoFec {
    encoder: FecEncoder,
}

impl VideoFec {
    /// An encoder with empty scratch space.
    pub fn new() -> Self {
        Self::default()
    }

    /// Computes `parity.len() / shard_bytes` parity shards over `data`.
    pub fn encode(
        &mut self,
        data: &[&[u8]],
        parity: &mut [u8],
        shard_bytes: usize,
    ) -> Result<(), GsFecError> {
        Ok(self
            .encoder
            .encode(FecScheme::Gf8Cauchy, data, parity, shard_bytes)?)
    }
}

/// The audio RS(4,2) code with [`AUDIO_PARITY_MATRIX`].
pub struct AudioFec {
    code: Gf8Matrix,
}

impl AudioFec {
    /// The audio code with the fixed [`AUDIO_PARITY_MATRIX`].
    pub fn new() -> Result<Self, GsFecError> {
        Ok(AudioFec {
            code: Gf8Matrix::new(AUDIO_DATA_SHARDS, AUDIO_PARITY_SHARDS, &AUDIO_PARITY_MATRIX)?,
        })
    }

    /// Computes the two parity shards (contiguous in `parity`) over four equally long data shards.
    pub fn encode(&self, data: &[&[u8]], parity: &mut [u8]) -> Result<(), GsFecError> {
        let shard_bytes = data.first().map_or(0, |d| d.len());
        Ok(self.code.encode(data, parity, shard_bytes)?)
    }

    /// Rebuilds missing data shards of a received block; returns how many were rebuilt.
    pub fn reconstruct(&mut self, block: ReceivedBlock<'_>) -> Result<usize, GsFecError> {
        Ok(self.code.reconstruct(block)?)
    }
}

#[cfg(test)]
mod tests;
