//! The host-owned virtual sink of a session: a PipeWire `Audio/Sink` node (stereo, 5.1 or 7.1)
//! whose mix lands in a [`PcmFifo`]; the sender reads it as an [`AudioSource`] in 5 ms packets on
//! its own clock, so the stream runs on (as silence) while nothing plays and the two clocks'
//! drift is absorbed by the FIFO.

use super::AudioSource;
use super::node::{NodeKind, NodeSpec, PwNode};
use crate::services::clock::now_us;
use anyhow::Result;
use punktfunk_core::audio::fifo::{FifoStats, PcmFifo};
use punktfunk_core::audio::layout::Layout;
use punktfunk_core::audio::{FRAME_SAMPLES, SAMPLE_RATE};
use std::sync::{Arc, Mutex};

/// Audio kept buffered (10 ms): the graph delivers a quantum at a time, on its own schedule.
const FIFO_TARGET: usize = 2 * FRAME_SAMPLES;
/// Most audio the FIFO holds (a stalled sender drops the oldest beyond this).
const FIFO_CAPACITY: usize = SAMPLE_RATE as usize / 10;

pub struct VirtualSink {
    node: PwNode,
    layout: Layout,
    fifo: Arc<Mutex<PcmFifo>>,
}

impl VirtualSink {
    /// Creates the sink node `name` in the PipeWire session this process connects to.
    pub fn open(name: &str, description: &str, layout: Layout) -> Result<VirtualSink> {
        let fifo = Arc::new(Mutex::new(PcmFifo::new(
            layout.channels(),
            FRAME_SAMPLES,
            FIFO_TARGET,
            FIFO_CAPACITY,
        )));
        let sink = fifo.clone();
        let node = PwNode::start(
            NodeSpec {
                name: name.into(),
                description: description.into(),
                kind: NodeKind::Sink,
                layout,
            },
            Box::new(move |samples: &mut [f32]| {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(samples);
            }),
        )?;
        tracing::info!(
            node = name,
            channels = layout.channels(),
            "virtual sink created"
        );
        Ok(VirtualSink { node, layout, fifo })
    }

    pub fn name(&self) -> &str {
        &self.node.name
    }

    pub fn stats(&self) -> FifoStats {
        self.fifo.lock().unwrap_or_else(|p| p.into_inner()).stats()
    }
}

impl AudioSource for VirtualSink {
    fn channels(&self) -> u8 {
        self.layout.channels()
    }

    fn read_packet(&mut self, out: &mut [f32]) -> u64 {
        let mut fifo = self.fifo.lock().unwrap_or_else(|p| p.into_inner());
        // The newest buffered sample arrived about now; the packet starts `level` samples earlier.
        let level = fifo.level() as u64;
        fifo.pop(out);
        now_us().saturating_sub(level * 1_000_000 / u64::from(SAMPLE_RATE))
    }

    fn describe(&self) -> String {
        format!(
            "PipeWire virtual sink {} ({} channels)",
            self.node.name,
            self.layout.channels()
        )
    }
}

impl Drop for VirtualSink {
    fn drop(&mut self) {
        let s = self.stats();
        tracing::info!(
            node = %self.node.name, pushed_frames = s.pushed_frames, packets = s.popped,
            silent = s.silent_pops, underruns = s.underruns, drift_drops = s.dropped_for_drift,
            overflow_frames = s.overflow_frames, "virtual sink closed"
        );
    }
}
