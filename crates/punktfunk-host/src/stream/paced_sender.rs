//! Sending a frame's datagrams for both protocols: spread over a span proportional to the frame's
//! size (so an IDR does not land in a router queue or the client's socket buffer as one burst), in
//! a few bursts, each burst in as few UDP segmentation-offload sends as the kernel allows.

use punktfunk_core::packetize::DatagramBatch;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Frames are paced at this multiple of the stream's bitrate (an average frame leaves in a third of
/// its interval), but never slower than [`PACING_FLOOR_BPS`]: pacing smooths bursts without adding
/// more latency than the link needs.
const PACING_BITRATE_MULTIPLE: f64 = 3.0;
const PACING_FLOOR_BPS: f64 = 500e6;
/// Longest a frame's datagrams are spread over, as a share of the frame interval.
const PACING_FRACTION: f64 = 0.5;
/// Bursts a frame's datagrams are paced in: up to 8, of at least 8 datagrams each (every gap is a
/// sleep that costs tens of µs more than asked, so a small frame goes out in one or two bursts).
const PACING_BURSTS: usize = 8;
const MIN_BURST: usize = 8;
/// Largest payload of one segmentation-offload send (the UDP length field's limit, less headers).
const MAX_GSO_PAYLOAD: usize = 65_000;

/// A session's handle on a (possibly shared) UDP socket.
#[derive(Clone)]
pub struct PacedSender {
    socket: Arc<UdpSocket>,
    udp: Arc<quinn_udp::UdpSocketState>,
}

impl PacedSender {
    /// Wraps `socket`, which stays in blocking mode: a full send buffer holds the sender back
    /// instead of dropping datagrams.
    pub fn new(socket: Arc<UdpSocket>) -> std::io::Result<Self> {
        let udp = Arc::new(quinn_udp::UdpSocketState::new((&*socket).into())?);
        // quinn-udp makes the socket non-blocking; senders want back-pressure.
        socket.set_nonblocking(false)?;
        Ok(PacedSender { socket, udp })
    }

    /// Datagrams one send can carry (1 without segmentation offload).
    pub fn max_segments(&self) -> usize {
        self.udp.max_gso_segments()
    }

    /// How long a frame of `bytes` at `bitrate_kbps` is spread over, at most half of `interval`.
    pub fn span(bytes: usize, bitrate_kbps: u32, interval: Duration) -> Duration {
        let rate =
            (f64::from(bitrate_kbps) * 1000.0 * PACING_BITRATE_MULTIPLE).max(PACING_FLOOR_BPS);
        Duration::from_secs_f64(bytes as f64 * 8.0 / rate).min(interval.mul_f64(PACING_FRACTION))
    }

    /// Sends the batch to `dest` in up to [`PACING_BURSTS`] bursts spread over `span`.
    pub fn send(&self, batch: &DatagramBatch, dest: SocketAddr, span: Duration) {
        let len = batch.datagram_len();
        let bursts = batch.len().div_ceil(MIN_BURST).clamp(1, PACING_BURSTS);
        let per_burst = batch.len().div_ceil(bursts).max(1);
        let gap = span / bursts as u32;
        // One GSO send carries at most 64 KiB of payload in all; the kernel refuses larger ones (and
        // quinn-udp reports that refusal as success).
        let per_send = self
            .udp
            .max_gso_segments()
            .min(MAX_GSO_PAYLOAD / len.max(1))
            .max(1);
        let start = Instant::now();
        for (burst, datagrams) in batch.as_bytes().chunks(per_burst * len.max(1)).enumerate() {
            let due = start + gap * burst as u32;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            for contents in datagrams.chunks(per_send * len.max(1)) {
                let transmit = quinn_udp::Transmit {
                    destination: dest,
                    ecn: None,
                    contents,
                    segment_size: (contents.len() > len).then_some(len),
                    src_ip: None,
                };
                // A failed send loses these datagrams like the network would; FEC and keyframes
                // recover.
                if let Err(e) = self.udp.send((&*self.socket).into(), &transmit) {
                    tracing::trace!(error = %e, "video send failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_follow_size_and_stay_within_half_an_interval() {
        let interval = Duration::from_micros(16_667);
        // 42 kB at 20 Mbit/s: the 500 Mbit/s floor applies → 0.67 ms.
        let span = PacedSender::span(42_000, 20_000, interval);
        assert!((Duration::from_micros(600)..Duration::from_micros(700)).contains(&span));
        // A 2 MB keyframe would take 32 ms at the floor: capped at half the interval.
        assert_eq!(PacedSender::span(2_000_000, 20_000, interval), interval / 2);
    }

    #[test]
    fn every_datagram_arrives_whole_and_in_order() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let tx = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let sender = PacedSender::new(tx).unwrap();
        let mut packetizer = punktfunk_core::gamestream::video::VideoPacketizer::new(
            &punktfunk_core::gamestream::video::VideoConfig {
                packet_size: 1024,
                fec_percent: 20,
                min_required_fec_packets: 2,
                encryption_key: None,
            },
        )
        .unwrap();
        let data = punktfunk_core::testsrc::pattern_bytes(1, 60_000);
        let mut batch = DatagramBatch::new();
        packetizer
            .packetize_into(
                &punktfunk_core::gamestream::video::VideoFrame {
                    data: &data,
                    frame_type: punktfunk_core::gamestream::video::FrameType::Idr,
                    rtp_timestamp: 0,
                    host_latency: 0,
                },
                &mut batch,
            )
            .unwrap();
        sender.send(&batch, rx.local_addr().unwrap(), Duration::from_millis(2));
        let mut buf = vec![0u8; 4096];
        for expected in batch.iter() {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], expected);
        }
    }
}
