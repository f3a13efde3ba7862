//! Moonlight-compatible video packetization: an encoded frame becomes the 8-byte frame header plus the
//! bitstream, cut into shards of `P − 16` payload bytes, each behind a 16-byte RTP header and the
//! 16-byte NV video header, grouped into up to four FEC blocks with Cauchy parity, and optionally
//! sealed with AES-128-GCM. `P` is the client's `x-nv-video[0].packetSize`.
//!
//! Datagram layout (all shards, data and parity, are exactly `P + 16` bytes):
//!
//! | offset | field |
//! |---|---|
//! | 0 | `0x90` (RTP v2 + extension) |
//! | 1 | payload type 0 |
//! | 2–3 | BE16 sequence number, contiguous over the stream |
//! | 4–7 | BE32 90 kHz timestamp |
//! | 8–11 | SSRC 0 |
//! | 12–15 | extension, zero |
//! | 16–19 | LE32 stream packet index = packet number << 8 |
//! | 20–23 | LE32 frame index (starts at 1) |
//! | 24 | flags: 0x01 picture data, 0x02 end of block, 0x04 start of block |
//! | 25 | extra flags (0) |
//! | 26 | multi-FEC flags `0x10` |
//! | 27 | block index in bits 4–5, last block index in bits 6–7 |
//! | 28–31 | LE32 [`FecInfo`] |
//! | 32… | payload |
//!
//! The FEC runs over whole shards with the RTP header and `fecInfo` still zero: the client recomputes
//! both for shards it recovers, and everything else in the header must come back out of the recovery.

use super::fec::{BlockPlan, FecInfo, GsFecError, VideoFec, plan_frame};
use crate::packetize::DatagramBatch;
use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use std::time::Duration;

/// Bytes of the RTP header (12 + a 4-byte zero extension) in front of every video datagram.
pub const RTP_HEADER_LEN: usize = 16;
/// Bytes of the NV video header (packet index, frame index, flags, FEC info) after the RTP header.
pub const VIDEO_HEADER_LEN: usize = 16;
/// RTP + NV video header in front of every shard's payload.
pub const PACKET_HEADER_LEN: usize = RTP_HEADER_LEN + VIDEO_HEADER_LEN;
/// Bytes of the frame header in front of each frame's bitstream: host latency, frame type, last shard's length.
pub const FRAME_HEADER_LEN: usize = 8;
/// IV (12) + LE32 frame index + GCM tag (16) in front of an encrypted shard.
pub const ENCRYPTION_PREFIX_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// First RTP byte: version 2 with the extension bit set.
pub const RTP_VERSION_EXTENSION: u8 = 0x90;
/// NV flag: the shard carries picture data.
pub const FLAG_CONTAINS_PIC_DATA: u8 = 0x01;
/// NV flag: last data shard of its FEC block.
pub const FLAG_EOF: u8 = 0x02;
/// NV flag: first data shard of its FEC block.
pub const FLAG_SOF: u8 = 0x04;
/// Value of the multi-FEC flags byte: the frame may be split into several FEC blocks.
pub const MULTI_FEC_FLAGS: u8 = 0x10;

/// Smallest packet size accepted: a shard must hold at least the 8-byte frame header.
pub const MIN_PACKET_SIZE: usize = VIDEO_HEADER_LEN + FRAME_HEADER_LEN;
/// Largest packet size accepted: an encrypted shard must still fit one UDP datagram.
pub const MAX_PACKET_SIZE: usize = 65_507 - RTP_HEADER_LEN - ENCRYPTION_PREFIX_LEN;

