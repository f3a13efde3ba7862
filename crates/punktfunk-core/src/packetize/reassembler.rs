//! Receiver side: opened shards in (any order, with duplicates and losses), whole frames out in order.
//!
//! Frames are tracked in a window that starts at the oldest frame not yet delivered (the head). A frame
//! is delivered when all its blocks are complete (rebuilding lost data shards with FEC as soon as a block
//! has enough shards). The head is given up — a [`Event::Lost`] range — when a newer frame has been
//! complete for `reorder_grace`, when it has been incomplete for `max_frame_age`, when the window must
//! slide to admit a much newer frame, or when the memory budget needs its buffers.
//!
//! Memory is bounded: every byte held for incomplete frames is counted against `memory_budget`, and
//! a frame that cannot fit even after evicting older ones is refused. A sender — honest or not — can
//! only cause frames to be reported lost, never unbounded allocation.

use super::stats::{LossStats, LossTracker};
use crate::crypto::Opener;
use crate::fec::{FecDecoder, ReceivedBlock};
use crate::reject::{Reject, RejectCounters};
use crate::wire::{BlockLayout, FecScheme, Flags, PacketHeader, StreamKind};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Limits and timing of the reassembler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblerConfig {
    /// Most bytes held for frames not yet delivered.
    pub memory_budget: usize,
    /// Most frames tracked at once (the head and everything newer).
    pub max_frames_in_flight: u32,
    /// How long the head may stay incomplete once a newer frame is complete.
    pub reorder_grace: Duration,
    /// How long a frame may stay incomplete at all.
    pub max_frame_age: Duration,
}

impl Default for ReassemblerConfig {
    fn default() -> Self {
        ReassemblerConfig {
            memory_budget: 64 * 1024 * 1024,
            max_frames_in_flight: 128,
            reorder_grace: Duration::from_millis(15),
            max_frame_age: Duration::from_millis(250),
        }
    }
}

/// When a frame's packets arrived and how much FEC it needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTiming {
    /// Arrival of the frame's first authenticated packet.
    pub first_packet: Instant,
    /// Arrival of the packet that completed the frame.
    pub completed: Instant,
    /// Packets accepted for the frame (data and recovery).
    pub packets: u32,
    /// Data shards the FEC had to rebuild (0 if all data arrived).
    pub recovered_shards: u32,
}

/// A whole access unit, delivered in frame order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedFrame {
    /// Stream the frame belongs to.
    pub kind: StreamKind,
    /// Index the sender gave the frame.
    pub frame_index: u32,
    /// Sender's capture timestamp in µs (sender clock).
    pub pts_us: u64,
    /// The frame can be decoded on its own.
    pub keyframe: bool,
    /// The frame ends an intra-refresh wave; decoding may resume here.
    pub recovery_point: bool,
    /// The access unit, exactly `frame_len` bytes.
    pub data: Vec<u8>,
    /// Arrival times and FEC use of the frame.
    pub timing: FrameTiming,
}

/// What the reassembler reports, in frame order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A frame was completed and is delivered in order.
    Frame(CompletedFrame),
    /// Frames `first .. first + count` (wrapping) will never be delivered: ask for a keyframe.
    Lost {
        /// Index of the first lost frame.
        first: u32,
        /// Number of consecutive lost frames.
        count: u32,
    },
}

struct BlockState {
    scheme: FecScheme,
    data_shards: u16,
    recovery_shards: u16,
    data_present: Vec<bool>,
    recovery_present: Vec<bool>,
    data_count: u16,
    recovery_count: u16,
    /// Recovery shards, allocated when the first one arrives.
    recovery: Vec<u8>,
    done: bool,
}

struct Assembly {
    kind: StreamKind,
    frame_len: u32,
    shard_bytes: u16,
    block_count: u16,
    pts_us: u64,
    frame_flags: Flags,
    layout: BlockLayout,
    data: Vec<u8>,
    blocks: Vec<Option<BlockState>>,
    blocks_done: u16,
    first_packet: Instant,
    packets: u32,
    recovered: u32,
    /// Bytes counted against the budget for this frame.
    charged: usize,
}

enum Slot {
    /// No packet of this frame has arrived yet.
    Empty,
    Partial(Box<Assembly>),
    /// A whole frame waiting for older ones; still charged to the budget (the second field).
    Complete(CompletedFrame, usize),
    Lost,
}

/// Reassembles one stream's frames. Feed it with [`Reassembler::receive`] (sealed datagrams) or
/// [`Reassembler::push`] (already opened ones); drain [`Reassembler::poll_event`].
pub struct Reassembler {
    config: ReassemblerConfig,
    /// Frame index of `window[0]`.
    head: u32,
    started: bool,
    window: VecDeque<Slot>,
    events: VecDeque<Event>,
    used: usize,
    decoder: FecDecoder,
    loss: LossTracker,
    rejects: RejectCounters,
    redundant: u64,
    /// Whether each of the last [`HISTORY`] frames behind the head was delivered (bit `index % HISTORY`),
    /// so that a late shard of a delivered frame counts as redundant rather than late.
    delivered_history: [u64; HISTORY as usize / 64],
}

