//! Sender side: one access unit in, a batch of equal-sized sealed datagrams out.
//!
//! The frame is cut into equal shards (the last one zero-padded), the shards are grouped into FEC blocks
//! (see [`BlockLayout`]), each block gets its recovery shards, and every datagram is sealed in place.
//! Datagrams go out interleaved across blocks (see [`interleave`]), data before recovery, and all have
//! the same length so the host can hand the batch to the kernel as one GSO send.

use super::config::{FecConfig, PacketizerConfig};
use crate::crypto::{CryptoError, DirectionKey, Sealer, TAG_LEN};
use crate::fec::{FecEncoder, FecError, choose_scheme};
use crate::wire::{BlockLayout, Flags, HEADER_LEN, MAX_FRAME_LEN, PacketHeader};

/// One access unit to send.
#[derive(Debug, Clone, Copy)]
pub struct FrameInput<'a> {
    /// The encoded access unit, 1 byte ..= 16 MiB.
    pub data: &'a [u8],
    /// Capture timestamp in microseconds of the sender's clock.
    pub pts_us: u64,
    /// The frame can be decoded without earlier frames; flagged so receivers can resync.
    pub keyframe: bool,
    /// The frame ends an intra-refresh wave: decoding can resume after it without a keyframe.
    pub recovery_point: bool,
}

/// What [`Packetizer::packetize`] produced for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSummary {
    /// Index the frame was sent under (wraps at 2³²).
    pub frame_index: u32,
    /// Datagrams produced: data plus recovery shards over all blocks.
    pub datagrams: usize,
    /// FEC blocks the frame was split into.
    pub blocks: u16,
    /// Data shards over all blocks.
    pub data_shards: u32,
    /// Recovery (parity) shards over all blocks.
    pub recovery_shards: u32,
    /// Payload bytes per shard, the same for every datagram of the frame.
    pub shard_bytes: usize,
}

/// Why a frame could not be packetized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketizeError {
    /// The frame is empty or larger than 16 MiB; carries its length.
    #[error("frame of {0} bytes is outside 1 byte ..= 16 MiB")]
    FrameSize(usize),
    /// The configured datagram size cannot hold header, tag and a 2-byte shard.
    #[error("datagram size {0} leaves no room for a shard")]
    DatagramTooSmall(usize),
    #[error(
        "frame needs more than 65 535 FEC blocks; raise max_data_per_block or the datagram size"
    )]
    /// The frame would need more FEC blocks than the 16-bit block index can number.
    TooManyBlocks,
    /// Sealing a datagram failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Computing recovery shards failed.
    #[error(transparent)]
    Fec(#[from] FecError),
}

/// Sealed datagrams of one frame, back to back, all `datagram_len()` bytes long.
#[derive(Debug, Default, Clone)]
pub struct DatagramBatch {
    buf: Vec<u8>,
    datagram_len: usize,
    count: usize,
}

impl DatagramBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of datagrams in the batch.
    pub fn len(&self) -> usize {
        self.count
    }
    /// Whether the batch holds no datagram.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// Length of every datagram of the batch in bytes.
    pub fn datagram_len(&self) -> usize {
        self.datagram_len
    }
    /// Datagram `i`; panics if `i >= len()`.
    pub fn get(&self, i: usize) -> &[u8] {
        &self.buf[i * self.datagram_len..(i + 1) * self.datagram_len]
    }
    /// The datagrams in send order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        self.buf[..self.count * self.datagram_len].chunks_exact(self.datagram_len.max(1))
    }
    /// All datagrams as one buffer (for a GSO send with segment size `datagram_len()`).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.count * self.datagram_len]
    }
    /// Datagrams `first..first + count` as one mutable buffer (for packetizers filling the batch).
    pub(crate) fn datagrams_mut(&mut self, first: usize, count: usize) -> &mut [u8] {
        &mut self.buf[first * self.datagram_len..(first + count) * self.datagram_len]
    }
    /// Makes room for `count` datagrams of `datagram_len` bytes (contents unspecified).
    pub(crate) fn reset(&mut self, count: usize, datagram_len: usize) {
        self.count = count;
        self.datagram_len = datagram_len;
        if self.buf.len() < count * datagram_len {
            self.buf.resize(count * datagram_len, 0);
        }
    }
    fn slots_mut(&mut self) -> impl Iterator<Item = &mut [u8]> {
        self.buf[..self.count * self.datagram_len].chunks_exact_mut(self.datagram_len.max(1))
    }
}

