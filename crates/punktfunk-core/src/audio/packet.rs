//! The payload of one audio-kind data-plane frame:
//!
//! ```text
//! 0  u8    version (= 1)
//! 1  u8    flags: bit 0 = a copy of the previous packet follows the primary one; bits 1-7 zero
//! 2  LE16  primary length P (1 ..= MAX_OPUS_PACKET)
//! 4  P     primary Opus packet (this frame)
//! 4+P …    previous Opus packet (the frame before; present iff bit 0, 1 ..= MAX_OPUS_PACKET bytes)
//! ```
//!
//! The frame's index and capture time are the data-plane header's `frame_index` and `pts_us`; the
//! redundant copy belongs to `frame_index − 1` (wrapping).

use thiserror::Error;

/// Payload version this code writes and accepts (byte 0).
pub const VERSION: u8 = 1;
const FLAG_PREVIOUS: u8 = 0x01;
const HEADER_LEN: usize = 4;
/// Largest Opus packet accepted: 8 channels (4 coupled + 4 mono streams at most) of 1275-byte
/// frames would be more, but a 5 ms packet at 512 kbit/s is 320 bytes; this bounds hostile input.
pub const MAX_OPUS_PACKET: usize = 4_000;

/// Why an audio payload could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AudioPacketError {
    /// Fewer than the 4 header bytes.
    #[error("audio payload shorter than its 4-byte header")]
    TooShort,
    /// A version byte other than [`VERSION`]; carries it.
    #[error("audio payload version {0}, expected 1")]
    Version(u8),
    /// Flag bits other than bit 0 are set; carries the byte.
    #[error("audio payload has unknown flags {0:#04x}")]
    Flags(u8),
    /// An Opus packet length outside 1..=[`MAX_OPUS_PACKET`]; carries it.
    #[error("audio packet length {0} outside 1..={MAX_OPUS_PACKET}")]
    Length(usize),
    /// The bytes after the header do not match the primary length and flags.
    #[error("audio payload length does not match its fields")]
    Truncated,
}

/// One decoded audio payload, borrowing from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioPayload<'a> {
    /// The Opus packet of this frame.
    pub primary: &'a [u8],
    /// The Opus packet of the previous frame, when the sender repeated it (redundancy against loss).
    pub previous: Option<&'a [u8]>,
}

impl<'a> AudioPayload<'a> {
    /// Appends the encoded payload to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), AudioPacketError> {
        check_len(self.primary.len())?;
        if let Some(p) = self.previous {
            check_len(p.len())?;
        }
        let flags = if self.previous.is_some() {
            FLAG_PREVIOUS
        } else {
            0
        };
        out.push(VERSION);
        out.push(flags);
        out.extend_from_slice(&(self.primary.len() as u16).to_le_bytes());
        out.extend_from_slice(self.primary);
        if let Some(p) = self.previous {
            out.extend_from_slice(p);
        }
        Ok(())
    }

    /// Parses a payload; never panics, whatever the bytes.
    pub fn decode(bytes: &'a [u8]) -> Result<AudioPayload<'a>, AudioPacketError> {
        let [version, flags, lo, hi, rest @ ..] = bytes else {
            return Err(AudioPacketError::TooShort);
        };
        if *version != VERSION {
            return Err(AudioPacketError::Version(*version));
        }
        if flags & !FLAG_PREVIOUS != 0 {
            return Err(AudioPacketError::Flags(*flags));
        }
        let len = usize::from(u16::from_le_bytes([*lo, *hi]));
        check_len(len)?;
        let (primary, tail) = rest
            .split_at_checked(len)
            .ok_or(AudioPacketError::Truncated)?;
        let previous = if flags & FLAG_PREVIOUS != 0 {
            check_len(tail.len())?;
            Some(tail)
        } else if tail.is_empty() {
            None
        } else {
            return Err(AudioPacketError::Truncated);
        };
        Ok(AudioPayload { primary, previous })
    }

    /// Bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.primary.len() + self.previous.map_or(0, <[u8]>::len)
    }
}

fn check_len(len: usize) -> Result<(), AudioPacketError> {
    if (1..=MAX_OPUS_PACKET).contains(&len) {
        Ok(())
    } else {
        Err(AudioPacketError::Length(len))
    }
}
