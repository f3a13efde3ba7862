//! Frames to a browser: each encoded frame travels whole on its own WebTransport unidirectional
//! stream (QUIC retransmits what is lost; see docs/protocol.md, "punktfunk/1 in the browser").
//! The pipeline thread hands frames to the session's async writer through a short queue. When the
//! browser does not keep up, the queue fills and the video thread waits for room: no encoded frame
//! is dropped (that would break the chain of frames referencing it), while the capture side keeps
//! only the newest picture — so the stream's frame rate follows what the browser takes.

use crate::stream::{FrameOutput, FramedUnit};
use anyhow::Result;
use std::time::Duration;
use tokio::sync::mpsc;

/// Frames queued for the writer at most: enough to overlap writing one frame with encoding the
/// next, short enough that a slow page does not see old frames.
pub(super) const QUEUE_FRAMES: usize = 2;

/// Bytes before the access unit on a frame stream.
pub(super) const FRAME_HEADER_LEN: usize = 14;
/// First header byte: what the stream carries.
pub(super) const KIND_VIDEO: u8 = 1;
/// Header flag: the access unit is a keyframe.
pub(super) const FLAG_KEYFRAME: u8 = 1;

/// One frame stream's bytes: kind u8, flags u8, frame number LE32, capture time (host wall clock,
/// µs) LE64, then the access unit (H.264 Annex B) until the stream ends.
pub(super) fn frame_stream(number: u32, unit: &FramedUnit<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + unit.data.len());
    out.push(KIND_VIDEO);
    out.push(if unit.keyframe { FLAG_KEYFRAME } else { 0 });
    out.extend_from_slice(&number.to_le_bytes());
    out.extend_from_slice(&unit.presented_us.to_le_bytes());
    out.extend_from_slice(unit.data);
    out
}

pub(super) struct WebTransportOutput {
    frames: mpsc::Sender<Vec<u8>>,
    pending: Option<Vec<u8>>,
    /// Frame number of the next frame.
    number: u32,
}

impl WebTransportOutput {
    pub(super) fn new(frames: mpsc::Sender<Vec<u8>>) -> Self {
        WebTransportOutput {
            frames,
            pending: None,
            number: 0,
        }
    }
}

impl FrameOutput for WebTransportOutput {
    fn ready(&mut self) -> bool {
        !self.frames.is_closed()
    }

    fn frame(&mut self, unit: &FramedUnit<'_>) -> Result<()> {
        self.pending = Some(frame_stream(self.number, unit));
        self.number = self.number.wrapping_add(1);
        Ok(())
    }

    fn send(&mut self, _bitrate_kbps: u32, _interval: Duration) -> u64 {
        let Some(frame) = self.pending.take() else {
            return 0;
        };
        // Waits while the page is behind; fails only once the session's writer is gone.
        match self.frames.blocking_send(frame) {
            Ok(()) => 1,
            Err(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(keyframe: bool) -> FramedUnit<'static> {
        FramedUnit {
            data: &[0, 0, 0, 1, 0x65, 0x88],
            keyframe,
            presented_us: 0x0102_0304_0506_0708,
        }
    }

    #[test]
    fn frames_carry_their_number_time_and_kind() {
        let bytes = frame_stream(7, &unit(true));
        assert_eq!(bytes[0], KIND_VIDEO);
        assert_eq!(bytes[1], FLAG_KEYFRAME);
        assert_eq!(u32::from_le_bytes(bytes[2..6].try_into().unwrap()), 7);
        assert_eq!(
            u64::from_le_bytes(bytes[6..14].try_into().unwrap()),
            0x0102_0304_0506_0708
        );
        assert_eq!(&bytes[FRAME_HEADER_LEN..], unit(true).data);
    }

    #[test]
    fn a_full_queue_holds_the_video_thread_until_the_page_catches_up() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut out = WebTransportOutput::new(tx);
        assert!(out.ready());
        out.frame(&unit(true)).unwrap();
        assert_eq!(out.send(1000, Duration::ZERO), 1);
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let first = rx.blocking_recv().unwrap();
            let second = rx.blocking_recv().unwrap();
            (first, second, rx)
        });
        let started = std::time::Instant::now();
        out.frame(&unit(false)).unwrap();
        assert_eq!(
            out.send(1000, Duration::ZERO),
            1,
            "sent once there was room"
        );
        assert!(started.elapsed() >= Duration::from_millis(90), "it waited");
        let (first, second, rx) = reader.join().unwrap();
        let number = |f: &[u8]| u32::from_le_bytes(f[2..6].try_into().unwrap());
        assert_eq!((number(&first), number(&second)), (0, 1), "nothing dropped");
        drop(rx);
        assert!(!out.ready(), "the session's writer is gone");
        out.frame(&unit(false)).unwrap();
        assert_eq!(out.send(1000, Duration::ZERO), 0);
    }
}
