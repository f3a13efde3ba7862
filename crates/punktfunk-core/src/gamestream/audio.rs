//! Opus-in-RTP audio datagrams with GameStream's fixed RS(4,2) FEC and optional AES-128-CBC.
//!
//! Data datagram: RTP `0x80`, payload type 97, BE16 sequence (from 0, so FEC blocks start at multiples
//! of 4), BE32 timestamp advancing by the packet duration in milliseconds, SSRC 0, then one Opus
//! packet — encrypted when negotiated, with IV = `BE32(rikeyid + sequence)` followed by 12 zero bytes.
//!
//! After every fourth data datagram come two parity datagrams: RTP `0x80`, payload type 127, sequence
//! continuing after the block's last data packet (Sunshine reuses the next block's numbers; the client
//! tells the two apart by payload type), timestamp 0, SSRC 0; a 12-byte FEC header (shard index, 97,
//! BE16 base sequence, BE32 base timestamp, BE32 SSRC 0); and the parity over the four RTP payloads
//! as sent (ciphertext when encrypted).

use super::fec::{AUDIO_DATA_SHARDS, AUDIO_PARITY_SHARDS, AudioFec, GsFecError};
use aws_lc_rs::cipher::{
    AES_128, DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey,
    PaddedBlockEncryptingKey, UnboundCipherKey,
};

/// Bytes of the RTP header (no extension) in front of every audio datagram.
pub const RTP_HEADER_LEN: usize = 12;
/// Bytes of the FEC header after the RTP header of a parity datagram.
pub const FEC_HEADER_LEN: usize = 12;
/// RTP payload type of an Opus data datagram.
pub const AUDIO_PAYLOAD_TYPE: u8 = 97;
/// RTP payload type of an FEC parity datagram.
pub const FEC_PAYLOAD_TYPE: u8 = 127;
/// First RTP byte: version 2, no padding, extension or CSRCs.
pub const RTP_VERSION: u8 = 0x80;
/// Moonlight receives audio into 1400-byte buffers; longer datagrams are cut off.
pub const MAX_DATAGRAM: usize = 1400;

/// Why an audio packet could not be sent or a datagram read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudioError {
    /// The datagram would exceed [`MAX_DATAGRAM`]; carries its length.
    #[error("audio datagram of {0} bytes exceeds the client's {MAX_DATAGRAM}-byte buffer")]
    TooLarge(usize),
    /// The encoder produced an empty Opus packet.
    #[error("empty Opus packet")]
    Empty,
    /// The `rikey` was not accepted as an AES-128 key.
    #[error("invalid AES-128 key")]
    BadKey,
    /// AES-CBC encryption or decryption failed (bad padding on decrypt).
    #[error("AES-CBC failed")]
    Cipher,
    /// A datagram too short for its headers, or with another payload type.
    #[error("datagram too short or not an audio data packet")]
    Malformed,
    /// The RS(4,2) parity could not be computed.
    #[error(transparent)]
    Fec(#[from] GsFecError),
}

/// Audio encryption parameters from `/launch`: `rikey` and `rikeyid` (the signed decimal the client
/// sent, i.e. the big-endian reading of its IV's first four bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioEncryption {
    /// The session's `rikey`, the AES-128-CBC key.
    pub key: [u8; 16],
    /// `rikeyid`: its big-endian bytes start every packet's IV (plus the sequence number).
    pub key_id: i32,
}

/// The CBC IV of the packet with RTP sequence `sequence`.
pub fn audio_iv(key_id: i32, sequence: u16) -> [u8; 16] {
    let mut iv = [0u8; 16];
    let n = (key_id as u32).wrapping_add(u32::from(sequence));
    iv[..4].copy_from_slice(&n.to_be_bytes());
    iv
}

