//! What a received tone looks like: its frequency (the spectral peak) and its signal-to-noise ratio
//! (the tone fitted by least squares at that frequency, against everything else). Used by the
//! probe's report and by the audio tests.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ToneAnalysis {
    pub peak_hz: f64,
    /// Tone power over the power of everything else, in dB.
    pub snr_db: f64,
    pub rms: f64,
}

/// Highest frequency the coarse scan looks at.
const SCAN_MAX_HZ: f64 = 8_000.0;
const SCAN_STEP_HZ: f64 = 5.0;

/// Power of `x` at `hz` (Goertzel), normalised so a full-scale sine of amplitude `a` gives `a²/4`.
fn power_at(x: &[f32], rate: f64, hz: f64) -> f64 {
    let w = std::f64::consts::TAU * hz / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let p = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let n = x.len().max(1) as f64;
    p / (n * n)
}

/// Analyses a mono signal (one channel's samples). Empty or silent input gives a peak of 0 Hz and
/// an SNR of negative infinity.
pub fn analyse(x: &[f32], rate: u32) -> ToneAnalysis {
    let rate = f64::from(rate.max(1));
    let n = x.len();
    let rms = if n == 0 {
        0.0
    } else {
        (x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / n as f64).sqrt()
    };
    if n < 64 || rms == 0.0 {
        return ToneAnalysis {
            peak_hz: 0.0,
            snr_db: f64::NEG_INFINITY,
            rms,
        };
    }
    let top = SCAN_MAX_HZ.min(rate / 2.0 - SCAN_STEP_HZ);
    let mut best = (0.0f64, -1.0f64);
    let mut hz = 20.0;
    while hz <= top {
        let p = power_at(x, rate, hz);
        if p > best.1 {
            best = (hz, p);
        }
        hz += SCAN_STEP_HZ;
    }
    // Per 100 ms block: the frequency (within one scan step of the coarse peak) whose fitted tone
    // holds the most power, and that tone's SNR; then the medians. A capture that was stretched or
    // had a gap (an underrun padded with silence) jumps in phase, which would smear one spectrum or
    // one fit over the whole signal; blocks see such a jump at most once.
    let block = (rate as usize / 10).max(64);
    let mut fits: Vec<(f64, f64)> = x
        .chunks_exact(block)
        .map(|b| block_fit(b, rate, best.0))
        .collect();
    if fits.is_empty() {
        fits.push(block_fit(x, rate, best.0));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    ToneAnalysis {
        peak_hz: median(fits.iter().map(|f| f.0).collect()),
        snr_db: median(fits.iter().map(|f| f.1).collect()),
        rms,
    }
}

/// Least-squares fit of offset + sine + cosine at `hz`: (power of the fitted tone, power of the rest).
fn fit(x: &[f32], rate: f64, hz: f64) -> (f64, f64) {
    let n = x.len().max(1) as f64;
    let w = std::f64::consts::TAU * hz / rate;
    let mean = x.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
    let (mut scc, mut sss, mut scs, mut sxc, mut sxs) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let (s, c) = (w * i as f64).sin_cos();
        let v = f64::from(v) - mean;
        scc += c * c;
        sss += s * s;
        scs += c * s;
        sxc += v * c;
        sxs += v * s;
    }
    let det = scc * sss - scs * scs;
    let (a, b) = if det.abs() > f64::EPSILON {
        ((sxc * sss - sxs * scs) / det, (sxs * scc - sxc * scs) / det)
    } else {
        (0.0, 0.0)
    };
    let (mut signal, mut noise) = (0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let (s, c) = (w * i as f64).sin_cos();
        let fitted = a * c + b * s;
        signal += fitted * fitted;
        noise += (f64::from(v) - mean - fitted).powi(2);
    }
    (signal / n, noise / n)
}

/// The block's best-fitting frequency within one scan step of `hz`, and its SNR in dB there.
fn block_fit(x: &[f32], rate: f64, hz: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (hz - SCAN_STEP_HZ, hz + SCAN_STEP_HZ);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..30 {
        let a = hi - g * (hi - lo);
        let b = lo + g * (hi - lo);
        if fit(x, rate, a).0 > fit(x, rate, b).0 {
            hi = b;
        } else {
            lo = a;
        }
    }
    let f = (lo + hi) / 2.0;
    let (signal, noise) = fit(x, rate, f);
    (f, 10.0 * (signal / noise.max(1e-30)).log10())
}

/// How far the tone at `own` stands above the strongest of `others` in `x`, in dB: how well a
/// channel is kept apart from the tones meant for the other channels.
pub fn separation_db(x: &[f32], rate: u32, own: f64, others: &[f64]) -> f64 {
    let rate = f64::from(rate.max(1));
    let mine = power_at(x, rate, own);
    let worst = others
        .iter()
        .map(|&f| power_at(x, rate, f))
        .fold(0.0f64, f64::max);
    10.0 * (mine / worst.max(1e-30)).log10()
}

/// The samples of channel `c` of interleaved `channels`-channel audio.
pub fn channel(interleaved: &[f32], channels: usize, c: usize) -> Vec<f32> {
    interleaved
        .iter()
        .skip(c)
        .step_by(channels.max(1))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, n: usize, noise: f32) -> Vec<f32> {
        let mut seed = 1u32;
        (0..n)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let r = (seed >> 8) as f32 / (1 << 24) as f32 - 0.5;
                (0.5 * (std::f64::consts::TAU * hz * i as f64 / 48_000.0).sin()) as f32 + noise * r
            })
            .collect()
    }

    #[test]
    fn finds_the_tone_and_its_snr() {
        let clean = analyse(&tone(440.0, 48_000, 0.0), 48_000);
        assert!((clean.peak_hz - 440.0).abs() < 0.05, "{clean:?}");
        assert!(clean.snr_db > 60.0, "{clean:?}");
        // Uniform noise of ±0.05 (power 0.1²/12) against a 0.5 sine (power 0.125): ≈ 21.8 dB.
        let noisy = analyse(&tone(1000.0, 48_000, 0.1), 48_000);
        assert!((noisy.peak_hz - 1000.0).abs() < 0.1, "{noisy:?}");
        assert!((noisy.snr_db - 21.8).abs() < 0.5, "{noisy:?}");
    }

    #[test]
    fn separation_of_two_tones() {
        let x = tone(500.0, 48_000, 0.0);
        assert!(separation_db(&x, 48_000, 500.0, &[300.0, 700.0]) > 60.0);
        assert!(separation_db(&x, 48_000, 300.0, &[500.0]) < -60.0);
    }

    #[test]
    fn a_gap_does_not_ruin_the_snr() {
        // 20 ms of silence in the middle (an underrun padded with silence) shifts the phase.
        let mut x = tone(440.0, 24_000, 0.0);
        x.extend(std::iter::repeat_n(0.0, 960));
        x.extend(tone(440.0, 24_000, 0.0));
        let a = analyse(&x, 48_000);
        assert!(a.snr_db > 40.0, "{a:?}");
        assert!((a.peak_hz - 440.0).abs() < 0.05, "{a:?}");
    }

    #[test]
    fn silence_has_no_peak() {
        let a = analyse(&[0.0; 1000], 48_000);
        assert_eq!(a.peak_hz, 0.0);
        assert_eq!(a.snr_db, f64::NEG_INFINITY);
        assert_eq!(channel(&[1.0, 2.0, 3.0, 4.0], 2, 1), vec![2.0, 4.0]);
    }
}
