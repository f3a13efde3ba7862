//! Sender side: one access unit in, a batch of equal-sized sealed datagrams out.
//!
//! The frame is cut into equal shards (the last one zero-padded), the shards are grouped into FEC blocks
//! (see [`BlockLayout`]), each block gets its recovery shards, and every datagram is sealed in place.
//! Datagrams go out block by block, data before recovery, and all have the same length so the host can
//! hand the batch to the kernel as one GSO send.

use super::config::{FecConfig, PacketizerConfig};
use crate::crypto::{CryptoError, DirectionKey, Sealer, TAG_LEN};
use crate::fec::{FecEncoder, FecError, choose_scheme};
use crate::wire::{BlockLayout, Flags, HEADER_LEN, MAX_FRAME_LEN, PacketHeader};

/// One access unit to send.
#[derive(Debug, Clone, Copy)]
pub struct FrameInput<'a> {
    pub data: &'a [u8],
    /// Capture timestamp in microseconds of the sender's clock.
    pub pts_us: u64,
    pub keyframe: bool,
    pub recovery_point: bool,
}

/// What [`Packetizer::packetize`] produced for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSummary {
    pub frame_index: u32,
    pub datagrams: usize,
    pub blocks: u16,
    pub data_shards: u32,
    pub recovery_shards: u32,
    pub shard_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketizeError {
    #[error("frame of {0} bytes is outside 1 byte ..= 16 MiB")]
    FrameSize(usize),
    #[error("datagram size {0} leaves no room for a shard")]
    DatagramTooSmall(usize),
    #[error(
        "frame needs more than 65 535 FEC blocks; raise max_data_per_block or the datagram size"
    )]
    TooManyBlocks,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
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
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    pub fn datagram_len(&self) -> usize {
        self.datagram_len
    }
    pub fn get(&self, i: usize) -> &[u8] {
        &self.buf[i * self.datagram_len..(i + 1) * self.datagram_len]
    }
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        self.buf[..self.count * self.datagram_len].chunks_exact(self.datagram_len.max(1))
    }
    /// All datagrams as one buffer (for a GSO send with segment size `datagram_len()`).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.count * self.datagram_len]
    }
    fn reset(&mut self, count: usize, datagram_len: usize) {
        self.count = count;
        self.datagram_len = datagram_len;
        if self.buf.len() < count * datagram_len {
            self.buf.resize(count * datagram_len, 0);
        }
    }
    fn slot(&mut self, i: usize) -> &mut [u8] {
        &mut self.buf[i * self.datagram_len..(i + 1) * self.datagram_len]
    }
}

/// Turns frames of one stream into sealed datagrams.
pub struct Packetizer {
    config: PacketizerConfig,
    sealer: Sealer,
    fec: FecEncoder,
    next_frame: u32,
    recovery: Vec<u8>,
    padded_tail: Vec<u8>,
}

/// Shard size for a frame: as large as the datagram allows, then evened out so the last shard carries
/// little padding.
fn shard_bytes_for(frame_len: usize, max_shard: usize) -> usize {
    let shards = frame_len.div_ceil(max_shard);
    let even = frame_len.div_ceil(shards).next_multiple_of(2);
    even.min(max_shard)
}

impl Packetizer {
    pub fn new(config: PacketizerConfig, key: &DirectionKey) -> Result<Self, CryptoError> {
        Ok(Packetizer {
            config,
            sealer: Sealer::new(key)?,
            fec: FecEncoder::new(),
            next_frame: 0,
            recovery: Vec::new(),
            padded_tail: Vec::new(),
        })
    }

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

        let mut slot = 0usize;
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

            let tail = &self.padded_tail;
            for i in 0..k {
                header.shard_index = i as u16;
                let shard = data_shard(frame.data, tail, first + i, s);
                write_sealed(&mut self.sealer, out.slot(slot), &mut header, shard)?;
                slot += 1;
            }
            if m > 0 {
                self.recovery.resize(m * s, 0);
                let shards: Vec<&[u8]> = (first..first + k)
                    .map(|i| data_shard(frame.data, tail, i, s))
                    .collect();
                self.fec
                    .encode(scheme, &shards, &mut self.recovery[..m * s], s)?;
                for (j, parity) in self.recovery[..m * s].chunks_exact(s).enumerate() {
                    header.shard_index = (k + j) as u16;
                    write_sealed(&mut self.sealer, out.slot(slot), &mut header, parity)?;
                    slot += 1;
                }
            }
            recovery_total += m as u32;
        }
        debug_assert_eq!(slot, datagrams);
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

/// Data shard `index` of a frame: a slice of the frame itself, or the zero-padded copy of its tail.
fn data_shard<'a>(frame: &'a [u8], padded_tail: &'a [u8], index: usize, s: usize) -> &'a [u8] {
    let start = index * s;
    if start + s <= frame.len() {
        &frame[start..start + s]
    } else {
        padded_tail
    }
}

fn write_sealed(
    sealer: &mut Sealer,
    slot: &mut [u8],
    header: &mut PacketHeader,
    payload: &[u8],
) -> Result<(), CryptoError> {
    header.seq = sealer.next_seq()?;
    header.encode(slot);
    slot[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
    sealer.seal_in_place(slot)
}