/// Turns encoded Opus packets into data and parity datagrams.
pub struct AudioPacketizer {
    packet_duration_ms: u32,
    sequence: u16,
    timestamp: u32,
    cipher: Option<(PaddedBlockEncryptingKey, i32)>,
    fec: AudioFec,
    /// RTP payloads of the current FEC block as sent.
    block: Vec<Vec<u8>>,
    block_base_timestamp: u32,
    skipped_fec_blocks: u64,
}

impl AudioPacketizer {
    /// `packet_duration_ms` is the ANNOUNCE's `x-nv-aqos.packetDuration` (5 or 10).
    pub fn new(
        packet_duration_ms: u32,
        encryption: Option<AudioEncryption>,
    ) -> Result<Self, AudioError> {
        let cipher = encryption
            .map(|e| {
                let key =
                    UnboundCipherKey::new(&AES_128, &e.key).map_err(|_| AudioError::BadKey)?;
                let key =
                    PaddedBlockEncryptingKey::cbc_pkcs7(key).map_err(|_| AudioError::BadKey)?;
                Ok::<_, AudioError>((key, e.key_id))
            })
            .transpose()?;
        Ok(AudioPacketizer {
            packet_duration_ms,
            sequence: 0,
            timestamp: 0,
            cipher,
            fec: AudioFec::new()?,
            block: Vec::with_capacity(AUDIO_DATA_SHARDS),
            block_base_timestamp: 0,
            skipped_fec_blocks: 0,
        })
    }

    /// Blocks sent without parity because their four payloads differed in length (the code needs
    /// equal shards, and the client drops parity of a different size). CBR Opus never causes this.
    pub fn skipped_fec_blocks(&self) -> u64 {
        self.skipped_fec_blocks
    }

    /// The datagrams for one Opus packet: its data datagram, followed by the block's two parity
    /// datagrams when it completes a block of four.
    pub fn packetize(&mut self, opus: &[u8]) -> Result<Vec<Vec<u8>>, AudioError> {
        if opus.is_empty() {
            return Err(AudioError::Empty);
        }
        let sequence = self.sequence;
        let payload = match &self.cipher {
            Some((key, key_id)) => {
                let mut buf = opus.to_vec();
                let iv = audio_iv(*key_id, sequence);
                key.less_safe_encrypt(&mut buf, EncryptionContext::Iv128(iv.into()))
                    .map_err(|_| AudioError::Cipher)?;
                buf
            }
            None => opus.to_vec(),
        };
        let len = RTP_HEADER_LEN + payload.len();
        if len > MAX_DATAGRAM {
            return Err(AudioError::TooLarge(len));
        }

        if usize::from(sequence) % AUDIO_DATA_SHARDS == 0 {
            self.block.clear();
            self.block_base_timestamp = self.timestamp;
        }
        let mut datagram = Vec::with_capacity(len);
        datagram.extend_from_slice(&rtp_header(AUDIO_PAYLOAD_TYPE, sequence, self.timestamp));
        datagram.extend_from_slice(&payload);
        let mut out = vec![datagram];
        self.block.push(payload);
        self.sequence = sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(self.packet_duration_ms);

        if self.block.len() == AUDIO_DATA_SHARDS {
            out.extend(self.parity_datagrams(sequence)?);
        }
        Ok(out)
    }

    fn parity_datagrams(&mut self, last_sequence: u16) -> Result<Vec<Vec<u8>>, AudioError> {
        let shard_len = self.block[0].len();
        if self.block.iter().any(|p| p.len() != shard_len) {
            self.skipped_fec_blocks += 1;
            return Ok(Vec::new());
        }
        let refs: Vec<&[u8]> = self.block.iter().map(Vec::as_slice).collect();
        let mut parity = vec![0u8; AUDIO_PARITY_SHARDS * shard_len];
        self.fec.encode(&refs, &mut parity)?;
        let base_sequence = last_sequence.wrapping_sub(AUDIO_DATA_SHARDS as u16 - 1);
        Ok(parity
            .chunks_exact(shard_len)
            .enumerate()
            .map(|(x, shard)| {
                let mut d = Vec::with_capacity(RTP_HEADER_LEN + FEC_HEADER_LEN + shard_len);
                let sequence = last_sequence.wrapping_add(1 + x as u16);
                d.extend_from_slice(&rtp_header(FEC_PAYLOAD_TYPE, sequence, 0));
                d.push(x as u8);
                d.push(AUDIO_PAYLOAD_TYPE);
                d.extend_from_slice(&base_sequence.to_be_bytes());
                d.extend_from_slice(&self.block_base_timestamp.to_be_bytes());
                d.extend_from_slice(&0u32.to_be_bytes());
                d.extend_from_slice(shard);
                d
            })
            .collect())
    }
}

