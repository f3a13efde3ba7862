//! A moving test pattern that carries its own frame number and timestamp.
//!
//! The picture has smooth gradients (cheap to code), saturated moving bars (sharp edges and chroma
//! transitions), and a scrolling block-noise panel (high-frequency detail, so the bitrate matters). Its top
//! band is a *stamp*: [`STAMP_CELLS`] big black/white cells (at least 16×16 px, macroblock-aligned) holding
//! a start marker, the frame number (u32), the low 32 bits of the timestamp in µs, a CRC-8 over both and an
//! end marker. Cells are read back by averaging their centre and thresholding, which survives lossy coding
//! at any sane bitrate; the markers and the CRC reject anything that is not a clean stamp.

use crate::PixelFormat;

/// Cells in the stamp: 4 start-marker + 32 frame-number + 32 timestamp + 8 CRC + 4 end-marker bits.
pub const STAMP_CELLS: u32 = 80;
const START_MARKER: [bool; 4] = [true, false, true, true];
const END_MARKER: [bool; 4] = [false, true, false, false];
/// Smallest stamp cell (px): one macroblock, so the cells survive 4:2:0 and block transforms.
const MIN_CELL: u32 = 16;

/// What a stamp carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    pub frame_number: u32,
    /// Low 32 bits of the frame's timestamp in µs.
    pub timestamp_us_low: u32,
}

impl Stamp {
    /// The stamp [`TestPattern::render`] writes for these values.
    pub fn new(frame_number: u64, timestamp_us: u64) -> Self {
        // Truncation is the format: both fields are the low 32 bits.
        Self {
            frame_number: frame_number as u32,
            timestamp_us_low: timestamp_us as u32,
        }
    }

    fn bits(&self) -> [bool; STAMP_CELLS as usize] {
        let mut payload = [0u8; 8];
        payload[..4].copy_from_slice(&self.frame_number.to_be_bytes());
        payload[4..].copy_from_slice(&self.timestamp_us_low.to_be_bytes());
        let crc = crc8(&payload);
        let mut bits = [false; STAMP_CELLS as usize];
        bits[..4].copy_from_slice(&START_MARKER);
        for (i, byte) in payload.iter().chain(std::iter::once(&crc)).enumerate() {
            for b in 0..8 {
                bits[4 + i * 8 + b] = byte & (0x80 >> b) != 0;
            }
        }
        bits[76..].copy_from_slice(&END_MARKER);
        bits
    }

    fn from_bits(bits: &[bool; STAMP_CELLS as usize]) -> Option<Self> {
        if bits[..4] != START_MARKER || bits[76..] != END_MARKER {
            return None;
        }
        let mut bytes = [0u8; 9];
        for (i, byte) in bytes.iter_mut().enumerate() {
            for b in 0..8 {
                if bits[4 + i * 8 + b] {
                    *byte |= 0x80 >> b;
                }
            }
        }
        if crc8(&bytes[..8]) != bytes[8] {
            return None;
        }
        Some(Self {
            frame_number: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            timestamp_us_low: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        })
    }
}

