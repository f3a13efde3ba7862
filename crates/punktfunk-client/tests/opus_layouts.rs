//! Opus (media layer) through every channel layout, checked with the probe's tone analysis.

use punktfunk_client::opus::{Decoder, Encoder, EncoderSettings};
use punktfunk_client::probe::audio_analysis;
use punktfunk_core::audio::layout::Layout;
use punktfunk_core::audio::{FRAME_SAMPLES, SAMPLE_RATE};

/// Every layout round-trips a different tone per channel, and each channel comes back carrying
/// its own tone (the mapping is consistent on both ends).
#[test]
fn every_layout_keeps_channels_apart() {
    for layout in [
        Layout::Mono,
        Layout::Stereo,
        Layout::Surround51,
        Layout::Surround71,
    ] {
        let ch = usize::from(layout.channels());
        let settings = EncoderSettings {
            frame_samples: FRAME_SAMPLES,
            bitrate_bps: 96_000 * ch as i32,
            cbr: false,
        };
        let mut enc = Encoder::new(layout, SAMPLE_RATE, settings).unwrap();
        let mut dec = Decoder::new(layout, SAMPLE_RATE).unwrap();
        let freq = |c: usize| 300.0 + 200.0 * c as f32;
        let mut decoded = Vec::new();
        let mut packet = vec![0u8; 4000];
        for p in 0..200 {
            let pcm: Vec<f32> = (0..FRAME_SAMPLES * ch)
                .map(|i| {
                    let t = (p * FRAME_SAMPLES + i / ch) as f32 / SAMPLE_RATE as f32;
                    0.3 * (std::f32::consts::TAU * freq(i % ch) * t).sin()
                })
                .collect();
            let n = enc.encode(&pcm, &mut packet).unwrap();
            let mut out = vec![0f32; FRAME_SAMPLES * ch];
            assert_eq!(
                dec.decode(Some(&packet[..n]), &mut out).unwrap(),
                FRAME_SAMPLES
            );
            decoded.extend_from_slice(&out);
        }
        for c in 0..ch {
            let channel: Vec<f32> = decoded.iter().skip(c).step_by(ch).copied().collect();
            let a = audio_analysis::analyse(&channel[9600..], SAMPLE_RATE);
            assert!(
                (a.peak_hz - f64::from(freq(c))).abs() < 3.0,
                "{layout:?} channel {c}: peak {} Hz, want {}",
                a.peak_hz,
                freq(c)
            );
            assert!(a.snr_db > 20.0, "{layout:?} channel {c}: {a:?}");
        }
    }
}