/// Turns frames of one stream into sealed datagrams.
pub struct Packetizer {
    config: PacketizerConfig,
    sealer: Sealer,
    fec: FecEncoder,
    next_frame: u32,
    padded_tail: Vec<u8>,
    /// Per frame: where each block's datagrams start in `send_slot`, and their batch positions.
    block_offsets: Vec<usize>,
    send_slot: Vec<usize>,
}

/// Shard size for a frame: as large as the datagram allows, then evened out so the last shard carries
/// little padding.
fn shard_bytes_for(frame_len: usize, max_shard: usize) -> usize {
    let shards = frame_len.div_ceil(max_shard);
    let even = frame_len.div_ceil(shards).next_multiple_of(2);
    even.min(max_shard)
}

impl Packetizer {
    /// A packetizer sealing with `key` (this direction's key) under `config`.
    pub fn new(config: PacketizerConfig, key: &DirectionKey) -> Result<Self, CryptoError> {
        Ok(Packetizer {
            config,
            sealer: Sealer::new(key)?,
            fec: FecEncoder::new(),
            next_frame: 0,
            padded_tail: Vec::new(),
            block_offsets: Vec::new(),
            send_slot: Vec::new(),
        })
    }

    /// The settings in force, FEC included.
    pub fn config(&self) -> &PacketizerConfig {
        &self.config
    }

    /// Changes the FEC strength from the next frame on (the adaptive policy calls this).
    pub fn set_fec(&mut self, fec: FecConfig) {
        self.config.fec = fec;
    }

    /// Index the next frame will get.
    pub fn next_frame_index(&self) -> u32 {
        self.next_frame
    }

    /// Packetizes, protects and seals one frame into `out` (replacing its contents).
    pub fn packetize(
        &mut self,
        frame: FrameInput<'_>,
        out: &mut DatagramBatch,
    ) -> Result<FrameSummary, PacketizeError> {
        let len = frame.data.len();
        if len == 0 || len > MAX_FRAME_LEN as usize {
            return Err(PacketizeError::FrameSize(len));
        }
        let max_shard = self.config.max_shard_bytes();
        if max_shard < 2 {
            return Err(PacketizeError::DatagramTooSmall(self.config.max_datagram));
        }
        let s = shard_bytes_for(len, max_shard);
        let total = len.div_ceil(s) as u32;
        let fec = self.config.fec;
        let layout = BlockLayout::for_max_block(
            total,
            u32::from(
                fec.max_data_per_block
                    .clamp(1, super::config::MAX_DATA_PER_BLOCK),
            ),
        )
        .ok_or(PacketizeError::TooManyBlocks)?;
        let datagram_len = HEADER_LEN + s + TAG_LEN;
        let datagrams: usize = (0..layout.block_count())
            .map(|b| {
                let k = layout.data_shards(b);
                (k + fec.recovery_for(k)) as usize
            })
            .sum();
        out.reset(datagrams, datagram_len);

        // The last shard is zero-padded; keep a padded copy for the FEC encoder.
        let tail_start = (total as usize - 1) * s;
        self.padded_tail.clear();
        self.padded_tail
            .extend_from_slice(&frame.data[tail_start..]);
        self.padded_tail.resize(s, 0);

        let frame_index = self.next_frame;
        let mut frame_flags = Flags::empty();
        if frame.keyframe {
            frame_flags = frame_flags | Flags::KEYFRAME;
        }
        if frame.recovery_point {
            frame_flags = frame_flags | Flags::RECOVERY_POINT;
        }

        let sizes = (0..layout.block_count()).map(|b| {
            let k = layout.data_shards(b);
            (k + fec.recovery_for(k)) as usize
        });
        interleave(sizes, &mut self.block_offsets, &mut self.send_slot);
        let first_seq = self.sealer.reserve_seqs(datagrams as u64)?;
        let mut slots: Vec<&mut [u8]> = out.slots_mut().collect();

        let mut recovery_total = 0u32;
        for b in 0..layout.block_count() {
            let k = layout.data_shards(b) as usize;
            let m = fec.recovery_for(k as u32) as usize;
            let scheme = choose_scheme(k, m, usize::from(fec.gf8_max_data));
            let first = layout.first_shard(b) as usize;
            let mut flags = frame_flags;
            if b == 0 {
                flags = flags | Flags::START_OF_FRAME;
            }
            if b + 1 == layout.block_count() {
                flags = flags | Flags::END_OF_FRAME;
            }
            let mut header = PacketHeader {
                kind: self.config.kind,
                flags,
                fec: scheme,
                shard_bytes: s as u16,
                session_id: self.config.session_id,
                frame_index,
                seq: 0,
                pts_us: frame.pts_us,
                frame_len: len as u32,
                block_index: b,
                block_count: layout.block_count(),
                data_shards: k as u16,
                recovery_shards: m as u16,
                shard_index: 0,
            };
            // Where each of this block's datagrams goes in the batch (its send position).
            let send_slot = &self.send_slot[self.block_offsets[usize::from(b)]..][..k + m];
            let mut take = |i: usize| std::mem::take(&mut slots[send_slot[i]]);

            let tail = &self.padded_tail;
            let shards: Vec<&[u8]> = (first..first + k)
                .map(|i| data_shard(frame.data, tail, i, s))
                .collect();
            for (i, shard) in shards.iter().enumerate() {
                let datagram = take(i);
                datagram[HEADER_LEN..HEADER_LEN + s].copy_from_slice(shard);
                header.shard_index = i as u16;
                header.seq = first_seq + send_slot[i] as u64;
                seal(&self.sealer, datagram, &header)?;
            }
            if m > 0 {
                // The recovery shards are computed straight into the datagrams that carry them.
                let mut parity: Vec<&mut [u8]> = (k..k + m).map(&mut take).collect();
                let mut payloads: Vec<&mut [u8]> = parity
                    .iter_mut()
                    .map(|d| &mut d[HEADER_LEN..HEADER_LEN + s])
                    .collect();
                self.fec.encode_into(scheme, &shards, &mut payloads)?;
                for (j, datagram) in parity.into_iter().enumerate() {
                    header.shard_index = (k + j) as u16;
                    header.seq = first_seq + send_slot[k + j] as u64;
                    seal(&self.sealer, datagram, &header)?;
                }
            }
            recovery_total += m as u32;
        }
        self.next_frame = self.next_frame.wrapping_add(1);
        Ok(FrameSummary {
            frame_index,
            datagrams,
            blocks: layout.block_count(),
            data_shards: total,
            recovery_shards: recovery_total,
            shard_bytes: s,
        })
    }
}

