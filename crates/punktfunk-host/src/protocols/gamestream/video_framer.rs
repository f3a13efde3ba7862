//! GameStream's side of the frame pipeline: access units become Moonlight video datagrams (RTP +
//! NV headers, the frame header carrying the real host processing latency, Moonlight's FEC, AES-GCM
//! when the client enabled video encryption), all sealed in place in the reusable batch.

use crate::services::clock::now_us;
use crate::stream::{FramedUnit, Framer};
use anyhow::Result;
use punktfunk_core::gamestream::video::{FrameType, VideoFrame, VideoPacketizer, latency_units};
use punktfunk_core::packetize::DatagramBatch;
use std::net::SocketAddr;
use std::time::Duration;

pub struct VideoFramer {
    packetizer: VideoPacketizer,
    client: SocketAddr,
    /// Presentation time of the stream's first frame: RTP timestamps count from it.
    first_presented_us: Option<u64>,
}

impl VideoFramer {
    pub fn new(packetizer: VideoPacketizer, client: SocketAddr) -> Self {
        VideoFramer {
            packetizer,
            client,
            first_presented_us: None,
        }
    }
}

impl Framer for VideoFramer {
    fn destination(&self) -> Option<SocketAddr> {
        Some(self.client)
    }

    fn frame(&mut self, unit: &FramedUnit<'_>, batch: &mut DatagramBatch) -> Result<()> {
        let base_us = *self.first_presented_us.get_or_insert(unit.presented_us);
        // 90 kHz from the first frame's presentation, so it starts small and wraps late.
        let rtp_timestamp = (unit.presented_us.saturating_sub(base_us) * 9 / 100) as u32;
        // Presented by the compositor → packetized: what Moonlight shows as host processing latency.
        let latency = Duration::from_micros(now_us().saturating_sub(unit.presented_us));
        self.packetizer.packetize_into(
            &VideoFrame {
                data: unit.data,
                frame_type: if unit.keyframe {
                    FrameType::Idr
                } else {
                    FrameType::P
                },
                rtp_timestamp,
                host_latency: latency_units(latency),
            },
            batch,
        )?;
        Ok(())
    }
}
