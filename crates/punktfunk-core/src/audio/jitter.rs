//! The receiving end's jitter buffer for Opus packets, pulled by the playback clock one packet at a
//! time.
//!
//! - **Reorder:** packets are slotted by frame index, so any order within the window plays in order.
//! - **Loss:** a missing packet whose successor is already here plays as [`Pull::Conceal`] (the
//!   decoder's packet-loss concealment); the redundant copy in the next payload fills the slot first
//!   when it arrives in time.
//! - **Underrun:** nothing buffered at all → [`Pull::Silence`], and playback waits until
//!   `target` packets are buffered again.
//! - **Drift:** when the sender's clock runs faster than ours the buffer creeps up; if it never fell
//!   below `target + 1` packets over a whole [`JitterConfig::drift_window`] pulls, one packet is
//!   dropped. A slower sender shows up as underruns, which rebuffer.

use std::collections::VecDeque;

/// Sizing of a [`JitterBuffer`], in packets (5 ms each on punktfunk/1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Packets buffered before playback starts (and after an underrun).
    pub target: usize,
    /// Most packets held; a packet further ahead skips the oldest ones (counted as late drops).
    pub capacity: usize,
    /// Pulls over which the lowest fill level is watched for drift.
    pub drift_window: usize,
}

impl Default for JitterConfig {
    /// 20 ms of 5 ms packets, up to 200 ms held, drift judged over 0.5 s.
    fn default() -> Self {
        JitterConfig {
            target: 4,
            capacity: 40,
            drift_window: 100,
        }
    }
}

/// What the playback clock gets for one packet slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pull {
    /// The Opus packet for this slot, to decode.
    Packet(Vec<u8>),
    /// This packet was lost: conceal it.
    Conceal,
    /// Nothing to play (not started, or an underrun): play silence.
    Silence,
}

/// Counters of a [`JitterBuffer`] since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted into a slot.
    pub inserted: u64,
    /// Slots played from a received packet.
    pub played: u64,
    /// Slots played as concealment because their packet was missing.
    pub concealed: u64,
    /// Missing packets filled from the next payload's redundant copy.
    pub recovered_from_redundancy: u64,
    /// Times the buffer ran empty and playback rebuffered.
    pub underruns: u64,
    /// Packets that arrived after their slot was played (dropped).
    pub late: u64,
    /// Packets whose slot was already filled (dropped).
    pub duplicates: u64,
    /// Packets dropped because the sender's clock runs faster than ours.
    pub dropped_for_drift: u64,
    /// Slots skipped because a packet arrived beyond `capacity`.
    pub overflow_skipped: u64,
}

/// Reorders, de-duplicates and paces received Opus packets for playback (see the module docs).
pub struct JitterBuffer {
    config: JitterConfig,
    /// `slots[i]` holds frame `next + i`.
    slots: VecDeque<Option<Vec<u8>>>,
    /// Frame index played next; `None` before the first packet.
    next: Option<u32>,
    playing: bool,
    /// Lowest fill level seen in the current drift window, and pulls into it.
    low_water: usize,
    window_pulls: usize,
    stats: JitterStats,
}

impl JitterBuffer {
    /// An empty buffer that starts playing once `config.target` packets are buffered.
    pub fn new(config: JitterConfig) -> Self {
        let config = JitterConfig {
            target: config.target.max(1),
            capacity: config.capacity.max(config.target.max(1) + 1),
            drift_window: config.drift_window.max(1),
        };
        JitterBuffer {
            config,
            slots: VecDeque::new(),
            next: None,
            playing: false,
            low_water: usize::MAX,
            window_pulls: 0,
            stats: JitterStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// The frame index played next (`None` before the first packet).
    pub fn next_index(&self) -> Option<u32> {
        self.next
    }

    /// Packets held from the play position to the newest one (gaps included).
    pub fn depth(&self) -> usize {
        self.slots.len()
    }

    /// A packet for frame `index` arrived.
    pub fn insert(&mut self, index: u32, packet: &[u8]) {
        if self.place(index, packet) {
            self.stats.inserted += 1;
        }
    }

    /// The redundant copy of frame `index` arrived (inside the next frame's payload); it only fills a
    /// slot that is still empty.
    pub fn insert_redundant(&mut self, index: u32, packet: &[u8]) {
        let Some(next) = self.next else { return };
        let offset = index.wrapping_sub(next);
        if offset >= self.slots.len() as u32 {
            return;
        }
        if let Some(slot @ None) = self.slots.get_mut(offset as usize) {
            *slot = Some(packet.to_vec());
            self.stats.recovered_from_redundancy += 1;
        }
    }

    fn place(&mut self, index: u32, packet: &[u8]) -> bool {
        let next = *self.next.get_or_insert(index);
        let offset = index.wrapping_sub(next);
        // Behind the play position (wrapping distance ≥ 2³¹) → too late.
        if offset >= 1 << 31 {
            self.stats.late += 1;
            return false;
        }
        let mut offset = offset as usize;
        if offset >= self.config.capacity {
            // Far ahead: keep the newest `capacity` frames.
            let skip = offset + 1 - self.config.capacity;
            for _ in 0..skip {
                if self.slots.pop_front().is_none() {
                    break;
                }
            }
            self.stats.overflow_skipped += skip as u64;
            self.next = Some(next.wrapping_add(skip as u32));
            offset -= skip;
        }
        while self.slots.len() <= offset {
            self.slots.push_back(None);
        }
        match &mut self.slots[offset] {
            Some(_) => {
                self.stats.duplicates += 1;
                false
            }
            slot => {
                *slot = Some(packet.to_vec());
                true
            }
        }
    }

    /// The playback clock wants the next packet.
    pub fn pull(&mut self) -> Pull {
        if !self.playing {
            if self.slots.len() < self.config.target {
                return Pull::Silence;
            }
            self.playing = true;
            self.reset_window();
        }
        if self.slots.is_empty() {
            self.playing = false;
            self.stats.underruns += 1;
            return Pull::Silence;
        }
        self.watch_drift();
        let Some(slot) = self.slots.pop_front() else {
            return Pull::Silence;
        };
        self.next = self.next.map(|n| n.wrapping_add(1));
        match slot {
            Some(packet) => {
                self.stats.played += 1;
                Pull::Packet(packet)
            }
            None => {
                self.stats.concealed += 1;
                Pull::Conceal
            }
        }
    }

    fn watch_drift(&mut self) {
        self.low_water = self.low_water.min(self.slots.len());
        self.window_pulls += 1;
        if self.window_pulls < self.config.drift_window {
            return;
        }
        if self.low_water > self.config.target + 1 && self.slots.len() > 1 {
            // Drop the oldest packet: one 5 ms step back towards the target delay.
            self.slots.pop_front();
            self.next = self.next.map(|n| n.wrapping_add(1));
            self.stats.dropped_for_drift += 1;
        }
        self.reset_window();
    }

    fn reset_window(&mut self) {
        self.low_water = usize::MAX;
        self.window_pulls = 0;
    }
}