/// Send order of a frame's datagrams: round-robin over its blocks — shard 0 of every block, then
/// shard 1 of every block, … — so that a burst of consecutive losses is spread over all blocks
/// instead of exhausting one block's recovery shards. For blocks of `sizes` datagrams, fills
/// `send_slot[offsets[b] + i]` with the batch position of datagram `i` of block `b`.
fn interleave(
    sizes: impl Iterator<Item = usize>,
    offsets: &mut Vec<usize>,
    send_slot: &mut Vec<usize>,
) {
    offsets.clear();
    let mut total = 0;
    let mut longest = 0;
    for size in sizes {
        offsets.push(total);
        total += size;
        longest = longest.max(size);
    }
    offsets.push(total);
    send_slot.clear();
    send_slot.resize(total, 0);
    let mut next = 0;
    for round in 0..longest {
        for b in 0..offsets.len() - 1 {
            if round < offsets[b + 1] - offsets[b] {
                send_slot[offsets[b] + round] = next;
                next += 1;
            }
        }
    }
}

/// Data shard `index` of a frame: a slice of the frame itself, or the zero-padded copy of its tail.
fn data_shard<'a>(frame: &'a [u8], padded_tail: &'a [u8], index: usize, s: usize) -> &'a [u8] {
    let start = index * s;
    if start + s <= frame.len() {
        &frame[start..start + s]
    } else {
        padded_tail
    }
}

/// Writes `header` into a datagram whose payload is already in place, and seals it.
fn seal(sealer: &Sealer, datagram: &mut [u8], header: &PacketHeader) -> Result<(), CryptoError> {
    header.encode(datagram);
    sealer.seal_in_place(datagram)
}

#[cfg(test)]
mod tests {
    use super::interleave;

    #[test]
    fn interleave_goes_round_robin_over_blocks() {
        let (mut offsets, mut slots) = (Vec::new(), Vec::new());
        interleave([3, 3, 2].into_iter(), &mut offsets, &mut slots);
        assert_eq!(offsets, [0, 3, 6, 8]);
        // Block 0 goes out at positions 0, 3, 6; block 1 at 1, 4, 7; block 2 at 2, 5.
        assert_eq!(slots, [0, 3, 6, 1, 4, 7, 2, 5]);

        interleave([4].into_iter(), &mut offsets, &mut slots);
        assert_eq!(slots, [0, 1, 2, 3], "one block keeps its order");

        interleave([2, 3].into_iter(), &mut offsets, &mut slots);
        assert_eq!(
            slots,
            [0, 2, 1, 3, 4],
            "a longer later block still gets every position once"
        );
    }
}
