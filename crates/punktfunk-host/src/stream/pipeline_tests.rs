//! The pipeline with real parts: the moving test pattern, the real encoder (x264 here), a real UDP
//! socket. The framer records what it is handed and plays the session's part (keyframe requests,
//! bitrate changes) at a chosen frame, so "the next frame" is exact.

use super::frame_output::DatagramOutput;
use super::framer::{FramedUnit, Framer};
use super::paced_sender::PacedSender;
use super::pipeline::{StreamControl, run};
use super::video_source::VideoSource;
use punktfunk_core::packetize::DatagramBatch;
use punktfunk_media::{ChromaFormat, VideoCodec};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Debug)]
struct Seen {
    keyframe: bool,
    len: usize,
    presented_us: u64,
}

type Action = Box<dyn Fn(&StreamControl) + Send>;

struct Recorder {
    dest: SocketAddr,
    control: Arc<StreamControl>,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// (frame number, what the session does after that frame was handed over).
    actions: Vec<(usize, Action)>,
    stop_after: usize,
    stop: Arc<AtomicBool>,
}

impl Framer for Recorder {
    fn destination(&self) -> Option<SocketAddr> {
        Some(self.dest)
    }

    fn frame(&mut self, unit: &FramedUnit<'_>, batch: &mut DatagramBatch) -> anyhow::Result<()> {
        let mut seen = self.seen.lock().unwrap();
        seen.push(Seen {
            keyframe: unit.keyframe,
            len: unit.data.len(),
            presented_us: unit.presented_us,
        });
        let n = seen.len();
        for (at, action) in &self.actions {
            if *at == n {
                action(&self.control);
            }
        }
        if n >= self.stop_after {
            self.stop.store(true, Ordering::Relaxed);
        }
        // Something real to send: the access unit in 1200-byte GameStream-sized datagrams.
        let mut packetizer = punktfunk_core::gamestream::video::VideoPacketizer::new(
            &punktfunk_core::gamestream::video::VideoConfig {
                packet_size: 1024,
                fec_percent: 0,
                min_required_fec_packets: 0,
                encryption_key: None,
            },
        )?;
        packetizer.packetize_into(
            &punktfunk_core::gamestream::video::VideoFrame {
                data: unit.data,
                frame_type: punktfunk_core::gamestream::video::FrameType::P,
                rtp_timestamp: 0,
                host_latency: 0,
            },
            batch,
        )?;
        Ok(())
    }
}

/// Streams the 640×360@60 H.264 pattern for `frames` frames with `actions`; returns what was framed.
fn stream(frames: usize, actions: Vec<(usize, Action)>, control: Arc<StreamControl>) -> Vec<Seen> {
    let mut source = VideoSource::pattern(
        VideoCodec::H264,
        ChromaFormat::Yuv420,
        false,
        640,
        360,
        60_000,
        4000,
    )
    .unwrap();
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender = PacedSender::new(Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap())).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut framer = Recorder {
        dest: sink.local_addr().unwrap(),
        control: control.clone(),
        seen: seen.clone(),
        actions,
        stop_after: frames,
        stop: stop.clone(),
    };
    run(
        &mut source,
        &mut DatagramOutput::new(&mut framer, &sender),
        &control,
        &stop,
    )
    .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), frames);
    seen
}

#[test]
fn the_first_frame_and_a_requested_one_are_keyframes_and_time_runs_forward() {
    let control = Arc::new(StreamControl::new(4000));
    let request: Action =
        Box::new(|c: &StreamControl| c.keyframe_requested.store(true, Ordering::Relaxed));
    let seen = stream(40, vec![(20, request)], control.clone());
    let keyframes: Vec<usize> = (0..seen.len()).filter(|&i| seen[i].keyframe).collect();
    // Frame 1 (index 0) opens the stream; the request made after frame 20 makes frame 21 one.
    assert_eq!(keyframes, vec![0, 20], "{seen:?}");
    assert!(
        seen.windows(2)
            .all(|w| w[1].presented_us > w[0].presented_us),
        "frames in presentation order"
    );
    assert_eq!(control.frames_sent.load(Ordering::Relaxed), 40);
    assert!(control.datagrams_sent.load(Ordering::Relaxed) >= 40);
}

#[test]
fn a_bitrate_cut_shows_within_two_frames() {
    let control = Arc::new(StreamControl::new(8000));
    let cut: Action = Box::new(|c: &StreamControl| c.bitrate_kbps.store(500, Ordering::Relaxed));
    let seen = stream(60, vec![(40, cut)], control);
    let before: usize = seen[25..40].iter().map(|s| s.len).sum::<usize>() / 15;
    // 8 Mbit/s at 60 fps is ≈ 16.7 kB a frame, 500 kbit/s ≈ 1 kB: the second frame after the cut
    // (index 41) must already be far below the old size.
    let second = seen[41].len;
    assert!(
        second * 4 < before,
        "frame sizes around the cut: {:?} (mean before {before})",
        seen[36..46].iter().map(|s| s.len).collect::<Vec<_>>()
    );
}

#[test]
fn stage_times_are_reported_for_a_running_stream() {
    let control = Arc::new(StreamControl::new(4000));
    // A little over one report window at 60 fps.
    stream(75, Vec::new(), control.clone());
    let report = control.stages().expect("a report after a second of video");
    assert!(report.fps > 20.0, "{report:?}");
    assert!(
        report.encode_ms > 0.0 && report.convert_ms > 0.0,
        "{report:?}"
    );
    assert!(report.host_latency_p50_ms > 0.0, "{report:?}");
    assert!(report.host_latency_p50_ms <= report.host_latency_p95_ms);
}
