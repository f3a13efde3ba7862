//! The frame path both protocols share: a session's [`VideoSource`] (its display, capture feed and
//! encoder) streamed by [`pipeline::run`] into a [`FrameOutput`] — for datagram transports a
//! protocol's [`Framer`] and the [`PacedSender`] ([`DatagramOutput`]) — each stage timed
//! ([`StageReport`]). See docs/architecture.md, "The frame pipeline".

mod display_feed;
pub mod encoder;
pub mod feed;
pub mod frame_output;
pub mod framer;
mod latest;
pub mod paced_sender;
mod pattern_feed;
pub mod pipeline;
pub mod stages;
mod video_source;

pub use frame_output::{DatagramOutput, FrameOutput};
pub use framer::{FramedUnit, Framer};
pub use paced_sender::PacedSender;
pub use pipeline::StreamControl;
pub use stages::StageReport;
pub use video_source::VideoSource;

#[cfg(test)]
mod pipeline_tests;
