//! The virtual microphone of a session: a PipeWire `Audio/Source` node (mono) that plays what the
//! client sends. Packets go into a [`JitterBuffer`] as they arrive; the node's process callback
//! pulls them at the graph's pace, decodes (or conceals a lost one) and hands apps the samples.

use super::AudioSink;
use super::node::{NodeKind, NodeSpec, PwNode};
use anyhow::Result;
use punktfunk_core::audio::jitter::{JitterBuffer, JitterConfig, JitterStats, Pull};
use punktfunk_core::audio::layout::Layout;
use punktfunk_core::audio::packet::AudioPayload;
use punktfunk_core::audio::{FRAME_SAMPLES, SAMPLE_RATE};
use punktfunk_media::opus::Decoder;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

struct MicState {
    jitter: JitterBuffer,
    decoder: Decoder,
    pcm: VecDeque<f32>,
    packet: Vec<f32>,
    decode_errors: u64,
}

impl MicState {
    /// Fills `out` from decoded packets, pulling as many as it takes.
    fn fill(&mut self, out: &mut [f32]) {
        while self.pcm.len() < out.len() {
            let decoded = match self.jitter.pull() {
                Pull::Packet(p) => self.decoder.decode(Some(&p), &mut self.packet),
                Pull::Conceal => self.decoder.decode(None, &mut self.packet),
                Pull::Silence => {
                    self.packet.fill(0.0);
                    Ok(FRAME_SAMPLES)
                }
            };
            let n = decoded.unwrap_or_else(|_| {
                self.decode_errors += 1;
                self.packet.fill(0.0);
                FRAME_SAMPLES
            });
            self.pcm.extend(&self.packet[..n.min(self.packet.len())]);
        }
        let n = out.len();
        for (o, s) in out.iter_mut().zip(self.pcm.drain(..n)) {
            *o = s;
        }
    }
}

pub struct VirtualMic {
    node: Option<PwNode>,
    state: Arc<Mutex<MicState>>,
}

impl VirtualMic {
    pub fn open(name: &str, description: &str) -> Result<VirtualMic> {
        let state = Arc::new(Mutex::new(MicState {
            jitter: JitterBuffer::new(JitterConfig::default()),
            decoder: Decoder::new(Layout::Mono, SAMPLE_RATE)?,
            pcm: VecDeque::new(),
            packet: vec![0.0; FRAME_SAMPLES],
            decode_errors: 0,
        }));
        let source = state.clone();
        let node = PwNode::start(
            NodeSpec {
                name: name.into(),
                description: description.into(),
                kind: NodeKind::Source,
                layout: Layout::Mono,
            },
            Box::new(move |out: &mut [f32]| {
                source.lock().unwrap_or_else(|p| p.into_inner()).fill(out);
            }),
        )?;
        tracing::info!(node = name, "virtual microphone created");
        Ok(VirtualMic {
            node: Some(node),
            state,
        })
    }

    pub fn name(&self) -> &str {
        self.node.as_ref().map_or("", |n| n.name.as_str())
    }

    pub fn stats(&self) -> JitterStats {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .jitter
            .stats()
    }
}

impl AudioSink for VirtualMic {
    fn push_packet(&self, index: u32, payload: AudioPayload<'_>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.jitter.insert(index, payload.primary);
        if let Some(previous) = payload.previous {
            state
                .jitter
                .insert_redundant(index.wrapping_sub(1), previous);
        }
    }
}

impl Drop for VirtualMic {
    fn drop(&mut self) {
        // Remove the node first: its callback holds the state.
        let name = self.name().to_owned();
        drop(self.node.take());
        let s = self.stats();
        tracing::info!(
            node = %name, inserted = s.inserted, played = s.played, concealed = s.concealed,
            rebuilt = s.recovered_from_redundancy, underruns = s.underruns, late = s.late,
            drift_drops = s.dropped_for_drift, "virtual microphone closed"
        );
    }
}