/// Why a video frame could not be packetized or a datagram opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VideoError {
    /// The client's packet size is outside `MIN_PACKET_SIZE..=MAX_PACKET_SIZE`; carries it.
    #[error("packet size {0} outside {MIN_PACKET_SIZE}..={MAX_PACKET_SIZE}")]
    PacketSize(usize),
    /// The `rikey` was not accepted as an AES-128 key.
    #[error("invalid AES-128 key")]
    BadKey,
    /// AES-GCM sealing failed.
    #[error("AES-GCM sealing failed")]
    Seal,
    /// A datagram shorter than the RTP and NV headers (or the encryption prefix); carries its length.
    #[error("datagram of {0} bytes is shorter than a video header")]
    TooShort(usize),
    /// AES-GCM rejected the tag of an encrypted datagram.
    #[error("encrypted datagram failed authentication")]
    BadTag,
    /// The frame's FEC blocks could not be planned or encoded.
    #[error(transparent)]
    Fec(#[from] GsFecError),
}

/// Frame type byte of the frame header; the client drops frames after a loss until it sees an IDR,
/// an intra-refresh frame or a frame sent after reference invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    /// A predicted frame (wire 1).
    P,
    /// An IDR frame: the client may resume decoding here (wire 2).
    Idr,
    /// A frame of an intra-refresh wave, which also lets the client resume (wire 4).
    IntraRefresh,
    /// A P-frame that references nothing the client reported lost (after a 0x0301 request).
    AfterInvalidation,
}

impl FrameType {
    /// The frame type byte of the frame header.
    pub fn wire(self) -> u8 {
        match self {
            FrameType::P => 1,
            FrameType::Idr => 2,
            FrameType::IntraRefresh => 4,
            FrameType::AfterInvalidation => 5,
        }
    }
}

/// Stream parameters fixed by the client's ANNOUNCE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoConfig {
    /// `x-nv-video[0].packetSize`: payload + 16-byte NV header per datagram (already reduced by the
    /// client when video encryption is on).
    pub packet_size: usize,
    /// Parity as a percentage of each block's data shards (0 turns FEC off).
    pub fec_percent: u8,
    /// `x-nv-vqos[0].fec.minRequiredFecPackets`.
    pub min_required_fec_packets: usize,
    /// `rikey` when `encryptionEnabled & 0x02`.
    pub encryption_key: Option<[u8; 16]>,
}

/// One encoded frame and what the host knows about it.
#[derive(Debug, Clone, Copy)]
pub struct VideoFrame<'a> {
    /// Annex-B bitstream (H.264/HEVC) or AV1 OBUs.
    pub data: &'a [u8],
    /// How the client may use the frame after a loss.
    pub frame_type: FrameType,
    /// 90 kHz presentation timestamp.
    pub rtp_timestamp: u32,
    /// Capture-to-send latency in 0.1 ms units (see [`latency_units`]); 0 = unknown.
    pub host_latency: u16,
}

/// Host processing latency in the frame header's 0.1 ms units, rounded and saturated.
pub fn latency_units(latency: Duration) -> u16 {
    let units = (latency.as_micros() + 50) / 100;
    u16::try_from(units).unwrap_or(u16::MAX)
}

/// The 8-byte header in front of every frame's bitstream, for packet size `packet_size` (`P`).
pub fn frame_header(frame: &VideoFrame<'_>, packet_size: usize) -> [u8; FRAME_HEADER_LEN] {
    let per_shard = packet_size.saturating_sub(VIDEO_HEADER_LEN).max(1);
    let mut last = (frame.data.len() + FRAME_HEADER_LEN) % per_shard;
    if last == 0 {
        last = per_shard;
    }
    let latency = frame.host_latency.to_le_bytes();
    // Saturates only for packet sizes VideoPacketizer::new refuses.
    let last = u16::try_from(last).unwrap_or(u16::MAX).to_le_bytes();
    [
        0x01,
        latency[0],
        latency[1],
        frame.frame_type.wire(),
        last[0],
        last[1],
        0,
        0,
    ]
}