/// CRC-8, polynomial 0x07 (CRC-8/SMBUS).
fn crc8(data: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &byte in data {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Where the stamp cells sit for a given picture size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StampLayout {
    cell: u32,
    cols: u32,
    rows: u32,
}

impl StampLayout {
    /// Cells are about 1/40 of the width (a multiple of 16, at least 16), laid out in as many rows as
    /// needed. `None` when the stamp would take more than half the picture.
    fn for_size(width: u32, height: u32) -> Option<Self> {
        let cell = (width / 40 / MIN_CELL * MIN_CELL).max(MIN_CELL);
        let cols = (width / cell).min(STAMP_CELLS);
        if cols == 0 {
            return None;
        }
        let rows = STAMP_CELLS.div_ceil(cols);
        (rows * cell <= height / 2).then_some(Self { cell, cols, rows })
    }

    fn band_height(&self) -> u32 {
        self.rows * self.cell
    }

    /// Index of the cell covering pixel (x, y) of the band, if any.
    fn cell_at(&self, x: u32, y: u32) -> Option<usize> {
        let (col, row) = (x / self.cell, y / self.cell);
        let index = row * self.cols + col;
        (col < self.cols && index < STAMP_CELLS).then_some(index as usize)
    }
}

/// The moving test pattern at one picture size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestPattern {
    pub width: u32,
    pub height: u32,
}

/// Saturated bar colours (R, G, B).
const BAR_COLOURS: [[u8; 3]; 6] = [
    [230, 30, 30],
    [30, 200, 40],
    [40, 60, 230],
    [240, 220, 20],
    [20, 220, 220],
    [220, 40, 220],
];

impl TestPattern {
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// Bytes per row of what [`render`](Self::render) produces (tightly packed, 4 bytes per pixel).
    pub fn stride(&self) -> usize {
        self.width as usize * 4
    }

    /// Renders frame `frame_number` into `out` (resized to `stride × height`) as 32-bit `format` pixels and
    /// returns the stride. The stamp carries `frame_number` and the low 32 bits of `timestamp_us`.
    pub fn render(
        &self,
        frame_number: u64,
        timestamp_us: u64,
        format: PixelFormat,
        out: &mut Vec<u8>,
    ) -> usize {
        let (w, h) = (self.width as usize, self.height as usize);
        let stride = self.stride();
        out.clear();
        out.resize(stride * h, 0);
        if w == 0 || h == 0 {
            return stride;
        }
        // Motion is periodic anyway; keeping `t` small keeps the arithmetic below far from overflow.
        let t = (frame_number % (1 << 20)) as usize;
        let layout = StampLayout::for_size(self.width, self.height);
        let band = layout.map_or(0, |l| l.band_height() as usize);
        let bits = Stamp::new(frame_number, timestamp_us).bits();

        // Geometry of the moving parts, scaled to the picture.
        let bar_w = (w / 32).max(4);
        let bar_period = (w / 6).max(bar_w * 2);
        let bar_shift = t * 6;
        let hbar_h = (h / 30).max(4);
        let content_h = (h - band).max(1);
        let hbar_y = band + (t * 3) % content_h;
        let (panel_x0, panel_x1) = (w * 5 / 8, w * 15 / 16);
        let (panel_y0, panel_y1) = (band + content_h / 2, band + content_h * 7 / 8);
        let noise_scroll = t * 2;

        // Per-frame tables, so the per-pixel work is a few lookups (this runs unoptimised in tests, too).
        // Bar coverage per column (0..=256), fading in and out over `EDGE` px.
        let bars: Vec<(u32, [u8; 3])> = (0..w)
            .map(|x| {
                let shifted = x + bar_period * 8 - bar_shift % (bar_period * 8);
                let colour = BAR_COLOURS[shifted / bar_period % BAR_COLOURS.len()];
                (ramp(shifted % bar_period, bar_w), colour)
            })
            .collect();
        let red: Vec<u8> = (0..w).map(|x| triangle(x * 512 / w + t * 3)).collect();
        let blue: Vec<u8> = (0..w + h)
            .map(|d| triangle(d / 2 + t * 5).max(24))
            .collect();
        let (ri, bi) = match format {
            PixelFormat::Bgrx => (2, 0),
            PixelFormat::Rgbx => (0, 2),
        };
        let pixel = |rgb: [u8; 3]| {
            let mut px = [255u8; 4];
            (px[ri], px[1], px[bi]) = (rgb[0], rgb[1], rgb[2]);
            px
        };
        // Rows that repeat (the stamp band per cell row, the horizontal bar's core) are built once and copied.
        let band_rows: Vec<Vec<u8>> = layout.map_or_else(Vec::new, |layout| {
            (0..layout.rows)
                .map(|cell_row| {
                    (0..w)
                        .flat_map(|x| {
                            pixel(match layout.cell_at(x as u32, cell_row * layout.cell) {
                                Some(i) if bits[i] => [255, 255, 255],
                                Some(_) => [0, 0, 0],
                                None => [128, 128, 128],
                            })
                        })
                        .collect()
                })
                .collect()
        });
        const HBAR: u8 = 235;
        let hbar_row = pixel([HBAR; 3]).repeat(w);
        // The background row with the solid part of the bars already in; the other columns per row.
        let mut template = vec![0u8; w * 4];
        for (x, px) in template.chunks_exact_mut(4).enumerate() {
            px.copy_from_slice(&pixel(bars[x].1));
        }
        let background: Vec<usize> = (0..w).filter(|&x| bars[x].0 == 0).collect();
        let bar_edges: Vec<(usize, u32, [u8; 3])> = (0..w)
            .filter(|&x| (1..256).contains(&bars[x].0))
            .map(|x| (x, bars[x].0, bars[x].1))
            .collect();
        let (noise_on, noise_off) = (pixel([250, 250, 250]), pixel([24, 24, 24]));

        for (y, row) in out.chunks_exact_mut(stride).enumerate() {
            let row = &mut row[..w * 4];
            if y < band {
                if let Some(layout) = layout {
                    row.copy_from_slice(&band_rows[y / layout.cell as usize]);
                }
                continue;
            }
            let hbar = ramp((y + EDGE).wrapping_sub(hbar_y), hbar_h);
            if hbar == 256 {
                row.copy_from_slice(&hbar_row);
                continue;
            }
            row.copy_from_slice(&template);
            let g = triangle(y * 2 + t * 2);
            let blue = &blue[y..y + w];
            for &x in &background {
                (row[x * 4 + ri], row[x * 4 + 1], row[x * 4 + bi]) = (red[x], g, blue[x]);
            }
            for &(x, alpha, colour) in &bar_edges {
                let [r, g, b] = blend([red[x], g, blue[x]], colour, alpha);
                (row[x * 4 + ri], row[x * 4 + 1], row[x * 4 + bi]) = (r, g, b);
            }
            if y >= panel_y0 && y < panel_y1 {
                // Block noise (4×4 px cells) scrolling left.
                let cell_y = (y / 4) as u32;
                for x in panel_x0..panel_x1 {
                    let on = hash(((x + noise_scroll) / 4) as u32, cell_y) & 1 == 1;
                    row[x * 4..x * 4 + 4].copy_from_slice(if on { &noise_on } else { &noise_off });
                }
            }
            if hbar > 0 {
                let over = u32::from(HBAR) * hbar;
                for px in row.chunks_exact_mut(4) {
                    for v in &mut px[..3] {
                        *v = ((u32::from(*v) * (256 - hbar) + over) / 256) as u8;
                    }
                }
            }
        }
        stride
    }
}

/// Width (px) over which moving bars fade in and out: soft chroma edges that 4:2:0 sampling can carry,
/// so what the round-trip PSNR measures is the codec, not the subsampling of hard colour edges.
const EDGE: usize = 8;

/// Coverage (0..=256) at `pos` of a bar whose solid part is `solid` px, preceded and followed by `EDGE` px
/// ramps; 0 outside `0..solid + 2 × EDGE`.
fn ramp(pos: usize, solid: usize) -> u32 {
    let alpha = if pos < EDGE {
        (pos + 1) * 256 / (EDGE + 1)
    } else if pos < EDGE + solid {
        256
    } else if pos < 2 * EDGE + solid {
        (2 * EDGE + solid - pos) * 256 / (EDGE + 1)
    } else {
        0
    };
    alpha as u32
}

/// `a` blended towards `b` by `alpha`/256.
fn blend(a: [u8; 3], b: [u8; 3], alpha: u32) -> [u8; 3] {
    let mix = |a: u8, b: u8| ((u32::from(a) * (256 - alpha) + u32::from(b) * alpha) / 256) as u8;
    [mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2])]
}