const HISTORY: u32 = 256;

/// Distance from `from` to `to` in wrapping frame-index space, if `to` is not behind `from`.
fn ahead(from: u32, to: u32) -> Option<u32> {
    let d = to.wrapping_sub(from);
    (d < 1 << 31).then_some(d)
}

impl Reassembler {
    /// An empty reassembler with the given memory budget, frame limit and timeouts.
    pub fn new(config: ReassemblerConfig) -> Self {
        Reassembler {
            config,
            head: 0,
            started: false,
            window: VecDeque::new(),
            events: VecDeque::new(),
            used: 0,
            decoder: FecDecoder::new(),
            loss: LossTracker::new(),
            rejects: RejectCounters::default(),
            redundant: 0,
            delivered_history: [0; HISTORY as usize / 64],
        }
    }

    /// Bytes held for frames not yet handed out as events, complete or not (never above the budget).
    pub fn memory_used(&self) -> usize {
        self.used
    }

    /// Rejections by this reassembler (duplicates, late, inconsistent, over budget).
    pub fn rejects(&self) -> &RejectCounters {
        &self.rejects
    }

    /// Shards that arrived for frames already complete (normal when FEC made them unnecessary).
    pub fn redundant_shards(&self) -> u64 {
        self.redundant
    }

    /// Loss statistics since the last call.
    pub fn take_loss_window(&mut self) -> LossStats {
        self.loss.take_window()
    }

    /// The next delivered frame or loss report, in frame order; `None` when nothing is pending.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Opens a sealed datagram with `opener` and feeds it in. Rejections are counted where they happen
    /// (the opener's or this reassembler's counters) and returned.
    pub fn receive(
        &mut self,
        now: Instant,
        opener: &mut Opener,
        datagram: &mut [u8],
    ) -> Result<(), Reject> {
        let (header, payload) = opener.open(datagram)?;
        self.push(now, &header, payload)
    }

    /// Feeds one authenticated shard.
    pub fn push(
        &mut self,
        now: Instant,
        header: &PacketHeader,
        payload: &[u8],
    ) -> Result<(), Reject> {
        self.loss.on_packet(header.seq);
        let result = self.place(now, header, payload);
        if let Err(reason) = result {
            self.rejects.record(reason);
        }
        self.expire(now);
        self.deliver();
        result
    }