/// Turns frames into datagrams. Owns the stream-wide counters: frame index, packet number (RTP
/// sequence and stream packet index) and the GCM invocation counter.
pub struct VideoPacketizer {
    packet_size: usize,
    fec_percent: u8,
    min_parity: usize,
    next_frame_index: u32,
    next_packet: u32,
    fec: VideoFec,
    cipher: Option<VideoSealer>,
    /// Parity shards before they move behind their encryption prefixes.
    parity_scratch: Vec<u8>,
}

impl VideoPacketizer {
    /// A packetizer for the client's packet size, FEC settings and optional video key.
    pub fn new(config: &VideoConfig) -> Result<Self, VideoError> {
        let p = config.packet_size;
        if !(MIN_PACKET_SIZE..=MAX_PACKET_SIZE).contains(&p) {
            return Err(VideoError::PacketSize(p));
        }
        Ok(VideoPacketizer {
            packet_size: p,
            fec_percent: config.fec_percent,
            min_parity: config.min_required_fec_packets,
            next_frame_index: 1,
            next_packet: 0,
            fec: VideoFec::new(),
            cipher: config
                .encryption_key
                .as_ref()
                .map(VideoSealer::new)
                .transpose()?,
            parity_scratch: Vec::new(),
        })
    }

    /// Bytes of every datagram this packetizer emits.
    pub fn datagram_len(&self) -> usize {
        let shard = self.packet_size + RTP_HEADER_LEN;
        shard + self.cipher.as_ref().map_or(0, |_| ENCRYPTION_PREFIX_LEN)
    }

    /// Frame index the next frame will carry.
    pub fn next_frame_index(&self) -> u32 {
        self.next_frame_index
    }

    /// All datagrams of one frame, in send order: block 0 data, block 0 parity, block 1 data, …
    /// (allocating; senders use [`VideoPacketizer::packetize_into`]).
    pub fn packetize(&mut self, frame: &VideoFrame<'_>) -> Result<Vec<Vec<u8>>, VideoError> {
        let mut batch = DatagramBatch::new();
        self.packetize_into(frame, &mut batch)?;
        Ok(batch.iter().map(<[u8]>::to_vec).collect())
    }

    /// Writes one frame's datagrams into `batch` (reused from frame to frame), in send order. Each
    /// shard is built where it will be sent and sealed there: the bitstream is copied once, into
    /// the datagrams.
    pub fn packetize_into(
        &mut self,
        frame: &VideoFrame<'_>,
        batch: &mut DatagramBatch,
    ) -> Result<(), VideoError> {
        let per_shard = self.packet_size - VIDEO_HEADER_LEN;
        let shard_len = self.packet_size + RTP_HEADER_LEN;
        let prefix = self.datagram_len() - shard_len;
        let header = frame_header(frame, self.packet_size);
        let stream_len = FRAME_HEADER_LEN + frame.data.len();
        let plans = plan_frame(
            stream_len.div_ceil(per_shard),
            self.fec_percent,
            self.min_parity,
        )?;
        let total: usize = plans.iter().map(|p| p.data_shards + p.parity_shards).sum();
        batch.reset(total, self.datagram_len());
        let frame_index = self.next_frame_index;
        let last_block = plans.len().saturating_sub(1);
        let mut first_datagram = 0;
        for (block_index, plan) in plans.iter().enumerate() {
            let ctx = BlockContext {
                frame_index,
                block_index,
                last_block,
                first_packet: self.next_packet,
                rtp_timestamp: frame.rtp_timestamp,
            };
            let count = plan.data_shards + plan.parity_shards;
            let block = batch.datagrams_mut(first_datagram, count);
            for (x, datagram) in block.chunks_exact_mut(prefix + shard_len).enumerate() {
                let shard = &mut datagram[prefix..];
                if x < plan.data_shards {
                    fill_data_shard(shard, plan, &ctx, x, &header, frame.data, per_shard);
                }
            }
            self.add_parity(plan, block, prefix, shard_len)?;
            for (x, datagram) in block.chunks_exact_mut(prefix + shard_len).enumerate() {
                ctx.finish_header(&mut datagram[prefix..], plan, x);
                if let Some(sealer) = &mut self.cipher {
                    sealer.seal_in_place(frame_index, datagram)?;
                }
            }
            self.next_packet = self.next_packet.wrapping_add(count as u32);
            first_datagram += count;
        }
        self.next_frame_index = self.next_frame_index.wrapping_add(1);
        Ok(())
    }

