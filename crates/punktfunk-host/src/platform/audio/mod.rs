//! Audio both ways for punktfunk/1 sessions (and the Opus encoder GameStream can share).
//!
//! - Out: each session gets a virtual sink the host owns ([`pipewire_sink`], a PipeWire
//!   `Audio/Sink` node: apps play into it, its samples land in our process callback), read as an
//!   [`AudioSource`] in 5 ms packets with silence when nothing plays and drift/underrun handling,
//!   Opus-coded ([`opus_encoder`]) and sent on the data plane as stream kind audio ([`sender`]).
//! - In: the client's microphone arrives as audio-kind datagrams under its own key, goes through a
//!   jitter buffer and is played into a PipeWire `Audio/Source` node ([`virtual_mic`]) that apps
//!   record from, through the [`AudioSink`] seam.
//! - [`node`] runs one PipeWire audio node on its own thread; [`session_audio`] wires a session's
//!   streams together from what Hello asked for.
//!
//! [`host_pipewire`] chooses the PipeWire: the session's (found the usual way,
//! `PIPEWIRE_RUNTIME_DIR`, `XDG_RUNTIME_DIR`), or on a machine without a desktop a private one that
//! `serve` starts and owns ([`crate::platform::vdisplay::private_session`]; `audio-session` runs the same
//! alone).

pub mod host_pipewire;
pub mod node;
pub mod opus_encoder;
pub mod pipewire_sink;
pub mod standalone;
pub mod virtual_mic;

use punktfunk_core::audio::packet::AudioPayload;

/// Where a session's outgoing audio comes from (the platform seam: PipeWire here, WASAPI loopback
/// on Windows later).
pub trait AudioSource: Send {
    fn channels(&self) -> u8;
    /// Fills one packet of interleaved PCM (`FRAME_SAMPLES × channels` samples; silence when nothing
    /// plays) and returns the wall-clock capture time (µs since the UNIX epoch) of its first sample.
    fn read_packet(&mut self, out: &mut [f32]) -> u64;
    fn describe(&self) -> String;
}

/// Where a session's incoming microphone packets go (the virtual-microphone seam).
pub trait AudioSink: Send + Sync {
    /// One opened audio frame: its index and payload (the packet and the copy of the previous one).
    fn push_packet(&self, index: u32, payload: AudioPayload<'_>);
}
