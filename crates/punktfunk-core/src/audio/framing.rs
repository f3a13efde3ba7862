//! How audio travels on the punktfunk/1 data plane, for both ends: one Opus packet per sealed
//! audio-kind datagram, never split into shards and without FEC — the payload carries the previous
//! packet too, which is its redundancy ([`AudioPayload`]).

use super::packet::{AudioPacketError, AudioPayload, MAX_OPUS_PACKET};
use crate::crypto::{CryptoError, DirectionKey};
use crate::packetize::{
    DatagramBatch, FecConfig, FrameInput, PacketizeError, Packetizer, PacketizerConfig,
};
use crate::wire::{PacketHeader, StreamKind};
use std::time::Duration;
use thiserror::Error;

/// One packet's duration on the wire.
pub const FRAME: Duration = Duration::from_millis(super::FRAME_MS as u64);

/// Why an audio packet could not be sent or a received frame read.
#[derive(Debug, Error)]
pub enum AudioFramingError {
    /// The payload inside the datagram is malformed.
    #[error(transparent)]
    Packet(#[from] AudioPacketError),
    /// An audio frame whose header claims more than one shard; carries the count.
    #[error("audio frame spans {0} shards; audio frames are single datagrams")]
    MultiShard(u32),
    /// Sealing or opening failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The packetizer refused the payload.
    #[error(transparent)]
    Packetize(#[from] PacketizeError),
}

/// The audio payload of an opened audio-kind datagram.
pub fn audio_frame<'a>(
    header: &PacketHeader,
    plaintext: &'a [u8],
) -> Result<AudioPayload<'a>, AudioFramingError> {
    let single = header.block_count == 1 && header.data_shards == 1 && header.shard_index == 0;
    if !single {
        return Err(AudioFramingError::MultiShard(u32::from(header.data_shards)));
    }
    let len = (header.frame_len as usize).min(plaintext.len());
    Ok(AudioPayload::decode(&plaintext[..len])?)
}

/// Opus packets → sealed audio datagrams, each payload also carrying the previous packet.
pub struct AudioPacketizer {
    packetizer: Packetizer,
    previous: Vec<u8>,
    payload: Vec<u8>,
    batch: DatagramBatch,
}

impl AudioPacketizer {
    /// A packetizer for `session_id`, sealing with this direction's audio key.
    pub fn new(session_id: u32, key: &DirectionKey) -> Result<Self, AudioFramingError> {
        let mut config = PacketizerConfig::new(StreamKind::Audio, session_id);
        config.fec = FecConfig::disabled();
        // Two packets and the header always fit one datagram (loopback or not, 2 × 4000 + 4 bytes
        // stays far below the UDP limit; real packets are a few hundred bytes).
        config.max_datagram = 2 * MAX_OPUS_PACKET + 64 + 64;
        Ok(AudioPacketizer {
            packetizer: Packetizer::new(config, key)?,
            previous: Vec::new(),
            payload: Vec::new(),
            batch: DatagramBatch::new(),
        })
    }

    /// Seals one packet (plus the previous one) captured at `pts_us`; the datagram is
    /// [`batch`](Self::packetize)'s result until the next call.
    pub fn packetize(
        &mut self,
        opus: &[u8],
        pts_us: u64,
    ) -> Result<&DatagramBatch, AudioFramingError> {
        self.payload.clear();
        AudioPayload {
            primary: opus,
            previous: (!self.previous.is_empty()).then_some(&self.previous[..]),
        }
        .encode(&mut self.payload)?;
        self.packetizer.packetize(
            FrameInput {
                data: &self.payload,
                pts_us,
                keyframe: true,
                recovery_point: false,
            },
            &mut self.batch,
        )?;
        self.previous.clear();
        self.previous.extend_from_slice(opus);
        Ok(&self.batch)
    }
}