    /// Computes the block's parity shards from its data shards (the datagrams' shard parts, after
    /// `prefix` bytes each) into the parity datagrams.
    fn add_parity(
        &mut self,
        plan: &BlockPlan,
        block: &mut [u8],
        prefix: usize,
        shard_len: usize,
    ) -> Result<(), VideoError> {
        if plan.parity_shards == 0 {
            return Ok(());
        }
        let stride = prefix + shard_len;
        let (data, parity) = block.split_at_mut(plan.data_shards * stride);
        let refs: Vec<&[u8]> = data
            .chunks_exact(stride)
            .map(|datagram| &datagram[prefix..])
            .collect();
        if prefix == 0 {
            // Unencrypted: the parity datagrams are contiguous shards; the FEC writes them directly.
            self.fec.encode(&refs, parity, shard_len)?;
        } else {
            self.parity_scratch
                .resize(plan.parity_shards * shard_len, 0);
            self.fec
                .encode(&refs, &mut self.parity_scratch, shard_len)?;
            for (datagram, shard) in parity
                .chunks_exact_mut(stride)
                .zip(self.parity_scratch.chunks_exact(shard_len))
            {
                datagram[prefix..].copy_from_slice(shard);
            }
        }
        Ok(())
    }
}

/// Writes data shard `x` of a block: every header field the FEC must protect, then this shard's
/// window of the virtual stream `header ‖ data` (zero past its end).
fn fill_data_shard(
    shard: &mut [u8],
    plan: &BlockPlan,
    ctx: &BlockContext,
    x: usize,
    header: &[u8; FRAME_HEADER_LEN],
    data: &[u8],
    per_shard: usize,
) {
    // The batch is reused: nothing of an earlier frame may survive in a shard.
    shard.fill(0);
    let packet = ctx.first_packet.wrapping_add(x as u32);
    shard[16..20].copy_from_slice(&(packet << 8).to_le_bytes());
    shard[20..24].copy_from_slice(&ctx.frame_index.to_le_bytes());
    let mut flags = FLAG_CONTAINS_PIC_DATA;
    if x == 0 {
        flags |= FLAG_SOF;
    }
    if x + 1 == plan.data_shards {
        flags |= FLAG_EOF;
    }
    shard[24] = flags;
    shard[26] = MULTI_FEC_FLAGS;
    shard[27] = ctx.multi_fec_blocks();
    let start = (plan.first_shard + x) * per_shard;
    copy_stream_window(header, data, start, &mut shard[PACKET_HEADER_LEN..]);
}

/// Copies `out.len()` bytes of the virtual stream `header ‖ data` starting at `start`; bytes past the
/// end of the stream stay as they are (zero in a fresh shard).
fn copy_stream_window(header: &[u8], data: &[u8], start: usize, out: &mut [u8]) {
    let mut written = 0;
    if let Some(rest) = header.get(start..) {
        let n = rest.len().min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        written = n;
    }
    let data_start = (start + written).saturating_sub(header.len());
    if let Some(rest) = data.get(data_start..) {
        let n = rest.len().min(out.len() - written);
        out[written..written + n].copy_from_slice(&rest[..n]);
    }
}

struct BlockContext {
    frame_index: u32,
    block_index: usize,
    last_block: usize,
    first_packet: u32,
    rtp_timestamp: u32,
}

impl BlockContext {
    fn multi_fec_blocks(&self) -> u8 {
        (((self.block_index & 3) << 4) | ((self.last_block & 3) << 6)) as u8
    }

