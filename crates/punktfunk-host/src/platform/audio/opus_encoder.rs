//! The host's Opus encoder: CELT in restricted-low-delay mode at a fixed packet duration — 5 ms
//! VBR for punktfunk/1, or the negotiated duration at a constant bitrate for GameStream.

use anyhow::{Context, Result, bail};
use punktfunk_core::audio::layout::{Layout, MultistreamConfig};
use punktfunk_media::opus::{Encoder, EncoderSettings};

/// Default bitrate per channel when none is imposed (transparent for music at 48 kHz).
const VBR_BPS_PER_CHANNEL: i32 = 96_000;

pub struct OpusEncoder {
    inner: Encoder,
}

impl OpusEncoder {
    /// `channels` 1, 2, 6 or 8 (interleaved FL FR FC LFE RL RR SL SR); `packet_ms` 5, 10 or 20
    /// (2.5 ms is not offered: GameStream uses 5 or 10, punktfunk/1 uses 5); `cbr_kbps` = constant
    /// bitrate in kbit/s, `None` = constrained VBR at 96 kbit/s per channel.
    pub fn new(
        channels: u8,
        sample_rate: u32,
        packet_ms: u32,
        cbr_kbps: Option<u32>,
    ) -> Result<Self> {
        Self::with_streams(channels, None, sample_rate, packet_ms, cbr_kbps)
    }

    /// [`OpusEncoder::new`] with the streams split as `streams` says (`None`: the layout's default
    /// split), for a peer that was told the split (GameStream's `surround-params`).
    pub fn with_streams(
        channels: u8,
        streams: Option<&MultistreamConfig>,
        sample_rate: u32,
        packet_ms: u32,
        cbr_kbps: Option<u32>,
    ) -> Result<Self> {
        let layout = Layout::from_channels(channels)
            .with_context(|| format!("no Opus layout for {channels} channels"))?;
        if !matches!(packet_ms, 5 | 10 | 20) {
            bail!("Opus packet duration {packet_ms} ms: use 5, 10 or 20");
        }
        if !matches!(sample_rate, 8_000 | 12_000 | 16_000 | 24_000 | 48_000) {
            bail!("Opus does not run at {sample_rate} Hz");
        }
        let bitrate_bps = match cbr_kbps {
            Some(k) => i32::try_from(k.saturating_mul(1000)).unwrap_or(i32::MAX),
            None => VBR_BPS_PER_CHANNEL * i32::from(channels),
        };
        let settings = EncoderSettings {
            frame_samples: (sample_rate / 1000 * packet_ms) as usize,
            bitrate_bps,
            cbr: cbr_kbps.is_some(),
        };
        let default_split = layout.multistream();
        let split = streams.unwrap_or(&default_split);
        Ok(OpusEncoder {
            inner: Encoder::with_multistream(layout, split, sample_rate, settings)?,
        })
    }

    pub fn channels(&self) -> usize {
        self.inner.channels()
    }

    /// Samples per channel in one packet.
    pub fn frame_samples(&self) -> usize {
        self.inner.frame_samples()
    }

    /// Encodes one packet of interleaved PCM into `out`; returns the packet length.
    pub fn encode(&mut self, pcm: &[f32], out: &mut [u8]) -> Result<usize> {
        Ok(self.inner.encode(pcm, out)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations() {
        let e = OpusEncoder::new(2, 48_000, 5, None).unwrap();
        assert_eq!((e.channels(), e.frame_samples()), (2, 240));
        let mut gs = OpusEncoder::new(6, 48_000, 10, Some(256)).unwrap();
        assert_eq!(gs.frame_samples(), 480);
        let mut out = [0u8; 1500];
        // CBR: every packet of the same duration has the same size (256 kbit/s × 10 ms = 320 B).
        let sizes: Vec<usize> = (0..5)
            .map(|i| {
                let pcm: Vec<f32> = (0..480 * 6)
                    .map(|s| ((s * (i + 1)) as f32 * 0.01).sin() * 0.3)
                    .collect();
                gs.encode(&pcm, &mut out).unwrap()
            })
            .collect();
        assert!(sizes.iter().all(|&s| s == 320), "{sizes:?}");
        assert!(OpusEncoder::new(3, 48_000, 5, None).is_err());
        assert!(OpusEncoder::new(2, 44_100, 5, None).is_err());
        assert!(OpusEncoder::new(2, 48_000, 7, None).is_err());
    }

    #[test]
    fn explicit_stream_splits() {
        // GameStream's high-quality 5.1: every channel its own stream, CBR 1536 kbit/s.
        let hq = MultistreamConfig {
            streams: 6,
            coupled: 0,
            mapping: vec![0, 1, 2, 3, 4, 5],
        };
        let mut e = OpusEncoder::with_streams(6, Some(&hq), 48_000, 5, Some(1536)).unwrap();
        let mut out = [0u8; 1500];
        let pcm = vec![0.1f32; 240 * 6];
        // 1536 kbit/s × 5 ms = 960 bytes.
        assert_eq!(e.encode(&pcm, &mut out).unwrap(), 960);
        // A split that does not fit the channels is refused, not handed to libopus.
        let short = MultistreamConfig {
            streams: 1,
            coupled: 1,
            mapping: vec![0, 1],
        };
        assert!(OpusEncoder::with_streams(6, Some(&short), 48_000, 5, None).is_err());
        let out_of_range = MultistreamConfig {
            streams: 4,
            coupled: 2,
            mapping: vec![0, 1, 2, 3, 4, 6],
        };
        assert!(OpusEncoder::with_streams(6, Some(&out_of_range), 48_000, 5, None).is_err());
    }
}