fn rtp_header(payload_type: u8, sequence: u16, timestamp: u32) -> [u8; RTP_HEADER_LEN] {
    let mut h = [0u8; RTP_HEADER_LEN];
    h[0] = RTP_VERSION;
    h[1] = payload_type;
    h[2..4].copy_from_slice(&sequence.to_be_bytes());
    h[4..8].copy_from_slice(&timestamp.to_be_bytes());
    h
}

/// The header fields of an audio datagram as the client reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioPacket<'a> {
    /// An Opus packet (payload type 97).
    Data {
        /// RTP sequence number, from 0, contiguous over data packets.
        sequence: u16,
        /// RTP timestamp in milliseconds, advancing by the packet duration.
        timestamp: u32,
        /// The Opus packet, encrypted when audio encryption is on.
        payload: &'a [u8],
    },
    /// One of the two parity shards of a block of four (payload type 127).
    Parity {
        /// Parity shard index within the block, 0 or 1.
        shard_index: u8,
        /// Sequence number of the block's first data packet.
        base_sequence: u16,
        /// Timestamp of the block's first data packet.
        base_timestamp: u32,
        /// Parity over the block's four payloads as sent.
        parity: &'a [u8],
    },
}

impl<'a> AudioPacket<'a> {
    /// Reads the RTP (and, for parity, FEC) header of one audio datagram.
    pub fn parse(datagram: &'a [u8]) -> Result<Self, AudioError> {
        let header = datagram
            .get(..RTP_HEADER_LEN)
            .ok_or(AudioError::Malformed)?;
        let rest = &datagram[RTP_HEADER_LEN..];
        match header[1] {
            AUDIO_PAYLOAD_TYPE => Ok(AudioPacket::Data {
                sequence: u16::from_be_bytes([header[2], header[3]]),
                timestamp: u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
                payload: rest,
            }),
            FEC_PAYLOAD_TYPE => {
                let fec = rest.get(..FEC_HEADER_LEN).ok_or(AudioError::Malformed)?;
                Ok(AudioPacket::Parity {
                    shard_index: fec[0],
                    base_sequence: u16::from_be_bytes([fec[2], fec[3]]),
                    base_timestamp: u32::from_be_bytes([fec[4], fec[5], fec[6], fec[7]]),
                    parity: &rest[FEC_HEADER_LEN..],
                })
            }
            _ => Err(AudioError::Malformed),
        }
    }
}

/// The client side of audio encryption, for probes and tests: decrypts one data payload.
pub fn decrypt_payload(
    encryption: &AudioEncryption,
    sequence: u16,
    ciphertext: &[u8],
) -> Result<Vec<u8>, AudioError> {
    let key = UnboundCipherKey::new(&AES_128, &encryption.key).map_err(|_| AudioError::BadKey)?;
    let key = PaddedBlockDecryptingKey::cbc_pkcs7(key).map_err(|_| AudioError::BadKey)?;
    let mut buf = ciphertext.to_vec();
    let iv = audio_iv(encryption.key_id, sequence);
    let plain_len = key
        .decrypt(&mut buf, DecryptionContext::Iv128(iv.into()))
        .map_err(|_| AudioError::Cipher)?
        .len();
    buf.truncate(plain_len);
    Ok(buf)
}

#[cfg(test)]
mod tests;