    /// Fields written after the FEC ran: the RTP header and `fecInfo` on every shard, and the frame
    /// and block numbers the client reads from parity shards too.
    fn finish_header(&self, shard: &mut [u8], plan: &BlockPlan, x: usize) {
        let sequence = self.first_packet.wrapping_add(x as u32) as u16;
        shard[0] = RTP_VERSION_EXTENSION;
        shard[1] = 0;
        shard[2..4].copy_from_slice(&sequence.to_be_bytes());
        shard[4..8].copy_from_slice(&self.rtp_timestamp.to_be_bytes());
        shard[8..16].fill(0);
        shard[20..24].copy_from_slice(&self.frame_index.to_le_bytes());
        shard[27] = self.multi_fec_blocks();
        let info = FecInfo {
            data_shards: plan.data_shards as u16,
            shard_index: x as u16,
            fec_percent: plan.fec_percent,
        };
        shard[28..32].copy_from_slice(&info.encode().to_le_bytes());
    }
}

/// AES-128-GCM per shard: `IV (12) ‖ LE32 frame index ‖ tag (16) ‖ ciphertext`. The IV is a 64-bit
/// invocation counter plus a fixed `'V'`, so it never repeats under one client's key.
struct VideoSealer {
    key: LessSafeKey,
    counter: u64,
}

impl VideoSealer {
    fn new(key: &[u8; 16]) -> Result<Self, VideoError> {
        let key = UnboundKey::new(&AES_128_GCM, key).map_err(|_| VideoError::BadKey)?;
        Ok(VideoSealer {
            key: LessSafeKey::new(key),
            counter: 0,
        })
    }

    /// Seals `datagram` = `prefix ‖ shard` in place: fills the prefix (IV, frame index, tag) and
    /// encrypts the shard where it is.
    fn seal_in_place(&mut self, frame_index: u32, datagram: &mut [u8]) -> Result<(), VideoError> {
        let mut iv = [0u8; 12];
        iv[..8].copy_from_slice(&self.counter.to_le_bytes());
        iv[11] = b'V';
        self.counter = self.counter.checked_add(1).ok_or(VideoError::Seal)?;
        let (prefix, body) = datagram.split_at_mut(ENCRYPTION_PREFIX_LEN);
        let tag = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::empty(), body)
            .map_err(|_| VideoError::Seal)?;
        prefix[..12].copy_from_slice(&iv);
        prefix[12..16].copy_from_slice(&frame_index.to_le_bytes());
        prefix[16..16 + TAG_LEN].copy_from_slice(tag.as_ref());
        Ok(())
    }
}

/// The client side of video encryption, for probes and tests: authenticates and decrypts one
/// datagram back into its `P + 16` byte shard.
pub struct VideoOpener {
    key: LessSafeKey,
}

impl VideoOpener {
    /// An opener for encrypted video with the session's `rikey` (client side, probes and tests).
    pub fn new(key: &[u8; 16]) -> Result<Self, VideoError> {
        let key = UnboundKey::new(&AES_128_GCM, key).map_err(|_| VideoError::BadKey)?;
        Ok(VideoOpener {
            key: LessSafeKey::new(key),
        })
    }

    /// Authenticates and decrypts one encrypted datagram, returning the plaintext shard (RTP header onwards).
    pub fn open(&self, datagram: &[u8]) -> Result<Vec<u8>, VideoError> {
        if datagram.len() < ENCRYPTION_PREFIX_LEN + PACKET_HEADER_LEN {
            return Err(VideoError::TooShort(datagram.len()));
        }
        let (prefix, body) = datagram.split_at(ENCRYPTION_PREFIX_LEN);
        let mut iv = [0u8; 12];
        iv.copy_from_slice(&prefix[..12]);
        let mut in_out = body.to_vec();
        in_out.extend_from_slice(&prefix[16..]);
        let plain_len = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut in_out)
            .map_err(|_| VideoError::BadTag)?
            .len();
        in_out.truncate(plain_len);
        Ok(in_out)
    }
}