/// A 0→255→0 triangle wave with period 512: smooth everywhere, no wrap-around edges.
fn triangle(v: usize) -> u8 {
    let v = v % 512;
    if v < 256 { v as u8 } else { (511 - v) as u8 }
}

/// A small integer hash (for reproducible block noise).
fn hash(x: u32, y: u32) -> u32 {
    let mut h = x.wrapping_mul(0x9E37_79B1) ^ y.wrapping_mul(0x85EB_CA77);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^ (h >> 12)
}

/// Converts 32-bit BGRx/RGBx pixels to tightly packed RGB24 (for comparing with decoded frames).
///
/// # Panics
/// When `data` is shorter than `stride × (height − 1) + width × 4`.
pub fn to_rgb24(
    data: &[u8],
    format: PixelFormat,
    width: u32,
    height: u32,
    stride: usize,
) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let (ri, bi) = match format {
        PixelFormat::Bgrx => (2, 0),
        PixelFormat::Rgbx => (0, 2),
    };
    let mut rgb = vec![0u8; w * h * 3];
    for (y, out) in rgb.chunks_exact_mut(w * 3).enumerate() {
        let row = &data[y * stride..y * stride + w * 4];
        for (px, o) in row.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
            o[0] = px[ri];
            o[1] = px[1];
            o[2] = px[bi];
        }
    }
    rgb
}

