//! Where the pipeline's encoded frames go: the seam between the one pipeline and a transport.
//! Datagram transports (punktfunk/1's UDP data plane, GameStream's video port) packetize each frame
//! with their protocol's [`Framer`] and pace the datagrams out with the [`PacedSender`]
//! ([`DatagramOutput`]); a connection that carries whole frames implements [`FrameOutput`] itself.

use super::framer::{FramedUnit, Framer};
use super::paced_sender::PacedSender;
use anyhow::Result;
use punktfunk_core::packetize::DatagramBatch;
use std::net::SocketAddr;
use std::time::Duration;

pub trait FrameOutput: Send {
    /// Whether the client can take frames now (its address known, its connection up). Nothing is
    /// encoded until it can, so the first frame it gets is a keyframe.
    fn ready(&mut self) -> bool;

    /// Puts `unit` into wire form (the "packetize" stage): the access unit is only borrowed until
    /// this returns.
    fn frame(&mut self, unit: &FramedUnit<'_>) -> Result<()>;

    /// Sends what [`FrameOutput::frame`] prepared (the "send" stage), spread over part of the frame
    /// `interval` at `bitrate_kbps`; returns how many datagrams or messages went out.
    fn send(&mut self, bitrate_kbps: u32, interval: Duration) -> u64;
}

/// A protocol's [`Framer`] writing sealed datagrams into a reused batch, sent with a
/// [`PacedSender`] to the address the framer names.
pub struct DatagramOutput<'a> {
    framer: &'a mut dyn Framer,
    sender: &'a PacedSender,
    batch: DatagramBatch,
    dest: Option<SocketAddr>,
}

impl<'a> DatagramOutput<'a> {
    pub fn new(framer: &'a mut dyn Framer, sender: &'a PacedSender) -> Self {
        DatagramOutput {
            framer,
            sender,
            batch: DatagramBatch::new(),
            dest: None,
        }
    }
}

impl FrameOutput for DatagramOutput<'_> {
    fn ready(&mut self) -> bool {
        self.dest = self.framer.destination();
        self.dest.is_some()
    }

    fn frame(&mut self, unit: &FramedUnit<'_>) -> Result<()> {
        self.framer.frame(unit, &mut self.batch)
    }

    fn send(&mut self, bitrate_kbps: u32, interval: Duration) -> u64 {
        let Some(dest) = self.dest else {
            return 0;
        };
        let span = PacedSender::span(self.batch.as_bytes().len(), bitrate_kbps, interval);
        self.sender.send(&self.batch, dest, span);
        self.batch.len() as u64
    }
}
