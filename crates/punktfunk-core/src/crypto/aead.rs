//! Sealing and opening single datagrams in place.

use super::{CryptoError, DirectionKey, ReplayWindow, nonce_bytes, replay::ReplayCheck};
use crate::reject::{Reject, RejectCounters};
use crate::wire::{HEADER_LEN, PacketHeader};
use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// Bytes the AEAD tag adds after the payload.
pub const TAG_LEN: usize = 16;
/// Largest datagram the opener looks at; anything longer is rejected unread.
pub const MAX_DATAGRAM: usize = 65_507;

fn aes_key(key: &DirectionKey) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_128_GCM, &key.key)
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::BadKey)
}

/// Seals outgoing datagrams of one direction and owns its sequence counter.
pub struct Sealer {
    key: LessSafeKey,
    salt: [u8; 4],
    next_seq: u64,
}

impl Sealer {
    /// A sealer for one direction; its sequence starts at 0.
    pub fn new(key: &DirectionKey) -> Result<Self, CryptoError> {
        Ok(Sealer {
            key: aes_key(key)?,
            salt: key.salt,
            next_seq: 0,
        })
    }

    /// Hands out the next packet sequence number; each one is used for exactly one datagram.
    pub fn next_seq(&mut self) -> Result<u64, CryptoError> {
        self.reserve_seqs(1)
    }

    /// Hands out `count` consecutive sequence numbers and returns the first, for a batch whose
    /// datagrams are sealed in a different order than they are sent.
    pub fn reserve_seqs(&mut self, count: u64) -> Result<u64, CryptoError> {
        // u64::MAX is never used (the batch must end at or before it) so that the receiver's window
        // arithmetic cannot overflow.
        let end = self
            .next_seq
            .checked_add(count)
            .ok_or(CryptoError::SequenceExhausted)?;
        let first = self.next_seq;
        self.next_seq = end;
        Ok(first)
    }

    /// Seals `datagram` = `header (seq already encoded) ‖ payload ‖ TAG_LEN spare bytes` in place.
    pub fn seal_in_place(&self, datagram: &mut [u8]) -> Result<(), CryptoError> {
        if datagram.len() < HEADER_LEN + TAG_LEN {
            return Err(CryptoError::BufferTooSmall);
        }
        let seq = PacketHeader::peek_seq(datagram).map_err(|_| CryptoError::BufferTooSmall)?;
        let tag_at = datagram.len() - TAG_LEN;
        let (header, rest) = datagram.split_at_mut(HEADER_LEN);
        let (payload, tag_out) = rest.split_at_mut(tag_at - HEADER_LEN);
        let nonce = Nonce::assume_unique_for_key(nonce_bytes(&self.salt, seq));
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(&*header), payload)
            .map_err(|_| CryptoError::Seal)?;
        tag_out.copy_from_slice(tag.as_ref());
        Ok(())
    }
}

/// Opens incoming datagrams of one direction: validates, de-duplicates, authenticates, decrypts.
pub struct Opener {
    key: LessSafeKey,
    salt: [u8; 4],
    session_id: u32,
    replay: ReplayWindow,
    rejects: RejectCounters,
}

impl Opener {
    /// An opener for one direction that accepts only datagrams of `session_id`.
    pub fn new(key: &DirectionKey, session_id: u32) -> Result<Self, CryptoError> {
        Ok(Opener {
            key: aes_key(key)?,
            salt: key.salt,
            session_id,
            replay: ReplayWindow::new(),
            rejects: RejectCounters::default(),
        })
    }

    /// Rejected datagrams so far, by reason.
    pub fn rejects(&self) -> &RejectCounters {
        &self.rejects
    }

    /// Opens `datagram` in place and returns its header and plaintext payload.
    ///
    /// Every failure is counted by reason; nothing about the input can make this panic.
    pub fn open<'a>(&mut self, datagram: &'a mut [u8]) -> Result<(PacketHeader, &'a [u8]), Reject> {
        let result = self.open_inner(datagram);
        if let Err(reason) = &result {
            self.rejects.record(*reason);
        }
        result
    }

    fn open_inner<'a>(
        &mut self,
        datagram: &'a mut [u8],
    ) -> Result<(PacketHeader, &'a [u8]), Reject> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(Reject::Oversize);
        }
        if datagram.len() < HEADER_LEN + TAG_LEN {
            return Err(Reject::TooShort);
        }
        let header = PacketHeader::decode(datagram).map_err(Reject::Malformed)?;
        if header.session_id != self.session_id {
            return Err(Reject::WrongSession);
        }
        if datagram.len() - HEADER_LEN - TAG_LEN != usize::from(header.shard_bytes) {
            return Err(Reject::LengthMismatch);
        }
        if header.seq == u64::MAX {
            return Err(Reject::Replayed);
        }
        match self.replay.check(header.seq) {
            ReplayCheck::Fresh => {}
            ReplayCheck::Replayed => return Err(Reject::Replayed),
            ReplayCheck::TooOld => return Err(Reject::TooOld),
        }
        let (aad, sealed) = datagram.split_at_mut(HEADER_LEN);
        let nonce = Nonce::assume_unique_for_key(nonce_bytes(&self.salt, header.seq));
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(&*aad), sealed)
            .map_err(|_| Reject::BadTag)?;
        self.replay.accept(header.seq);
        Ok((header, plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::new(&DirectionKey {
            key: [7; 16],
            salt: [1, 2, 3, 4],
        })
        .unwrap()
    }

    #[test]
    fn reserved_sequence_numbers_are_consecutive_and_never_reused() {
        let mut s = sealer();
        assert_eq!(s.next_seq(), Ok(0));
        assert_eq!(s.reserve_seqs(10), Ok(1));
        assert_eq!(s.next_seq(), Ok(11));
    }

    #[test]
    fn the_last_sequence_number_is_never_handed_out() {
        let mut s = sealer();
        s.next_seq = u64::MAX - 3;
        assert_eq!(s.reserve_seqs(4), Err(CryptoError::SequenceExhausted));
        assert_eq!(s.reserve_seqs(3), Ok(u64::MAX - 3), "up to u64::MAX - 1");
        assert_eq!(s.next_seq(), Err(CryptoError::SequenceExhausted));
    }
}