/// Reads the stamp back from an RGB24 picture (`stride` bytes per row, ≥ `width × 3`).
///
/// Each cell's centre half (in both directions) is averaged to luma and thresholded at mid-grey. Returns
/// `None` when the picture is too small for a stamp, the buffer is short, or the markers or CRC don't
/// match (not a stamp, or too damaged to trust).
pub fn read_stamp(rgb: &[u8], width: u32, height: u32, stride: usize) -> Option<Stamp> {
    let layout = StampLayout::for_size(width, height)?;
    if stride < width as usize * 3
        || rgb.len() < stride * (layout.band_height() as usize - 1) + width as usize * 3
    {
        return None;
    }
    let cell = layout.cell as usize;
    let (inset, span) = (cell / 4, cell / 2);
    let mut bits = [false; STAMP_CELLS as usize];
    for (i, bit) in bits.iter_mut().enumerate() {
        let (col, row) = (i % layout.cols as usize, i / layout.cols as usize);
        let (x0, y0) = (col * cell + inset, row * cell + inset);
        let mut sum = 0u64;
        for y in y0..y0 + span {
            let line = &rgb[y * stride + x0 * 3..y * stride + (x0 + span) * 3];
            for px in line.chunks_exact(3) {
                sum += u64::from(px[0]) + 2 * u64::from(px[1]) + u64::from(px[2]);
            }
        }
        let mean_luma = sum / (4 * (span * span) as u64);
        *bit = mean_luma >= 128;
    }
    Stamp::from_bits(&bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn render_rgb(pattern: &TestPattern, frame: u64, ts: u64, format: PixelFormat) -> Vec<u8> {
        let mut buf = Vec::new();
        let stride = pattern.render(frame, ts, format, &mut buf);
        to_rgb24(&buf, format, pattern.width, pattern.height, stride)
    }

    #[test]
    fn stamp_reads_back_at_720p() {
        let p = TestPattern::new(1280, 720);
        for (frame, ts) in [
            (0u64, 0u64),
            (1, 16_667),
            (59, 983_333),
            (u64::MAX, u64::MAX),
            (0x1234_5678, 1 << 40),
        ] {
            for format in [PixelFormat::Bgrx, PixelFormat::Rgbx] {
                let rgb = render_rgb(&p, frame, ts, format);
                assert_eq!(
                    read_stamp(&rgb, 1280, 720, 1280 * 3),
                    Some(Stamp::new(frame, ts))
                );
            }
        }
    }

    #[test]
    fn layout_is_macroblock_aligned_and_fits() {
        for (w, h) in [
            (1280, 720),
            (1920, 1080),
            (3840, 2160),
            (640, 360),
            (320, 240),
            (64, 1280),
        ] {
            let l = StampLayout::for_size(w, h).expect("layout");
            assert!(l.cell >= 16 && l.cell.is_multiple_of(16), "{w}x{h}: {l:?}");
            assert!(l.cols * l.cell <= w && l.cols * l.rows >= STAMP_CELLS);
            assert!(l.band_height() <= h / 2);
        }
        assert_eq!(
            StampLayout::for_size(1280, 720),
            Some(StampLayout {
                cell: 32,
                cols: 40,
                rows: 2
            })
        );
        assert_eq!(StampLayout::for_size(15, 720), None);
        assert_eq!(StampLayout::for_size(320, 64), None);
    }

    #[test]
    fn frames_move_and_are_never_black() {
        let p = TestPattern::new(640, 360);
        let a = render_rgb(&p, 10, 0, PixelFormat::Rgbx);
        let b = render_rgb(&p, 11, 0, PixelFormat::Rgbx);
        let band =
            StampLayout::for_size(640, 360).map_or(0, |l| l.band_height() as usize) * 640 * 3;
        let changed = a[band..]
            .iter()
            .zip(&b[band..])
            .filter(|(x, y)| x != y)
            .count();
        assert!(
            changed > a.len() / 4,
            "only {changed} bytes changed between frames"
        );
        let mean = a.iter().map(|&v| u64::from(v)).sum::<u64>() / a.len() as u64;
        assert!(mean > 60, "mean {mean}");
    }

    #[test]
    fn damaged_stamps_are_rejected() {
        let p = TestPattern::new(1280, 720);
        let mut rgb = render_rgb(&p, 42, 4242, PixelFormat::Rgbx);
        // Flip one payload cell (index 10: row 0, column 10) to the opposite colour.
        let cell = 32;
        for y in 0..cell {
            for x in 10 * cell..11 * cell {
                let i = (y * 1280 + x) * 3;
                for c in &mut rgb[i..i + 3] {
                    *c = 255 - *c;
                }
            }
        }
        assert_eq!(read_stamp(&rgb, 1280, 720, 1280 * 3), None);
        // A plain grey picture is not a stamp either.
        assert_eq!(
            read_stamp(&vec![128; 1280 * 720 * 3], 1280, 720, 1280 * 3),
            None
        );
        // Short buffers are refused, not indexed out of bounds.
        assert_eq!(read_stamp(&rgb[..1000], 1280, 720, 1280 * 3), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn render_then_read_survives_noise_and_padding(
            frame in any::<u64>(),
            ts in any::<u64>(),
            w in 64u32..1400,
            h in 64u32..400,
            pad in 0usize..16,
            noise_seed in any::<u32>(),
            bgrx in any::<bool>(),
        ) {
            let p = TestPattern::new(w, h);
            let format = if bgrx { PixelFormat::Bgrx } else { PixelFormat::Rgbx };
            let tight = render_rgb(&p, frame, ts, format);
            // Re-lay the picture with row padding and add ±60 of deterministic noise (lossy-coding stand-in).
            let stride = w as usize * 3 + pad;
            let mut rgb = vec![0u8; stride * h as usize];
            for y in 0..h as usize {
                for x in 0..w as usize * 3 {
                    let n = (hash(x as u32 ^ noise_seed, y as u32) % 121) as i32 - 60;
                    let v = i32::from(tight[y * w as usize * 3 + x]) + n;
                    rgb[y * stride + x] = v.clamp(0, 255) as u8;
                }
            }
            let expected = StampLayout::for_size(w, h).map(|_| Stamp::new(frame, ts));
            prop_assert_eq!(read_stamp(&rgb, w, h, stride), expected);
        }
    }
}
