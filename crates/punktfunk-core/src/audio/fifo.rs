//! The capture side's PCM FIFO between the audio graph's clock (PipeWire's quantum, pushed in
//! whatever chunk size the graph runs at) and the sender's clock (one packet every 5 ms of wall time).
//!
//! - **Underrun / nothing playing:** a packet with too few samples is completed with silence, so the
//!   stream never stops (a suspended sink produces no callbacks at all). After running dry the FIFO
//!   waits until `target` sample frames are buffered again before it plays: the graph delivers in
//!   quantum-sized bursts, and starting on the first burst would run dry again before the next.
//!   Each time it runs dry mid-stream the target grows by one packet (up to half the capacity): a
//!   loaded machine whose graph or sender wakes up late needs more slack, and keeps it.
//! - **Drift:** if the fill level never fell below `target + one packet` over `drift_window` pops,
//!   the surplus above `target` is dropped (oldest samples first); a graph clock slower than ours shows up as
//!   short packets (padded with silence).
//! - **Overflow:** more than `capacity` samples (a stalled sender) drops the oldest.

use std::collections::VecDeque;

/// Counters of a [`PcmFifo`] since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FifoStats {
    /// Sample frames pushed by the audio graph.
    pub pushed_frames: u64,
    /// Packets popped by the sender.
    pub popped: u64,
    /// Times the FIFO ran dry mid-stream (each one grows the target).
    pub underruns: u64,
    /// Pops that had to be padded, wholly or partly, with silence.
    pub silent_pops: u64,
    /// Times the surplus above target was dropped because the graph's clock runs fast.
    pub dropped_for_drift: u64,
    /// Sample frames dropped because the FIFO exceeded its capacity.
    pub overflow_frames: u64,
}

/// Interleaved f32 PCM between the capture graph and the packet clock (see the module docs).
pub struct PcmFifo {
    channels: usize,
    /// Sample frames (one sample per channel) per pop.
    packet: usize,
    target: usize,
    capacity: usize,
    drift_window: usize,
    samples: VecDeque<f32>,
    /// Playing (not refilling to `target` after running dry).
    primed: bool,
    low_water: usize,
    pops: usize,
    stats: FifoStats,
}

impl PcmFifo {
    /// `packet` sample frames per pop; `target` and `capacity` in sample frames.
    pub fn new(channels: u8, packet: usize, target: usize, capacity: usize) -> Self {
        let channels = usize::from(channels.max(1));
        let packet = packet.max(1);
        PcmFifo {
            channels,
            packet,
            target,
            capacity: capacity.max(target + 2 * packet),
            drift_window: 200,
            samples: VecDeque::new(),
            primed: false,
            low_water: usize::MAX,
            pops: 0,
            stats: FifoStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> FifoStats {
        self.stats
    }

    /// Sample frames kept buffered (grows after underruns).
    pub fn target(&self) -> usize {
        self.target
    }

    /// Sample frames buffered now.
    pub fn level(&self) -> usize {
        self.samples.len() / self.channels
    }

    /// Appends interleaved samples (a trailing partial sample frame is ignored).
    pub fn push(&mut self, interleaved: &[f32]) {
        let whole = interleaved.len() - interleaved.len() % self.channels;
        self.samples.extend(&interleaved[..whole]);
        self.stats.pushed_frames += (whole / self.channels) as u64;
        let over = self.level().saturating_sub(self.capacity);
        if over > 0 {
            self.samples.drain(..over * self.channels);
            self.stats.overflow_frames += over as u64;
        }
    }

    /// Fills `out` (exactly one packet: `packet × channels` samples) and returns how many sample
    /// frames were real audio; the rest is silence.
    pub fn pop(&mut self, out: &mut [f32]) -> usize {
        let want = (self.packet * self.channels).min(out.len());
        if !self.primed {
            if self.level() < self.target.max(self.packet) {
                out.fill(0.0);
                self.stats.popped += 1;
                self.stats.silent_pops += 1;
                return 0;
            }
            self.primed = true;
            self.low_water = usize::MAX;
            self.pops = 0;
        }
        self.watch_drift();
        let have = self.samples.len().min(want);
        for (o, s) in out.iter_mut().zip(self.samples.drain(..have)) {
            *o = s;
        }
        out[have..].fill(0.0);
        self.stats.popped += 1;
        let frames = have / self.channels;
        if frames == 0 {
            self.stats.silent_pops += 1;
        } else if have < want {
            self.stats.underruns += 1;
        }
        if have < want {
            self.primed = false;
            if frames > 0 {
                self.target = (self.target + self.packet).min(self.capacity / 2);
            }
        }
        frames
    }

    fn watch_drift(&mut self) {
        self.low_water = self.low_water.min(self.level());
        self.pops += 1;
        if self.pops < self.drift_window {
            return;
        }
        if self.low_water > self.target + self.packet {
            // Everything above the target that stayed for a whole window is surplus.
            let drop = (self.low_water - self.target) * self.channels;
            self.samples.drain(..drop.min(self.samples.len()));
            self.stats.dropped_for_drift += 1;
        }
        self.low_water = usize::MAX;
        self.pops = 0;
    }
}
