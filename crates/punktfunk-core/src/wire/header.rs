//! The fixed 48-byte header in front of every punktfunk/1 data-plane datagram.
//!
//! Layout (all integers little-endian), documented byte for byte in `docs/protocol.md`:
//!
//! | off | size | field            |
//! |----:|-----:|------------------|
//! |   0 |    2 | magic `"PF"`     |
//! |   2 |    1 | version (= 1)    |
//! |   3 |    1 | stream kind      |
//! |   4 |    1 | flags            |
//! |   5 |    1 | FEC scheme       |
//! |   6 |    2 | shard bytes      |
//! |   8 |    4 | session id       |
//! |  12 |    4 | frame index      |
//! |  16 |    8 | packet sequence  |
//! |  24 |    8 | pts (µs)         |
//! |  32 |    4 | frame byte length|
//! |  36 |    2 | block index      |
//! |  38 |    2 | block count      |
//! |  40 |    2 | data shards      |
//! |  42 |    2 | recovery shards  |
//! |  44 |    2 | shard index      |
//! |  46 |    2 | reserved (= 0)   |
//!
//! The whole header is authenticated as AEAD associated data, so a decoded header is only trusted after
//! the packet has been opened; decoding still validates every field so that nothing downstream has to.

use super::WireError;

/// Size of the encoded header in bytes.
pub const HEADER_LEN: usize = 48;
/// The two magic bytes every datagram starts with.
pub const MAGIC: [u8; 2] = *b"PF";
/// Wire version this code speaks.
pub const VERSION: u8 = 1;
/// Largest access unit the data plane carries (16 MiB).
pub const MAX_FRAME_LEN: u32 = 16 * 1024 * 1024;
/// Largest number of shards (data + recovery) in one FEC block.
pub const MAX_BLOCK_SHARDS: u32 = 32_768;

/// What a datagram carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StreamKind {
    /// Encoded video access units (wire 0).
    Video = 0,
    /// Opus audio packets, host → client and microphone client → host (wire 1).
    Audio = 1,
    /// Padding/probe traffic used to measure capacity; carries no media.
    Probe = 2,
}

impl StreamKind {
    /// Every kind, in wire order (for per-kind tables and tests).
    pub const ALL: [StreamKind; 3] = [StreamKind::Video, StreamKind::Audio, StreamKind::Probe];

    fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.get(usize::from(v)).copied()
    }
}

/// Forward error correction applied to a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FecScheme {
    /// No recovery shards in this block.
    None = 0,
    /// Systematic Reed–Solomon over GF(2⁸) with a Cauchy matrix: at most 255 shards per block.
    Gf8Cauchy = 1,
    /// Leopard Reed–Solomon over GF(2¹⁶) (`reed-solomon-simd`): large blocks, even shard sizes.
    Gf16Leopard = 2,
}

impl FecScheme {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::None),
            1 => Some(Self::Gf8Cauchy),
            2 => Some(Self::Gf16Leopard),
            _ => None,
        }
    }
}

/// Per-packet flags. Unknown bits are rejected so they can be given meaning later without ambiguity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// The packet belongs to the first block of its frame.
    pub const START_OF_FRAME: Flags = Flags(1 << 0);
    /// The packet belongs to the last block of its frame.
    pub const END_OF_FRAME: Flags = Flags(1 << 1);
    /// The frame is a keyframe (decodable on its own).
    pub const KEYFRAME: Flags = Flags(1 << 2);
    /// The frame is a recovery point (e.g. the end of an intra-refresh wave).
    pub const RECOVERY_POINT: Flags = Flags(1 << 3);
    const KNOWN: u8 = 0b1111;

    /// No flag set.
    pub const fn empty() -> Self {
        Flags(0)
    }
    /// The raw flag byte as it goes on the wire.
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Both flag sets together.
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
    /// Flags that describe the frame as a whole (the same on every packet of a frame).
    pub const fn frame_flags(self) -> Flags {
        Flags(self.0 & (Self::KEYFRAME.0 | Self::RECOVERY_POINT.0))
    }
    /// Flags from a wire byte; `None` if an undefined bit is set.
    pub fn from_bits(bits: u8) -> Option<Flags> {
        (bits & !Self::KNOWN == 0).then_some(Flags(bits))
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

/// A decoded, validated packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketHeader {
    /// What the datagram carries; selects the AEAD key's stream label.
    pub kind: StreamKind,
    /// Per-packet flags (frame start/end, keyframe, recovery point).
    pub flags: Flags,
    /// FEC code of the packet's block.
    pub fec: FecScheme,
    /// Payload bytes of every shard in this frame (the last data shard is zero-padded).
    pub shard_bytes: u16,
    /// Session id from the control plane's Welcome; datagrams of other sessions are rejected.
    pub session_id: u32,
    /// Index of the frame within the stream, wrapping at 2³².
    pub frame_index: u32,
    /// Per-direction packet sequence number; also the AEAD nonce counter.
    pub seq: u64,
    /// Capture/presentation timestamp in microseconds of the sender's clock.
    pub pts_us: u64,
    /// Length of the whole access unit in bytes (1 ..= 16 MiB).
    pub frame_len: u32,
    /// Which FEC block of the frame, `0..block_count`.
    pub block_index: u16,
    /// FEC blocks the frame is split into, at least 1.
    pub block_count: u16,
    /// Data shards (`k`) of this block.
    pub data_shards: u16,
    /// Recovery shards (`m`) of this block.
    pub recovery_shards: u16,
    /// `0..data_shards` are data shards, `data_shards..data_shards+recovery_shards` recovery shards.
    pub shard_index: u16,
}

