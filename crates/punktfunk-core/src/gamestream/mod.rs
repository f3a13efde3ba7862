//! GameStream (Moonlight) protocol core: what a host must speak so that unmodified Moonlight clients
//! pair, launch, stream and send input. Sans-IO like the rest of the crate; the facts come from
//! `reference/gamestream.md`, and `docs/gamestream.md` describes what is implemented.

pub mod audio;
pub mod control;
pub mod fec;
pub mod input;
pub mod nvhttp;
pub mod pairing;
pub mod rtsp;
pub mod sdp;
pub mod video;