    /// The next instant at which [`Reassembler::handle_timeout`] would give up a frame.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.head_deadline()
    }

    /// Gives up frames whose time ran out.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
        self.deliver();
    }

    fn place(&mut self, now: Instant, h: &PacketHeader, payload: &[u8]) -> Result<(), Reject> {
        if payload.len() != usize::from(h.shard_bytes) {
            return Err(Reject::LengthMismatch);
        }
        if !self.started {
            self.started = true;
            self.head = h.frame_index;
        }
        let Some(d) = ahead(self.head, h.frame_index) else {
            let behind = self.head.wrapping_sub(h.frame_index);
            if behind <= HISTORY && self.was_delivered(h.frame_index) {
                self.redundant += 1;
                return Ok(());
            }
            return Err(Reject::Late);
        };
        let max = self.config.max_frames_in_flight.max(1);
        if d >= max {
            self.slide_to(h.frame_index.wrapping_sub(max - 1));
        }
        let d = ahead(self.head, h.frame_index).ok_or(Reject::Late)? as usize;
        while self.window.len() <= d {
            self.window.push_back(Slot::Empty);
        }
        match &self.window[d] {
            Slot::Complete(..) => {
                self.redundant += 1;
                return Ok(());
            }
            Slot::Lost => return Err(Reject::Late),
            Slot::Empty => {
                let assembly = self.start_frame(now, h, d)?;
                self.window[d] = Slot::Partial(assembly);
            }
            Slot::Partial(_) => {}
        }
        let Slot::Partial(a) = &mut self.window[d] else {
            unreachable!("slot was just made partial")
        };
        let outcome = add_shard(
            a,
            h,
            payload,
            &mut self.used,
            self.config.memory_budget,
            &mut self.decoder,
        )?;
        a.packets += 1;
        match outcome {
            ShardOutcome::Stored => {}
            ShardOutcome::Redundant => self.redundant += 1,
            ShardOutcome::BlockDone { recovered } => {
                a.recovered += recovered;
                self.loss.on_recovered(u64::from(recovered));
                if a.blocks_done == a.block_count {
                    let Slot::Partial(a) = std::mem::replace(&mut self.window[d], Slot::Empty)
                    else {
                        unreachable!()
                    };
                    self.loss.on_frame_complete();
                    let charged = a.charged;
                    self.window[d] = Slot::Complete(finish(*a, h.frame_index, now), charged);
                }
            }
        }
        Ok(())
    }

    /// Allocates the frame buffer for a new frame, evicting older incomplete frames if the budget needs it.
    fn start_frame(
        &mut self,
        now: Instant,
        h: &PacketHeader,
        d: usize,
    ) -> Result<Box<Assembly>, Reject> {
        let s = usize::from(h.shard_bytes);
        let total = (h.frame_len as usize).div_ceil(s);
        let bytes = total * s;
        if bytes > self.config.memory_budget {
            return Err(Reject::OverBudget);
        }
        self.make_room(bytes, d)?;
        self.used += bytes;
        Ok(Box::new(Assembly {
            kind: h.kind,
            frame_len: h.frame_len,
            shard_bytes: h.shard_bytes,
            block_count: h.block_count,
            pts_us: h.pts_us,
            frame_flags: h.flags.frame_flags(),
            layout: BlockLayout::new(total as u32, h.block_count),
            data: vec![0; bytes],
            blocks: (0..h.block_count).map(|_| None).collect(),
            blocks_done: 0,
            first_packet: now,
            packets: 0,
            recovered: 0,
            charged: bytes,
        }))
    }

    /// Evicts the oldest incomplete frames before window position `limit` until `bytes` more fit.
    fn make_room(&mut self, bytes: usize, limit: usize) -> Result<(), Reject> {
        let mut i = 0;
        while self.used + bytes > self.config.memory_budget {
            if i >= limit.min(self.window.len()) {
                return Err(Reject::OverBudget);
            }
            if let Slot::Partial(a) = &self.window[i] {
                self.used -= a.charged;
                self.window[i] = Slot::Lost;
            }
            i += 1;
        }
        Ok(())
    }

    /// Moves the head forward to `new_head`, giving up every frame it passes that is not complete.
    fn slide_to(&mut self, new_head: u32) {
        let Some(distance) = ahead(self.head, new_head) else {
            return;
        };
        let mut passed = 0u32;
        while passed < distance {
            match self.window.pop_front() {
                Some(slot) => self.emit(slot),
                None => {
                    // Frames the window never saw: report them as one range.
                    self.push_lost(self.head, distance - passed);
                    self.delivered_history = [0; HISTORY as usize / 64];
                    self.head = new_head;
                    return;
                }
            }
            passed += 1;
        }
    }

    /// Pops the head slot and reports it.
    fn emit(&mut self, slot: Slot) {
        let delivered = matches!(slot, Slot::Complete(..));
        match slot {
            Slot::Complete(frame, charged) => {
                self.used -= charged;
                self.events.push_back(Event::Frame(frame));
            }
            Slot::Partial(a) => {
                self.used -= a.charged;
                self.push_lost(self.head, 1);
            }
            Slot::Empty | Slot::Lost => self.push_lost(self.head, 1),
        }
        self.remember(self.head, delivered);
        self.head = self.head.wrapping_add(1);
    }

    fn remember(&mut self, frame_index: u32, delivered: bool) {
        let bit = frame_index % HISTORY;
        let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
        if delivered {
            self.delivered_history[word] |= mask;
        } else {
            self.delivered_history[word] &= !mask;
        }
    }

    fn was_delivered(&self, frame_index: u32) -> bool {
        let bit = frame_index % HISTORY;
        self.delivered_history[(bit / 64) as usize] & (1u64 << (bit % 64)) != 0
    }

    fn push_lost(&mut self, first: u32, count: u32) {
        self.loss.on_frames_lost(u64::from(count));
        // Extend the previous range when this one continues it (and the count still fits).
        if let Some(Event::Lost { first: f, count: c }) = self.events.back_mut()
            && f.wrapping_add(*c) == first
            && let Some(sum) = c.checked_add(count)
        {
            *c = sum;
            return;
        }
        self.events.push_back(Event::Lost { first, count });
    }

    /// Delivers complete and given-up frames at the head.
    fn deliver(&mut self) {
        while matches!(self.window.front(), Some(Slot::Complete(..) | Slot::Lost)) {
            if let Some(slot) = self.window.pop_front() {
                self.emit(slot);
            }
        }
    }

    /// When the head frame must be given up, if anything newer has arrived.
    fn head_deadline(&self) -> Option<Instant> {
        let mut deadline: Option<Instant> = None;
        let mut consider = |t: Instant| deadline = Some(deadline.map_or(t, |d| d.min(t)));
        for slot in &self.window {
            match slot {
                Slot::Complete(f, _) => consider(f.timing.completed + self.config.reorder_grace),
                Slot::Partial(a) => consider(a.first_packet + self.config.max_frame_age),
                Slot::Empty | Slot::Lost => {}
            }
        }
        // Only a frame that is not itself complete can be overdue.
        match self.window.front() {
            Some(Slot::Empty | Slot::Partial(_)) => deadline,
            _ => None,
        }
    }

    fn expire(&mut self, now: Instant) {
        while let Some(deadline) = self.head_deadline() {
            if now < deadline {
                break;
            }
            if let Some(slot) = self.window.pop_front() {
                self.emit(slot);
            }
            self.deliver();
        }
    }
}

