//! Channel layouts and their Opus multistream configuration.
//!
//! Samples are interleaved in WAVE/PipeWire order (FL FR FC LFE RL RR SL SR) at both ends. The
//! multistream mapping pairs the left/right channels into coupled streams and codes the centre and
//! LFE as mono streams — the same shape GameStream uses, so one encoder serves both protocols.

/// A speaker position, in the order the layouts interleave them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The single channel of a mono layout (the microphone).
    Mono,
    /// Front left (FL).
    FrontLeft,
    /// Front right (FR).
    FrontRight,
    /// Front centre (FC).
    FrontCenter,
    /// Low-frequency effects (LFE, the subwoofer).
    Lfe,
    /// Rear (back) left (RL).
    RearLeft,
    /// Rear (back) right (RR).
    RearRight,
    /// Side left (SL), 7.1 only.
    SideLeft,
    /// Side right (SR), 7.1 only.
    SideRight,
}

/// The channel layouts punktfunk carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One channel: the microphone stream.
    Mono,
    /// FL FR.
    Stereo,
    /// 5.1: FL FR FC LFE RL RR.
    Surround51,
    /// 7.1: FL FR FC LFE RL RR SL SR.
    Surround71,
}

/// How an Opus multistream encoder splits a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultistreamConfig {
    /// Opus streams in the multistream packet.
    pub streams: u8,
    /// How many of the streams are coupled (stereo) pairs; they come first, the rest are mono.
    pub coupled: u8,
    /// `mapping[c]` = decoded channel (of the streams' outputs, coupled pairs first) for channel `c`.
    pub mapping: Vec<u8>,
}

impl Layout {
    /// The layout of `channels` channels, if there is one.
    pub fn from_channels(channels: u8) -> Option<Layout> {
        match channels {
            1 => Some(Layout::Mono),
            2 => Some(Layout::Stereo),
            6 => Some(Layout::Surround51),
            8 => Some(Layout::Surround71),
            _ => None,
        }
    }

    /// Number of channels: 1, 2, 6 or 8.
    pub fn channels(self) -> u8 {
        self.positions().len() as u8
    }

    /// The speaker positions in interleaving order.
    pub fn positions(self) -> &'static [Position] {
        use Position::*;
        match self {
            Layout::Mono => &[Mono],
            Layout::Stereo => &[FrontLeft, FrontRight],
            Layout::Surround51 => &[FrontLeft, FrontRight, FrontCenter, Lfe, RearLeft, RearRight],
            Layout::Surround71 => &[
                FrontLeft,
                FrontRight,
                FrontCenter,
                Lfe,
                RearLeft,
                RearRight,
                SideLeft,
                SideRight,
            ],
        }
    }

    /// Coupled streams for each left/right pair, then one mono stream per remaining channel.
    pub fn multistream(self) -> MultistreamConfig {
        let (streams, coupled, mapping): (u8, u8, &[u8]) = match self {
            Layout::Mono => (1, 0, &[0]),
            Layout::Stereo => (1, 1, &[0, 1]),
            // (FL,FR) (RL,RR) FC LFE
            Layout::Surround51 => (4, 2, &[0, 1, 4, 5, 2, 3]),
            // (FL,FR) (RL,RR) (SL,SR) FC LFE
            Layout::Surround71 => (5, 3, &[0, 1, 6, 7, 2, 3, 4, 5]),
        };
        MultistreamConfig {
            streams,
            coupled,
            mapping: mapping.to_vec(),
        }
    }
}
