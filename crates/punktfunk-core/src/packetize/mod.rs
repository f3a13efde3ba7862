//! Frames to sealed datagrams and back: [`Packetizer`] on the sending side, [`Reassembler`] on the
//! receiving side, and the loss statistics that feed the adaptive FEC policy.

mod config;
mod packetizer;
mod reassembler;
mod stats;

pub use config::{FecConfig, MAX_DATA_PER_BLOCK, MTU_1500_DATAGRAM, PacketizerConfig};
pub use packetizer::{DatagramBatch, FrameInput, FrameSummary, PacketizeError, Packetizer};
pub use reassembler::{CompletedFrame, Event, FrameTiming, Reassembler, ReassemblerConfig};
pub use stats::{LossStats, LossTracker};
