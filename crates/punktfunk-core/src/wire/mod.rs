//! Data-plane wire format: the packet header and how a frame's shards are laid out in blocks.

mod header;
mod layout;

pub use header::{
    FecScheme, Flags, HEADER_LEN, MAGIC, MAX_BLOCK_SHARDS, MAX_FRAME_LEN, PacketHeader, StreamKind,
    VERSION,
};
pub use layout::BlockLayout;

/// Why a datagram's header was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Fewer bytes than the 48-byte header.
    #[error("datagram shorter than its header")]
    TooShort,
    /// The first two bytes are not `"PF"`.
    #[error("bad magic")]
    BadMagic,
    /// A wire version other than [`VERSION`]; carries it.
    #[error("unsupported wire version {0}")]
    UnsupportedVersion(u8),
    /// A stream kind byte with no [`StreamKind`]; carries it.
    #[error("unknown stream kind {0}")]
    UnknownKind(u8),
    /// A flag bit with no meaning yet is set; carries the byte.
    #[error("unknown flag bits {0:#04x}")]
    UnknownFlags(u8),
    /// An FEC scheme byte with no [`FecScheme`]; carries it.
    #[error("unknown FEC scheme {0}")]
    UnknownFec(u8),
    /// The reserved bytes 46–47 are not zero.
    #[error("reserved header bytes are not zero")]
    ReservedNonZero,
    /// A field is out of range or contradicts another (e.g. shard index ≥ k + m); names it.
    #[error("invalid header: {0}")]
    Invalid(&'static str),
}
