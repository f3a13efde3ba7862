//! The seam between the pipeline and a protocol: a [`Framer`] turns access units into that
//! protocol's sealed datagrams and knows where they go. punktfunk/1 and GameStream each have one.

use anyhow::Result;
use punktfunk_core::packetize::DatagramBatch;
use std::net::SocketAddr;

/// One encoded frame, as the framer sees it.
#[derive(Clone, Copy, Debug)]
pub struct FramedUnit<'a> {
    /// The access unit, read where the encoder wrote it.
    pub data: &'a [u8],
    pub keyframe: bool,
    /// When the compositor presented the picture (wall clock, µs): the frame's timestamp.
    pub presented_us: u64,
}

pub trait Framer: Send {
    /// Where the datagrams go; `None` while the client's address is not known (frames are not
    /// encoded until it is).
    fn destination(&self) -> Option<SocketAddr>;

    /// Writes `unit`'s datagrams into `batch` (reused from frame to frame).
    fn frame(&mut self, unit: &FramedUnit<'_>, batch: &mut DatagramBatch) -> Result<()>;
}
