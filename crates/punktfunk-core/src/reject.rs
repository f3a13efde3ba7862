//! Why an incoming datagram or shard was dropped, and counters of each reason.

use crate::wire::WireError;

/// The reason a datagram was rejected. Every rejection is counted; none is fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// Shorter than header plus tag (64 bytes).
    #[error("datagram too short")]
    TooShort,
    /// Longer than 65 507 bytes, the largest UDP payload.
    #[error("datagram larger than any sender produces")]
    Oversize,
    /// The header failed a field check; carries which.
    #[error("malformed header: {0}")]
    Malformed(WireError),
    /// The session id is not this receiver's.
    #[error("datagram for another session")]
    WrongSession,
    /// The datagram's length is not header + `shard_bytes` + tag.
    #[error("payload length disagrees with the header's shard size")]
    LengthMismatch,
    /// AES-GCM rejected the tag: wrong key, wrong direction or tampered bytes.
    #[error("authentication tag mismatch")]
    BadTag,
    /// The sequence number was already accepted.
    #[error("replayed packet")]
    Replayed,
    /// The sequence number is behind the replay window.
    #[error("packet older than the replay window")]
    TooOld,
    /// The header's frame-wide fields differ from earlier shards of the same frame.
    #[error("shard contradicts earlier packets of its frame")]
    Inconsistent,
    /// The frame was already delivered or abandoned.
    #[error("frame already delivered or given up")]
    Late,
    /// This shard of the frame was already received.
    #[error("duplicate shard")]
    Duplicate,
    /// Accepting the shard would exceed the reassembler's memory budget.
    #[error("frame would exceed the reassembly memory budget")]
    OverBudget,
}

/// Count of rejected datagrams per [`Reject`] reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectCounters {
    /// Datagrams rejected as [`Reject::TooShort`].
    pub too_short: u64,
    /// Datagrams rejected as [`Reject::Oversize`].
    pub oversize: u64,
    /// Datagrams rejected as [`Reject::Malformed`], any field.
    pub malformed: u64,
    /// Datagrams rejected as [`Reject::WrongSession`].
    pub wrong_session: u64,
    /// Datagrams rejected as [`Reject::LengthMismatch`].
    pub length_mismatch: u64,
    /// Datagrams rejected as [`Reject::BadTag`].
    pub bad_tag: u64,
    /// Datagrams rejected as [`Reject::Replayed`].
    pub replayed: u64,
    /// Datagrams rejected as [`Reject::TooOld`].
    pub too_old: u64,
    /// Datagrams rejected as [`Reject::Inconsistent`].
    pub inconsistent: u64,
    /// Datagrams rejected as [`Reject::Late`].
    pub late: u64,
    /// Datagrams rejected as [`Reject::Duplicate`].
    pub duplicate: u64,
    /// Datagrams rejected as [`Reject::OverBudget`].
    pub over_budget: u64,
}

impl RejectCounters {
    /// Counts one rejection under its reason.
    pub fn record(&mut self, reason: Reject) {
        let slot = match reason {
            Reject::TooShort => &mut self.too_short,
            Reject::Oversize => &mut self.oversize,
            Reject::Malformed(_) => &mut self.malformed,
            Reject::WrongSession => &mut self.wrong_session,
            Reject::LengthMismatch => &mut self.length_mismatch,
            Reject::BadTag => &mut self.bad_tag,
            Reject::Replayed => &mut self.replayed,
            Reject::TooOld => &mut self.too_old,
            Reject::Inconsistent => &mut self.inconsistent,
            Reject::Late => &mut self.late,
            Reject::Duplicate => &mut self.duplicate,
            Reject::OverBudget => &mut self.over_budget,
        };
        *slot += 1;
    }

    /// Rejections over all reasons.
    pub fn total(&self) -> u64 {
        self.too_short
            + self.oversize
            + self.malformed
            + self.wrong_session
            + self.length_mismatch
            + self.bad_tag
            + self.replayed
            + self.too_old
            + self.inconsistent
            + self.late
            + self.duplicate
            + self.over_budget
    }
}
