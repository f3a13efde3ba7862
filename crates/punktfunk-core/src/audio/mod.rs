//! Audio on punktfunk/1, sans IO: the payload of an audio-kind frame ([`packet`]), the receiver's
//! jitter buffer ([`jitter`]), the capture side's PCM FIFO with drift and underrun handling
//! ([`fifo`]), and the channel layouts both ends agree on ([`layout`]).
//!
//! Audio is 48 kHz, interleaved `f32`, Opus-coded in [`FRAME_MS`] ms packets (CELT, restricted
//! low delay). One Opus packet is one data-plane frame of kind audio, sent without FEC; instead each
//! payload also carries the previous packet, so any single lost datagram is rebuilt from the next
//! one (see docs/protocol.md, "Audio").

pub mod fifo;
pub mod framing;
pub mod jitter;
pub mod layout;
pub mod packet;

#[cfg(test)]
mod tests;

/// The only sample rate on the wire.
pub const SAMPLE_RATE: u32 = 48_000;
/// Packet duration on punktfunk/1.
pub const FRAME_MS: u32 = 5;
/// Samples per channel in one packet.
pub const FRAME_SAMPLES: usize = (SAMPLE_RATE / 1000 * FRAME_MS) as usize;
