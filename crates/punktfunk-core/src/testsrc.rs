//! Synthetic access units of the virtual test source: every frame carries its frame number, capture
//! timestamp and mode in a fixed prefix, followed by bytes derived from the frame number, so a receiver
//! can check every byte without having seen the sender's state.
//!
//! Layout: `"PKVS" | version u8 (1) | keyframe u8 | width u16 | height u16 | refresh_mhz u32 |
//! frame_number u64 | capture_us u64 | length u32 | pattern…` (little-endian), 36 bytes of prefix.

/// Bytes of the self-describing prefix in front of the pattern.
pub const PREFIX_LEN: usize = 36;
const MAGIC: &[u8; 4] = b"PKVS";

/// What a test frame says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestFrame {
    /// The source marked the frame as a keyframe.
    pub keyframe: bool,
    /// Width in pixels of the mode the source pretends to capture.
    pub width: u16,
    /// Height in pixels of that mode.
    pub height: u16,
    /// Refresh rate of that mode in millihertz.
    pub refresh_mhz: u32,
    /// Frame number; also the seed of the frame's pattern.
    pub frame_number: u64,
    /// Capture time in µs of the source's clock, for latency measurements.
    pub capture_us: u64,
    /// Length of the whole frame in bytes, prefix included.
    pub len: u32,
}

/// Why a frame is not an intact test frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TestFrameError {
    /// Fewer bytes than [`PREFIX_LEN`].
    #[error("frame shorter than the test-frame prefix")]
    TooShort,
    /// The first four bytes are not `"PKVS"`.
    #[error("not a test frame")]
    BadMagic,
    /// The length field disagrees with the bytes handed in (truncated or padded frame).
    #[error("length field {field} disagrees with the frame's {actual} bytes")]
    Length {
        /// The frame's length field.
        field: u32,
        /// The frame's actual length in bytes.
        actual: usize,
    },
    /// The pattern byte at this offset differs from what the source wrote (corruption).
    #[error("pattern byte {0} is wrong")]
    Corrupt(usize),
}

/// `len` pattern bytes from `seed` (see [`fill_pattern`]).
pub fn pattern_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    fill_pattern(seed, &mut v);
    v
}

/// Fills `out` with deterministic, incompressible bytes derived from `seed` (xorshift64). Test frames
/// use it with the frame number as seed; tests and benchmarks use it for payloads.
pub fn fill_pattern(seed: u64, out: &mut [u8]) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in out.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

impl TestFrame {
    /// Builds the frame's bytes (`len` is raised to at least the prefix length).
    pub fn build(&self, out: &mut Vec<u8>) {
        let len = (self.len as usize).max(PREFIX_LEN);
        out.clear();
        out.resize(len, 0);
        out[0..4].copy_from_slice(MAGIC);
        out[4] = 1;
        out[5] = u8::from(self.keyframe);
        out[6..8].copy_from_slice(&self.width.to_le_bytes());
        out[8..10].copy_from_slice(&self.height.to_le_bytes());
        out[10..14].copy_from_slice(&self.refresh_mhz.to_le_bytes());
        out[14..22].copy_from_slice(&self.frame_number.to_le_bytes());
        out[22..30].copy_from_slice(&self.capture_us.to_le_bytes());
        out[30..34].copy_from_slice(&(len as u32).to_le_bytes());
        fill_pattern(self.frame_number, &mut out[PREFIX_LEN..]);
    }

    /// Checks every byte of `data` and returns what the frame says about itself.
    pub fn verify(data: &[u8]) -> Result<TestFrame, TestFrameError> {
        if data.len() < PREFIX_LEN {
            return Err(TestFrameError::TooShort);
        }
        if &data[0..4] != MAGIC || data[4] != 1 {
            return Err(TestFrameError::BadMagic);
        }
        let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]);
        let u32_at =
            |o: usize| u32::from_le_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]]);
        let u64_at = |o: usize| u64::from(u32_at(o)) | (u64::from(u32_at(o + 4)) << 32);
        let frame = TestFrame {
            keyframe: data[5] != 0,
            width: u16_at(6),
            height: u16_at(8),
            refresh_mhz: u32_at(10),
            frame_number: u64_at(14),
            capture_us: u64_at(22),
            len: u32_at(30),
        };
        if frame.len as usize != data.len() {
            return Err(TestFrameError::Length {
                field: frame.len,
                actual: data.len(),
            });
        }
        let mut expect = vec![0u8; data.len() - PREFIX_LEN];
        fill_pattern(frame.frame_number, &mut expect);
        if let Some(i) = expect
            .iter()
            .zip(&data[PREFIX_LEN..])
            .position(|(a, b)| a != b)
        {
            return Err(TestFrameError::Corrupt(PREFIX_LEN + i));
        }
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_verify_and_detect_corruption() {
        let f = TestFrame {
            keyframe: true,
            width: 1280,
            height: 720,
            refresh_mhz: 60_000,
            frame_number: 9,
            capture_us: 123,
            len: 5000,
        };
        let mut buf = Vec::new();
        f.build(&mut buf);
        assert_eq!(TestFrame::verify(&buf), Ok(f));
        buf[4000] ^= 1;
        assert_eq!(TestFrame::verify(&buf), Err(TestFrameError::Corrupt(4000)));
        assert_eq!(TestFrame::verify(&buf[..10]), Err(TestFrameError::TooShort));
        assert!(TestFrame::verify(&buf[..100]).is_err());
    }
}
