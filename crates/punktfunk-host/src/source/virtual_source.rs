//! The virtual source: synthetic access units at the client's mode and bitrate, each a
//! [`TestFrame`] carrying its frame number and capture time so the client can check every byte and
//! measure latency. Sizes follow the bitrate (keyframes four times a P-frame, ±20 % variation).

use super::FrameSource;
use punktfunk_core::testsrc::TestFrame;

pub struct VirtualSource {
    width: u16,
    height: u16,
    refresh_mhz: u32,
    variation: u64,
}

impl VirtualSource {
    pub fn new(width: u32, height: u32, refresh_mhz: u32) -> Self {
        VirtualSource {
            width: width.min(u32::from(u16::MAX)) as u16,
            height: height.min(u32::from(u16::MAX)) as u16,
            refresh_mhz,
            variation: 0x1234_5678,
        }
    }
}

impl FrameSource for VirtualSource {
    fn describe(&self) -> String {
        "raw test frames".into()
    }

    fn next_frame(
        &mut self,
        number: u64,
        capture_us: u64,
        keyframe: bool,
        bitrate_kbps: u32,
        out: &mut Vec<u8>,
    ) -> anyhow::Result<bool> {
        let fps = f64::from(self.refresh_mhz.max(1000)) / 1000.0;
        let mean = f64::from(bitrate_kbps) * 1000.0 / 8.0 / fps;
        self.variation ^= self.variation << 13;
        self.variation ^= self.variation >> 7;
        self.variation ^= self.variation << 17;
        let jitter = 0.8 + 0.4 * (self.variation % 1000) as f64 / 1000.0;
        let scale = if keyframe { 4.0 } else { jitter };
        let len = ((mean * scale) as u32).clamp(64, 16 * 1024 * 1024);
        TestFrame {
            keyframe,
            width: self.width,
            height: self.height,
            refresh_mhz: self.refresh_mhz,
            frame_number: number,
            capture_us,
            len,
        }
        .build(out);
        Ok(keyframe)
    }
}
