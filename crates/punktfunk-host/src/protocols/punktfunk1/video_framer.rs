//! punktfunk/1's side of the frame pipeline: access units become packetizer datagrams (FEC at the
//! parity the control plane currently asks for, AES-GCM sealed in place), sent to the address the
//! client registered from.

use super::session_control::SessionControl;
use crate::stream::{FramedUnit, Framer};
use anyhow::Result;
use punktfunk_core::packetize::{DatagramBatch, FecConfig, FrameInput, Packetizer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub struct VideoFramer {
    packetizer: Packetizer,
    control: Arc<SessionControl>,
}

impl VideoFramer {
    pub fn new(packetizer: Packetizer, control: Arc<SessionControl>) -> Self {
        VideoFramer {
            packetizer,
            control,
        }
    }
}

impl Framer for VideoFramer {
    fn destination(&self) -> Option<SocketAddr> {
        *self
            .control
            .client_addr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn frame(&mut self, unit: &FramedUnit<'_>, batch: &mut DatagramBatch) -> Result<()> {
        let parity = self.control.parity_percent.load(Ordering::Relaxed) as u16;
        if parity != self.packetizer.config().fec.parity_percent {
            self.packetizer.set_fec(FecConfig {
                parity_percent: parity,
                ..self.packetizer.config().fec
            });
        }
        // The presentation time travels as the pts, so the client measures latency from it.
        let input = FrameInput {
            data: unit.data,
            pts_us: unit.presented_us,
            keyframe: unit.keyframe,
            recovery_point: false,
        };
        self.packetizer.packetize(input, batch)?;
        Ok(())
    }
}
