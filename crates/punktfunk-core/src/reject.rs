//! Why an incoming datagram or shard was dropped, and counters of each reason.

use crate::wire::WireError;

/// The reason a datagram was rejected. Every rejection is counted; none is fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("datagram too short")]
    TooShort,
    #[error("datagram larger than any sender produces")]
    Oversize,
    #[error("malformed header: {0}")]
    Malformed(WireError),
    #[error("datagram for another session")]
    WrongSession,
    #[error("payload length disagrees with the header's shard size")]
    LengthMismatch,
    #[error("authentication tag mismatch")]
    BadTag,
    #[error("replayed packet")]
    Replayed,
    #[error("packet older than the replay window")]
    TooOld,
    #[error("shard contradicts earlier packets of its frame")]
    Inconsistent,
    #[error("frame already delivered or given up")]
    Late,
    #[error("duplicate shard")]
    Duplicate,
    #[error("frame would exceed the reassembly memory budget")]
    OverBudget,
}

/// Count of rejected datagrams per [`Reject`] reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectCounters {
    pub too_short: u64,
    pub oversize: u64,
    pub malformed: u64,
    pub wrong_session: u64,
    pub length_mismatch: u64,
    pub bad_tag: u64,
    pub replayed: u64,
    pub too_old: u64,
    pub inconsistent: u64,
    pub late: u64,
    pub duplicate: u64,
    pub over_budget: u64,
}

impl RejectCounters {
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