impl PacketHeader {
    /// Total shards in this packet's block.
    pub fn block_shards(&self) -> u32 {
        u32::from(self.data_shards) + u32::from(self.recovery_shards)
    }

    /// Whether this packet carries a recovery (parity) shard.
    pub fn is_recovery(&self) -> bool {
        self.shard_index >= self.data_shards
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `out`.
    ///
    /// Panics if `out` is shorter than [`HEADER_LEN`]; callers size their buffers from that constant.
    pub fn encode(&self, out: &mut [u8]) {
        let out = &mut out[..HEADER_LEN];
        out[0..2].copy_from_slice(&MAGIC);
        out[2] = VERSION;
        out[3] = self.kind as u8;
        out[4] = self.flags.bits();
        out[5] = self.fec as u8;
        out[6..8].copy_from_slice(&self.shard_bytes.to_le_bytes());
        out[8..12].copy_from_slice(&self.session_id.to_le_bytes());
        out[12..16].copy_from_slice(&self.frame_index.to_le_bytes());
        out[16..24].copy_from_slice(&self.seq.to_le_bytes());
        out[24..32].copy_from_slice(&self.pts_us.to_le_bytes());
        out[32..36].copy_from_slice(&self.frame_len.to_le_bytes());
        out[36..38].copy_from_slice(&self.block_index.to_le_bytes());
        out[38..40].copy_from_slice(&self.block_count.to_le_bytes());
        out[40..42].copy_from_slice(&self.data_shards.to_le_bytes());
        out[42..44].copy_from_slice(&self.recovery_shards.to_le_bytes());
        out[44..46].copy_from_slice(&self.shard_index.to_le_bytes());
        out[46..48].copy_from_slice(&[0, 0]);
    }

    /// Reads only the sequence number, for the replay check that runs before decryption.
    pub fn peek_seq(datagram: &[u8]) -> Result<u64, WireError> {
        let bytes = datagram.get(16..24).ok_or(WireError::TooShort)?;
        Ok(u64::from_le_bytes(
            bytes.try_into().map_err(|_| WireError::TooShort)?,
        ))
    }

    /// Decodes and validates a header from the start of `buf`.
    pub fn decode(buf: &[u8]) -> Result<PacketHeader, WireError> {
        let b: &[u8; HEADER_LEN] = buf
            .get(..HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(WireError::TooShort)?;
        if b[0..2] != MAGIC {
            return Err(WireError::BadMagic);
        }
        if b[2] != VERSION {
            return Err(WireError::UnsupportedVersion(b[2]));
        }
        let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(a)
        };
        let header = PacketHeader {
            kind: StreamKind::from_u8(b[3]).ok_or(WireError::UnknownKind(b[3]))?,
            flags: Flags::from_bits(b[4]).ok_or(WireError::UnknownFlags(b[4]))?,
            fec: FecScheme::from_u8(b[5]).ok_or(WireError::UnknownFec(b[5]))?,
            shard_bytes: u16_at(6),
            session_id: u32_at(8),
            frame_index: u32_at(12),
            seq: u64_at(16),
            pts_us: u64_at(24),
            frame_len: u32_at(32),
            block_index: u16_at(36),
            block_count: u16_at(38),
            data_shards: u16_at(40),
            recovery_shards: u16_at(42),
            shard_index: u16_at(44),
        };
        if u16_at(46) != 0 {
            return Err(WireError::ReservedNonZero);
        }
        header.validate()?;
        Ok(header)
    }

    /// Checks the relations between fields that a well-formed sender always satisfies.
    pub fn validate(&self) -> Result<(), WireError> {
        use WireError::Invalid;
        if self.frame_len == 0 || self.frame_len > MAX_FRAME_LEN {
            return Err(Invalid("frame length outside 1..=16 MiB"));
        }
        if self.shard_bytes == 0 {
            return Err(Invalid("zero shard size"));
        }
        if self.block_count == 0 || self.block_index >= self.block_count {
            return Err(Invalid("block index outside block count"));
        }
        if self.data_shards == 0 || self.block_shards() > MAX_BLOCK_SHARDS {
            return Err(Invalid("block shard counts out of range"));
        }
        if u32::from(self.shard_index) >= self.block_shards() {
            return Err(Invalid("shard index outside block"));
        }
        match self.fec {
            FecScheme::None if self.recovery_shards != 0 => {
                return Err(Invalid("recovery shards without FEC scheme"));
            }
            FecScheme::Gf8Cauchy if self.block_shards() > 255 => {
                return Err(Invalid("GF(2^8) block larger than 255 shards"));
            }
            FecScheme::Gf16Leopard if !self.shard_bytes.is_multiple_of(2) => {
                return Err(Invalid("GF(2^16) shard size must be even"));
            }
            FecScheme::Gf8Cauchy | FecScheme::Gf16Leopard if self.recovery_shards == 0 => {
                return Err(Invalid("FEC scheme without recovery shards"));
            }
            _ => {}
        }
        // The frame's data shards must cover its bytes exactly (at most one shard of padding).
        let total_data = u64::from(self.frame_len).div_ceil(u64::from(self.shard_bytes));
        if total_data < u64::from(self.block_count) {
            return Err(Invalid("more blocks than data shards"));
        }
        let layout = super::BlockLayout::new(total_data as u32, self.block_count);
        if layout.data_shards(self.block_index) != u32::from(self.data_shards) {
            return Err(Invalid("data shard count disagrees with frame layout"));
        }
        let start = self.flags.contains(Flags::START_OF_FRAME);
        let end = self.flags.contains(Flags::END_OF_FRAME);
        if start != (self.block_index == 0) || end != (self.block_index + 1 == self.block_count) {
            return Err(Invalid("start/end flags disagree with block index"));
        }
        Ok(())
    }
}