/// The header fields of a plaintext video datagram, as a client reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoPacketHeader {
    /// RTP sequence number, contiguous over the whole stream (BE16).
    pub sequence: u16,
    /// RTP timestamp of the frame, 90 kHz clock (BE32).
    pub timestamp: u32,
    /// Packet number of the stream shifted left by 8 (LE32).
    pub stream_packet_index: u32,
    /// Frame number, starting at 1 (LE32).
    pub frame_index: u32,
    /// `FLAG_*` bits: picture data, start and end of block.
    pub flags: u8,
    /// Extra flags byte; this host sends 0.
    pub extra_flags: u8,
    /// Multi-FEC flags byte; [`MULTI_FEC_FLAGS`] from this host.
    pub multi_fec_flags: u8,
    /// Which FEC block of the frame this shard is in, 0..=3.
    pub block_index: u8,
    /// Index of the frame's last FEC block, 0..=3.
    pub last_block_index: u8,
    /// Shard index, data shard count and parity percentage of the block.
    pub fec: FecInfo,
}

impl VideoPacketHeader {
    /// Reads the headers of a plaintext (or already opened) video datagram.
    pub fn parse(datagram: &[u8]) -> Result<Self, VideoError> {
        let h: &[u8; PACKET_HEADER_LEN] = datagram
            .get(..PACKET_HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(VideoError::TooShort(datagram.len()))?;
        let le32 = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        Ok(VideoPacketHeader {
            sequence: u16::from_be_bytes([h[2], h[3]]),
            timestamp: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            stream_packet_index: le32(16),
            frame_index: le32(20),
            flags: h[24],
            extra_flags: h[25],
            multi_fec_flags: h[26],
            block_index: (h[27] >> 4) & 3,
            last_block_index: (h[27] >> 6) & 3,
            fec: FecInfo::decode(le32(28)),
        })
    }
}

/// Bytes of a client's UDP ping: the 16 ASCII characters of `X-SS-Ping-Payload` + BE32 counter.
pub const PING_LEN: usize = 20;
/// What clients without a ping payload send instead.
pub const LEGACY_PING: [u8; 4] = *b"PING";

/// A client's ping on the video or audio port (every 500 ms until data flows, then on). The host sends
/// the stream to the source address of the first ping that carries the session's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    /// `payload` is compared with the `X-SS-Ping-Payload` handed out in the SETUP reply.
    Session {
        /// The 16 ASCII characters the SETUP reply handed out as `X-SS-Ping-Payload`.
        payload: [u8; 16],
        /// The client's ping counter (BE32), increasing per ping.
        sequence: u32,
    },
    /// The 4-byte `PING` of clients without a ping payload; it cannot be tied to a session.
    Legacy,
}

impl Ping {
    /// `None` for anything that is not a ping.
    pub fn parse(datagram: &[u8]) -> Option<Ping> {
        if datagram == LEGACY_PING {
            return Some(Ping::Legacy);
        }
        let ping: &[u8; PING_LEN] = datagram.try_into().ok()?;
        let mut payload = [0u8; 16];
        payload.copy_from_slice(&ping[..16]);
        let sequence = u32::from_be_bytes([ping[16], ping[17], ping[18], ping[19]]);
        Some(Ping::Session { payload, sequence })
    }

    /// True for a session ping carrying `expected`.
    pub fn matches(&self, expected: &[u8; 16]) -> bool {
        matches!(self, Ping::Session { payload, .. } if payload == expected)
    }

    /// The datagram a client sends (for probes and tests).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Ping::Session { payload, sequence } => {
                let mut d = payload.to_vec();
                d.extend_from_slice(&sequence.to_be_bytes());
                d
            }
            Ping::Legacy => LEGACY_PING.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests;
