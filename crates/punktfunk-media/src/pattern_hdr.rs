//! The test pattern as an HDR10 source: its 8-bit values graded into the PQ (SMPTE ST 2084) curve in
//! BT.2020, with the static metadata that describes the result.
//!
//! Pattern value `v` is taken as a BT.2020 colour with a 2.4 display gamma and `peak` cd/m² at full
//! scale: it shows `peak · (v/255)^2.4` cd/m², and the grade writes that light level's PQ code. PQ
//! applies per channel to R′G′B′, so a 256-entry table does the whole grade. Mid-grey stays
//! mid-grey-ish and the stamp's black and white cells stay far apart (white at 1000 cd/m² is PQ
//! 0.75), so a client still reads the stamps back after decoding.

use crate::HdrMetadata;

/// SMPTE ST 2084 constants.
const M1: f64 = 2610.0 / 16384.0;
const M2: f64 = 2523.0 / 4096.0 * 128.0;
const C1: f64 = 3424.0 / 4096.0;
const C2: f64 = 2413.0 / 4096.0 * 32.0;
const C3: f64 = 2392.0 / 4096.0 * 32.0;

/// The PQ code (0..=1) of `nits` cd/m² (the inverse EOTF).
pub fn pq_encode(nits: f64) -> f64 {
    let y = (nits / 10_000.0).clamp(0.0, 1.0).powf(M1);
    ((C1 + C2 * y) / (1.0 + C3 * y)).powf(M2)
}

/// The light level in cd/m² of PQ code `e` (0..=1) (the EOTF).
pub fn pq_decode(e: f64) -> f64 {
    let p = e.clamp(0.0, 1.0).powf(1.0 / M2);
    10_000.0 * ((p - C1).max(0.0) / (C2 - C3 * p)).powf(1.0 / M1)
}

/// BT.2020 primaries and the D65 white point in units of 0.00002.
const BT2020_PRIMARIES: [(u16, u16); 3] = [(35400, 14600), (8500, 39850), (6550, 2300)];
const D65: (u16, u16) = (15635, 16450);
/// The mastering display's black level: 0.005 cd/m², in 0.0001 cd/m².
const MASTERING_BLACK: u32 = 50;

/// Grades 8-bit pattern pictures into PQ and measures their light levels.
#[derive(Clone, Debug)]
pub struct Hdr10Grade {
    /// Pattern value → PQ code, 8-bit.
    lut: [u8; 256],
    /// Pattern value → light level in cd/m².
    nits: [f64; 256],
    peak_nits: u16,
    max_cll: f64,
    max_fall: f64,
}

impl Hdr10Grade {
    /// A grade with full scale at `peak_nits` cd/m².
    pub fn new(peak_nits: u16) -> Self {
        let mut lut = [0u8; 256];
        let mut nits = [0f64; 256];
        for v in 0..256 {
            nits[v] = f64::from(peak_nits) * (v as f64 / 255.0).powf(2.4);
            lut[v] = (pq_encode(nits[v]) * 255.0).round() as u8;
        }
        Hdr10Grade {
            lut,
            nits,
            peak_nits,
            max_cll: 0.0,
            max_fall: 0.0,
        }
    }

    /// Grades a 4-bytes-per-pixel picture (B, G, R, X or R, G, B, X) in place.
    pub fn apply(&self, pixels: &mut [u8]) {
        for px in pixels.chunks_exact_mut(4) {
            for c in &mut px[..3] {
                *c = self.lut[usize::from(*c)];
            }
        }
    }

    /// Takes an ungraded 4-bytes-per-pixel picture's light levels into MaxCLL (the brightest channel
    /// of any pixel) and MaxFALL (the highest frame average of each pixel's brightest channel), as
    /// CTA-861.3 defines them.
    pub fn measure(&mut self, pixels: &[u8]) {
        let (mut sum, mut count) = (0.0, 0usize);
        for px in pixels.chunks_exact(4) {
            let brightest = px[..3].iter().copied().max().unwrap_or(0);
            let level = self.nits[usize::from(brightest)];
            self.max_cll = self.max_cll.max(level);
            sum += level;
            count += 1;
        }
        if count > 0 {
            self.max_fall = self.max_fall.max(sum / count as f64);
        }
    }

    /// The static metadata of what was measured: a BT.2020 mastering display reaching the grade's
    /// peak, and the measured MaxCLL / MaxFALL.
    pub fn metadata(&self) -> HdrMetadata {
        HdrMetadata {
            primaries: BT2020_PRIMARIES,
            white_point: D65,
            max_luminance: u32::from(self.peak_nits) * 10_000,
            min_luminance: MASTERING_BLACK,
            max_cll: self.max_cll.ceil() as u16,
            max_fall: self.max_fall.ceil() as u16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pq_matches_the_standard_at_known_points() {
        // ST 2084: 100 cd/m² ≈ 0.508, 1000 cd/m² ≈ 0.752, 10000 cd/m² = 1.
        assert!((pq_encode(100.0) - 0.5081).abs() < 0.001);
        assert!((pq_encode(1000.0) - 0.7518).abs() < 0.001);
        assert!((pq_encode(10_000.0) - 1.0).abs() < 1e-9);
        assert_eq!(pq_encode(0.0), (C1).powf(M2));
        for nits in [0.01, 1.0, 203.0, 4000.0] {
            assert!((pq_decode(pq_encode(nits)) - nits).abs() / nits < 1e-6);
        }
    }

    #[test]
    fn the_grade_is_monotonic_and_keeps_stamps_apart() {
        let grade = Hdr10Grade::new(1000);
        assert!(grade.lut.windows(2).all(|w| w[0] <= w[1]));
        assert!(grade.lut[0] < 2, "black stays black");
        assert!(
            grade.lut[255] >= 190,
            "white is PQ 0.75: {}",
            grade.lut[255]
        );
        let mut px = vec![0, 0, 0, 0, 255, 255, 255, 0];
        grade.apply(&mut px);
        assert_eq!(px[4..7], [grade.lut[255]; 3]);
        assert_eq!(px[7], 0, "the padding byte is left alone");
    }

    #[test]
    fn light_levels_are_measured_from_the_pictures() {
        let mut grade = Hdr10Grade::new(1000);
        // Half the frame full white, half black: MaxCLL 1000, MaxFALL 500.
        let mut frame = vec![255u8; 4 * 50];
        frame.extend(vec![0u8; 4 * 50]);
        grade.measure(&frame);
        let m = grade.metadata();
        assert_eq!((m.max_cll, m.max_fall), (1000, 500));
        assert_eq!(m.max_luminance, 10_000_000);
        // A dimmer frame later lowers nothing.
        grade.measure(&[128u8; 400]);
        assert_eq!(grade.metadata().max_fall, 500);
    }
}
