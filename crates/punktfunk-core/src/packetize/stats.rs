//! Receiver-side loss statistics from packet sequence numbers: how many packets went missing and in
//! what bursts. One window of these is what the client reports and what the adaptive FEC policy reads.

/// Loss observed over one reporting window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LossStats {
    /// Packets the sender sent in the window, as far as sequence numbers tell.
    pub packets_expected: u64,
    /// Authenticated packets that arrived in the window.
    pub packets_received: u64,
    /// Runs of consecutive missing packets, and the longest one.
    pub bursts: u64,
    /// Packets in the longest burst of the window.
    pub max_burst: u64,
    /// Shards the FEC rebuilt and frames that could not be completed.
    pub shards_recovered: u64,
    /// Frames delivered complete in the window.
    pub frames_complete: u64,
    /// Frames given up as lost in the window.
    pub frames_lost: u64,
}

impl LossStats {
    /// Packets expected but not received (never negative).
    pub fn packets_lost(&self) -> u64 {
        self.packets_expected.saturating_sub(self.packets_received)
    }

    /// Fraction of packets lost, 0.0 ..= 1.0 (0 when nothing was expected).
    pub fn loss_fraction(&self) -> f64 {
        if self.packets_expected == 0 {
            0.0
        } else {
            self.packets_lost() as f64 / self.packets_expected as f64
        }
    }

    /// Mean length of a loss burst (1.0 for independent losses).
    pub fn mean_burst(&self) -> f64 {
        if self.bursts == 0 {
            0.0
        } else {
            self.packets_lost() as f64 / self.bursts as f64
        }
    }
}

/// Tracks sequence numbers of authenticated packets.
#[derive(Debug, Clone, Default)]
pub struct LossTracker {
    /// One past the highest sequence number seen.
    next: Option<u64>,
    window: LossStats,
}

impl LossTracker {
    /// A tracker that has seen no packet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an authenticated packet with sequence `seq`.
    pub fn on_packet(&mut self, seq: u64) {
        self.window.packets_received += 1;
        match self.next {
            None => {
                self.window.packets_expected += 1;
                self.next = Some(seq.saturating_add(1));
            }
            Some(next) if seq >= next => {
                let gap = seq - next;
                if gap > 0 {
                    self.window.bursts += 1;
                    self.window.max_burst = self.window.max_burst.max(gap);
                }
                self.window.packets_expected += gap + 1;
                self.next = Some(seq.saturating_add(1));
            }
            // A reordered packet fills a gap counted earlier (possibly in an earlier window, in which
            // case this window reports slightly less loss than happened in it — never more).
            Some(_) => {}
        }
    }

    pub(crate) fn on_recovered(&mut self, shards: u64) {
        self.window.shards_recovered += shards;
    }
    pub(crate) fn on_frame_complete(&mut self) {
        self.window.frames_complete += 1;
    }
    pub(crate) fn on_frames_lost(&mut self, count: u64) {
        self.window.frames_lost += count;
    }

    /// Statistics since the last call; starts a new window.
    pub fn take_window(&mut self) -> LossStats {
        let mut w = std::mem::take(&mut self.window);
        w.packets_received = w.packets_received.min(w.packets_expected);
        w
    }

    /// Statistics of the current window so far.
    pub fn window(&self) -> &LossStats {
        &self.window
    }
}