enum ShardOutcome {
    Stored,
    Redundant,
    BlockDone { recovered: u32 },
}

/// Places one shard into its frame and completes its block when enough shards are there.
fn add_shard(
    a: &mut Assembly,
    h: &PacketHeader,
    payload: &[u8],
    used: &mut usize,
    budget: usize,
    decoder: &mut FecDecoder,
) -> Result<ShardOutcome, Reject> {
    if h.kind != a.kind
        || h.frame_len != a.frame_len
        || h.shard_bytes != a.shard_bytes
        || h.block_count != a.block_count
        || h.pts_us != a.pts_us
        || h.flags.frame_flags() != a.frame_flags
    {
        return Err(Reject::Inconsistent);
    }
    let b = usize::from(h.block_index);
    let block = match &mut a.blocks[b] {
        Some(block) => {
            if block.scheme != h.fec
                || block.data_shards != h.data_shards
                || block.recovery_shards != h.recovery_shards
            {
                return Err(Reject::Inconsistent);
            }
            block
        }
        slot => slot.insert(BlockState {
            scheme: h.fec,
            data_shards: h.data_shards,
            recovery_shards: h.recovery_shards,
            data_present: vec![false; usize::from(h.data_shards)],
            recovery_present: vec![false; usize::from(h.recovery_shards)],
            data_count: 0,
            recovery_count: 0,
            recovery: Vec::new(),
            done: false,
        }),
    };
    if block.done {
        return Ok(ShardOutcome::Redundant);
    }
    let s = usize::from(a.shard_bytes);
    let k = usize::from(block.data_shards);
    let i = usize::from(h.shard_index);
    if i < k {
        if block.data_present[i] {
            return Err(Reject::Duplicate);
        }
        let at = (a.layout.first_shard(h.block_index) as usize + i) * s;
        a.data[at..at + s].copy_from_slice(payload);
        block.data_present[i] = true;
        block.data_count += 1;
    } else {
        let j = i - k;
        if block.recovery_present[j] {
            return Err(Reject::Duplicate);
        }
        if block.recovery.is_empty() {
            let bytes = usize::from(block.recovery_shards) * s;
            if *used + bytes > budget {
                return Err(Reject::OverBudget);
            }
            *used += bytes;
            a.charged += bytes;
            block.recovery = vec![0; bytes];
        }
        block.recovery[j * s..(j + 1) * s].copy_from_slice(payload);
        block.recovery_present[j] = true;
        block.recovery_count += 1;
    }
    if usize::from(block.data_count) + usize::from(block.recovery_count) < k {
        return Ok(ShardOutcome::Stored);
    }
    let mut recovered = 0;
    if usize::from(block.data_count) < k {
        let first = a.layout.first_shard(h.block_index) as usize * s;
        let received = ReceivedBlock {
            shard_bytes: s,
            data: &mut a.data[first..first + k * s],
            data_present: &block.data_present,
            recovery: &block.recovery,
            recovery_present: &block.recovery_present,
        };
        // A block that cannot be rebuilt despite enough shards means the sender lied about its
        // contents; the frame then times out as lost.
        recovered = decoder
            .reconstruct(block.scheme, received)
            .map_err(|_| Reject::Inconsistent)? as u32;
    }
    block.done = true;
    let freed = block.recovery.len();
    block.recovery = Vec::new();
    *used -= freed;
    a.charged -= freed;
    a.blocks_done += 1;
    Ok(ShardOutcome::BlockDone { recovered })
}

fn finish(a: Assembly, frame_index: u32, now: Instant) -> CompletedFrame {
    let mut data = a.data;
    data.truncate(a.frame_len as usize);
    CompletedFrame {
        kind: a.kind,
        frame_index,
        pts_us: a.pts_us,
        keyframe: a.frame_flags.contains(Flags::KEYFRAME),
        recovery_point: a.frame_flags.contains(Flags::RECOVERY_POINT),
        data,
        timing: FrameTiming {
            first_packet: a.first_packet,
            completed: now,
            packets: a.packets,
            recovered_shards: a.recovered,
        },
    }
}
