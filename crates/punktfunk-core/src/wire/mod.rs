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
    #[error("datagram shorter than its header")]
    TooShort,
    #[error("bad magic")]
    BadMagic,
    #[error("unsupported wire version {0}")]
    UnsupportedVersion(u8),
    #[error("unknown stream kind {0}")]
    UnknownKind(u8),
    #[error("unknown flag bits {0:#04x}")]
    UnknownFlags(u8),
    #[error("unknown FEC scheme {0}")]
    UnknownFec(u8),
    #[error("reserved header bytes are not zero")]
    ReservedNonZero,
    #[error("invalid header: {0}")]
    Invalid(&'static str),
}
