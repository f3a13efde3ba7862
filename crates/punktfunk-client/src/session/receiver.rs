//! The receiver state, sans IO: the data thread feeds it datagrams and time; it opens, reassembles,
//! verifies and measures the host's video stream and produces feedback and keyframe requests.

use super::clock::WallClock;
use super::error::SessionError;
use super::report::{FrameRecord, FrameStatus};
use punktfunk_core::control::Codec;
use punktfunk_core::control::{ClockSync, Feedback};
use punktfunk_core::crypto::{Opener, SessionKeys};
use punktfunk_core::packetize::{CompletedFrame, Event, Reassembler, ReassemblerConfig};
use punktfunk_core::reject::RejectCounters;
use punktfunk_core::testsrc::TestFrame;
use punktfunk_core::wire::StreamKind;
use punktfunk_media::decode::Decoder;
use punktfunk_media::pattern::read_stamp;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Fewest time between two keyframe requests (losses in between are coalesced).
pub const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(100);
/// The delay gradient in feedback is fitted over this much history (sent every 100 ms). One 100 ms
/// window holds only ~6 frames at 60 Hz, whose fitted slope swings by ±20 ms/s on a clean loopback
/// link from scheduling jitter alone — far above any congestion threshold; half a second of samples
/// brings that noise down to a few hundred µs/s while still reacting within a few reports.
pub const GRADIENT_WINDOW: Duration = Duration::from_millis(500);
/// Frames whose capture-to-complete latency exceeds this count as late in feedback.
pub const LATE_FRAME: Duration = Duration::from_millis(100);

/// Least-squares slope of one-way delay over time, in µs of delay per second, from `(time_us, owd_us)`
/// samples; 0 with fewer than two samples or no spread in time.
pub fn delay_gradient_us_per_s(samples: &[(i64, i64)]) -> i64 {
    if samples.len() < 2 {
        return 0;
    }
    let n = samples.len() as f64;
    let (t0, d0) = samples[0];
    let (mut st, mut sd) = (0.0, 0.0);
    for &(t, d) in samples {
        st += (t - t0) as f64;
        sd += (d - d0) as f64;
    }
    let (mt, md) = (st / n, sd / n);
    let (mut cov, mut var) = (0.0, 0.0);
    for &(t, d) in samples {
        let (x, y) = ((t - t0) as f64 - mt, (d - d0) as f64 - md);
        cov += x * y;
        var += x * x;
    }
    if var <= 0.0 {
        return 0;
    }
    (cov / var * 1_000_000.0).round() as i64
}

fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(values[values.len() / 2])
}

fn rejects_map(c: &RejectCounters) -> BTreeMap<&'static str, u64> {
    BTreeMap::from([
        ("too_short", c.too_short),
        ("oversize", c.oversize),
        ("malformed", c.malformed),
        ("wrong_session", c.wrong_session),
        ("length_mismatch", c.length_mismatch),
        ("bad_tag", c.bad_tag),
        ("replayed", c.replayed),
        ("too_old", c.too_old),
        ("inconsistent", c.inconsistent),
        ("late", c.late),
        ("duplicate", c.duplicate),
        ("over_budget", c.over_budget),
    ])
}

fn merge_rejects(a: &RejectCounters, b: &RejectCounters) -> BTreeMap<&'static str, u64> {
    let mut m = rejects_map(a);
    for (k, v) in rejects_map(b) {
        *m.entry(k).or_default() += v;
    }
    m
}

/// Counters the data plane accumulates over the session.
#[derive(Debug, Clone, Default)]
pub(super) struct DataStats {
    pub(super) frames_ok: u64,
    pub(super) frames_recovered: u64,
    pub(super) frames_lost: u64,
    pub(super) integrity_failures: u64,
    pub(super) keyframe_requests: u64,
    pub(super) feedback_sent: u64,
    pub(super) latencies_us: Vec<i64>,
    pub(super) frame_bytes: u64,
    pub(super) datagrams_received: u64,
    pub(super) other_kind: u64,
    pub(super) data_shards: u64,
    pub(super) recovery_shards: u64,
    pub(super) shard_bytes: u64,
    pub(super) first_datagram: Option<Duration>,
    pub(super) timeline: Vec<FrameRecord>,
    pub(super) rejects: BTreeMap<&'static str, u64>,
    pub(super) redundant_shards: u64,
    /// Frames that arrived whole after a loss but could not be decoded before the next keyframe.
    pub(super) frames_skipped: u64,
    /// Centre colour of the last decoded picture.
    pub(super) centre_rgb: Option<[u8; 3]>,
    /// What the decoder said the stream is (pixel format, depth, chroma, colour description).
    pub(super) video_format: Option<VideoFormat>,
    /// The last decoded picture (width, height, RGB24), when the options keep it.
    pub(super) last_picture: Option<(u32, u32, Vec<u8>)>,
    /// Decoded pictures that differ from the one before (moving content arrives as new pictures).
    pub(super) frames_changed: u64,
    /// Fingerprint of the last decoded picture.
    pub(super) last_fingerprint: Option<u64>,
    /// The host's audio stream, when the session has one.
    pub(super) audio: Option<crate::audio::AudioReport>,
}

/// Opens, reassembles, verifies and measures the host's video stream.
pub(super) struct StreamReceiver {
    start: Instant,
    clock: WallClock,
    opener: Opener,
    reassembler: Reassembler,
    pub(super) sync: ClockSync,
    pub(super) stats: DataStats,
    window_start: Instant,
    /// `(first packet µs since start, client arrival − host capture µs)` over the last
    /// [`GRADIENT_WINDOW`]: the raw difference of two unsynchronised clocks, whose slope is the delay
    /// gradient (plus negligible clock drift) without any step when the offset estimate improves.
    delay_history: VecDeque<(i64, i64)>,
    /// Clock-corrected one-way delays of this feedback window, µs.
    window_owd: Vec<i64>,
    late_in_window: u32,
    pending_keyframe: Option<u32>,
    last_keyframe_request: Option<Instant>,
    checker: Checker,
}

/// How a complete frame is checked.
enum Verifier {
    /// Raw test frames: every byte is checked.
    Raw,
    /// An encoded test pattern: decoded, and the stamp in the picture read back. After a lost frame
    /// the following pictures reference data that never arrived, so they are skipped until a keyframe.
    Decoded {
        decoder: Box<Decoder>,
        awaiting_keyframe: bool,
        /// The test pattern carries stamps; a real desktop does not, so then only the picture's size
        /// is checked and its centre colour recorded.
        expect_stamps: bool,
        /// Hand each decoded picture on (for `--dump-frame`).
        keep_picture: bool,
        size: (u32, u32),
    },
}

/// What a decoded stream says about itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VideoFormat {
    /// FFmpeg's name for the decoded pixel format (`yuv420p`, `yuv420p10le`, `yuv444p`).
    pub pixel_format: String,
    pub bit_depth: u8,
    /// `4:2:0`, `4:2:2`, `4:4:4`, `gray` or `other`.
    pub chroma: String,
    /// FFmpeg's names: `bt709`, `bt2020`, … (`unspecified` when the stream says nothing).
    pub primaries: String,
    pub transfer: String,
    pub matrix: String,
    pub full_range: bool,
    /// HDR10 metadata the bitstream carries (SEI / metadata OBUs).
    pub hdr: Option<super::report::HdrLevels>,
}

impl VideoFormat {
    fn of(picture: &punktfunk_media::decode::DecodedFrame) -> VideoFormat {
        use punktfunk_media::decode::ChromaSubsampling as C;
        VideoFormat {
            pixel_format: picture.pixel_format_name.clone(),
            bit_depth: picture.bit_depth,
            chroma: match picture.chroma {
                C::Yuv420 => "4:2:0",
                C::Yuv422 => "4:2:2",
                C::Yuv444 => "4:4:4",
                C::Gray => "gray",
                C::Other { .. } => "other",
            }
            .into(),
            primaries: picture.color_primaries.clone(),
            transfer: picture.transfer.clone(),
            matrix: picture.matrix.clone(),
            full_range: picture.full_range,
            hdr: picture.hdr.map(Into::into),
        }
    }
}

/// What checking a frame found: its frame number and capture time, and when the check finished
/// (decoding takes time that belongs in the latency).
struct Verified {
    frame_number: u64,
    capture_us: u64,
    done: Instant,
    /// Colour at the centre of a decoded picture.
    centre: Option<[u8; 3]>,
    /// A fingerprint of a decoded picture's pixels (equal pictures, equal fingerprints).
    fingerprint: Option<u64>,
    /// A decoded picture's format (on keyframes; it only changes with one).
    format: Option<VideoFormat>,
    /// The decoded picture, when kept.
    picture: Option<(u32, u32, Vec<u8>)>,
}

/// FNV-1a over every 61st byte of a decoded picture: enough to tell moving content from a repeat.
fn picture_fingerprint(rgb: &[u8]) -> u64 {
    rgb.iter().step_by(61).fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Verifier {
    fn for_codec(
        codec: Codec,
        expect_stamps: bool,
        keep_picture: bool,
        size: (u32, u32),
    ) -> Result<Verifier, SessionError> {
        let media = match codec {
            Codec::RawTest => return Ok(Verifier::Raw),
            Codec::H264 => punktfunk_media::VideoCodec::H264,
            Codec::Hevc => punktfunk_media::VideoCodec::Hevc,
            Codec::Av1 => punktfunk_media::VideoCodec::Av1,
        };
        let decoder = Decoder::new(media)
            .map_err(|e| SessionError::Other(format!("no {codec:?} decoder: {e}")))?;
        Ok(Verifier::Decoded {
            decoder: Box::new(decoder),
            awaiting_keyframe: false,
            expect_stamps,
            keep_picture,
            size,
        })
    }

    /// `Ok(None)`: skipped (waiting for a keyframe after a loss).
    fn check(&mut self, frame: &CompletedFrame) -> Result<Option<Verified>, String> {
        match self {
            Verifier::Raw => {
                let tf = TestFrame::verify(&frame.data).map_err(|e| e.to_string())?;
                let done = frame.timing.completed;
                Ok(Some(Verified {
                    frame_number: tf.frame_number,
                    capture_us: tf.capture_us,
                    done,
                    centre: None,
                    fingerprint: None,
                    format: None,
                    picture: None,
                }))
            }
            Verifier::Decoded {
                decoder,
                awaiting_keyframe,
                expect_stamps,
                keep_picture,
                size,
            } => {
                if *awaiting_keyframe && !frame.keyframe {
                    return Ok(None);
                }
                *awaiting_keyframe = false;
                let picture = decoder
                    .decode(&frame.data)
                    .map_err(|e| format!("decode failed: {e}"))?
                    .ok_or("the decoder returned no picture for a whole access unit")?;
                let done = Instant::now();
                if (picture.width, picture.height) != *size {
                    return Err(format!(
                        "decoded {}x{}, expected {}x{}",
                        picture.width, picture.height, size.0, size.1
                    ));
                }
                let c = (picture.height as usize / 2 * picture.width as usize
                    + picture.width as usize / 2)
                    * 3;
                let centre = picture.rgb.get(c..c + 3).map(|p| [p[0], p[1], p[2]]);
                let fingerprint = Some(picture_fingerprint(&picture.rgb));
                let format = frame.keyframe.then(|| VideoFormat::of(&picture));
                if !*expect_stamps {
                    let kept = keep_picture.then(|| (picture.width, picture.height, picture.rgb));
                    return Ok(Some(Verified {
                        frame_number: u64::from(frame.frame_index),
                        capture_us: frame.pts_us,
                        done,
                        centre,
                        fingerprint,
                        format,
                        picture: kept,
                    }));
                }
                let stamp = read_stamp(
                    &picture.rgb,
                    picture.width,
                    picture.height,
                    picture.width as usize * 3,
                )
                .ok_or("no readable stamp in the decoded picture")?;
                if stamp.timestamp_us_low != frame.pts_us as u32 {
                    return Err(format!(
                        "stamp time {} disagrees with the packet's capture time {}",
                        stamp.timestamp_us_low, frame.pts_us as u32
                    ));
                }
                // The stamp carries the low 32 bits; the packet header carries the whole values.
                let frame_number = u64::from(stamp.frame_number);
                let kept = keep_picture.then(|| (picture.width, picture.height, picture.rgb));
                Ok(Some(Verified {
                    frame_number,
                    capture_us: frame.pts_us,
                    done,
                    centre,
                    fingerprint,
                    format,
                    picture: kept,
                }))
            }
        }
    }

    fn on_loss(&mut self) {
        if let Verifier::Decoded {
            awaiting_keyframe, ..
        } = self
        {
            *awaiting_keyframe = true;
        }
    }
}

/// What the receiver hands the decode thread, in stream order.
enum Job {
    Frame(CompletedFrame),
    /// Frames were lost here: decoding waits for the next keyframe.
    Lost {
        at_ms: u32,
        first: u32,
        count: u32,
    },
}

/// What comes back from it, in the same order.
enum Checked {
    Frame(Box<(CompletedFrame, Result<Option<Verified>, String>)>),
    Lost { at_ms: u32, first: u32, count: u32 },
}

/// Where frames are checked. Raw test frames are checked in line (a checksum); encoded streams are
/// decoded on a thread of their own, so that decoding — milliseconds per picture, more on a loaded
/// machine — never holds up reading the socket: arrival times, and with them the one-way delay the
/// host's rate control reads in feedback, stay the network's.
enum Checker {
    Inline(Verifier),
    Thread {
        jobs: Option<std::sync::mpsc::Sender<Job>>,
        done: std::sync::mpsc::Receiver<Checked>,
        thread: Option<std::thread::JoinHandle<()>>,
    },
}

impl Checker {
    fn new(checks: FrameChecks) -> Result<Checker, SessionError> {
        let FrameChecks {
            codec,
            expect_stamps,
            keep_last_picture,
            size,
        } = checks;
        if codec == Codec::RawTest {
            return Verifier::for_codec(codec, expect_stamps, keep_last_picture, size)
                .map(Checker::Inline);
        }
        let (jobs, job_rx) = std::sync::mpsc::channel::<Job>();
        let (done_tx, done) = std::sync::mpsc::channel();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        // The decoder is made on the thread that uses it.
        let thread = std::thread::Builder::new()
            .name("probe-decode".into())
            .spawn(move || {
                let made = Verifier::for_codec(codec, expect_stamps, keep_last_picture, size);
                let mut verifier = match made {
                    Ok(v) => {
                        let _ = ready_tx.send(Ok(()));
                        v
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                for job in job_rx {
                    let out = match job {
                        Job::Frame(frame) => {
                            let checked = verifier.check(&frame);
                            Checked::Frame(Box::new((frame, checked)))
                        }
                        Job::Lost {
                            at_ms,
                            first,
                            count,
                        } => {
                            verifier.on_loss();
                            Checked::Lost {
                                at_ms,
                                first,
                                count,
                            }
                        }
                    };
                    if done_tx.send(out).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| SessionError::Other(format!("decode thread: {e}")))?;
        match ready.recv() {
            Ok(Ok(())) => Ok(Checker::Thread {
                jobs: Some(jobs),
                done,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SessionError::Other("the decode thread died".into())),
        }
    }
}

/// How the frames of a stream are checked.
#[derive(Debug, Clone, Copy)]
pub(super) struct FrameChecks {
    pub(super) codec: Codec,
    /// Decoded pictures carry the test pattern's stamps.
    pub(super) expect_stamps: bool,
    /// Keep the last decoded picture for the report.
    pub(super) keep_last_picture: bool,
    /// The stream's picture size.
    pub(super) size: (u32, u32),
}

impl StreamReceiver {
    pub(super) fn new(
        start: Instant,
        clock: WallClock,
        keys: &SessionKeys,
        session_id: u32,
        checks: FrameChecks,
    ) -> Result<Self, SessionError> {
        // `Opener::new` only fails on a key AES rejects, which a derived 16-byte key never is.
        let opener = Opener::new(&keys.host_to_client, session_id);
        Ok(StreamReceiver {
            checker: Checker::new(checks)?,
            start,
            clock,
            opener: opener.unwrap_or_else(|e| unreachable!("derived key rejected: {e}")),
            reassembler: Reassembler::new(ReassemblerConfig::default()),
            sync: ClockSync::new(),
            stats: DataStats::default(),
            window_start: start,
            delay_history: VecDeque::new(),
            window_owd: Vec::new(),
            late_in_window: 0,
            pending_keyframe: None,
            last_keyframe_request: None,
        })
    }

    pub(super) fn got_video(&self) -> bool {
        self.stats.first_datagram.is_some()
    }

    fn ms_since_start(&self, t: Instant) -> u32 {
        t.saturating_duration_since(self.start)
            .as_millis()
            .min(u128::from(u32::MAX)) as u32
    }

    pub(super) fn on_datagram(&mut self, now: Instant, datagram: &mut [u8]) {
        self.stats.datagrams_received += 1;
        // Rejections are counted by the opener and the reassembler.
        let Ok((header, payload)) = self.opener.open(datagram) else {
            return;
        };
        if header.kind != StreamKind::Video {
            self.stats.other_kind += 1;
            return;
        }
        if self.stats.first_datagram.is_none() {
            self.stats.first_datagram = Some(now.saturating_duration_since(self.start));
        }
        if header.is_recovery() {
            self.stats.recovery_shards += 1;
        } else {
            self.stats.data_shards += 1;
        }
        self.stats.shard_bytes += u64::from(header.shard_bytes);
        let _ = self.reassembler.push(now, &header, payload);
        self.drain(now);
    }

    pub(super) fn on_tick(&mut self, now: Instant) {
        self.reassembler.handle_timeout(now);
        self.drain(now);
    }

    fn drain(&mut self, now: Instant) {
        while let Some(event) = self.reassembler.poll_event() {
            match event {
                Event::Frame(frame) => self.on_frame(frame),
                Event::Lost { first, count } => self.on_lost(now, first, count),
            }
        }
        self.collect(false);
    }

    /// Settles what the decode thread has checked; with `wait`, everything it was given (it is
    /// told there is no more first).
    fn collect(&mut self, wait: bool) {
        let Checker::Thread { jobs, .. } = &mut self.checker else {
            return;
        };
        if wait {
            jobs.take();
        }
        loop {
            let Checker::Thread { done, .. } = &self.checker else {
                return;
            };
            let next = if wait {
                done.recv().ok()
            } else {
                done.try_recv().ok()
            };
            match next {
                Some(Checked::Frame(checked)) => {
                    let (frame, checked) = *checked;
                    self.settle(frame, checked)
                }
                Some(Checked::Lost {
                    at_ms,
                    first,
                    count,
                }) => self.settle_lost(at_ms, first, count),
                None => break,
            }
        }
        if wait
            && let Checker::Thread { thread, .. } = &mut self.checker
            && let Some(t) = thread.take()
        {
            let _ = t.join();
        }
    }

    fn on_frame(&mut self, frame: CompletedFrame) {
        match &mut self.checker {
            Checker::Inline(verifier) => {
                let checked = verifier.check(&frame);
                self.settle(frame, checked);
            }
            Checker::Thread {
                jobs: Some(jobs), ..
            } => {
                let _ = jobs.send(Job::Frame(frame));
            }
            Checker::Thread { jobs: None, .. } => {}
        }
    }

    fn settle(&mut self, frame: CompletedFrame, checked: Result<Option<Verified>, String>) {
        let at_ms = self.ms_since_start(frame.timing.completed);
        let mut latency_us = None;
        let status = match checked {
            Ok(None) => {
                self.stats.frames_skipped += 1;
                FrameStatus::Skipped
            }
            Ok(Some(tf)) if tf.frame_number as u32 == frame.frame_index => {
                if tf.centre.is_some() {
                    self.stats.centre_rgb = tf.centre;
                }
                if tf.format.is_some() {
                    self.stats.video_format = tf.format;
                }
                if tf.picture.is_some() {
                    self.stats.last_picture = tf.picture;
                }
                if tf.fingerprint.is_some() && tf.fingerprint != self.stats.last_fingerprint {
                    self.stats.frames_changed += 1;
                    self.stats.last_fingerprint = tf.fingerprint;
                }
                self.stats.frames_ok += 1;
                self.stats.frame_bytes += frame.data.len() as u64;
                // One-way delay is taken at the frame's first packet, so that it does not vary with
                // frame size (serialization and pacing of the rest of the frame).
                let first = frame.timing.first_packet;
                let first_us = self.clock.at_us(first) as i64;
                let t = first.saturating_duration_since(self.start).as_micros() as i64;
                self.delay_history
                    .push_back((t, first_us - tf.capture_us as i64));
                if let Some(capture_us) = self.sync.host_to_client_us(tf.capture_us) {
                    let completed_us = self.clock.at_us(tf.done) as i64;
                    let latency = completed_us - capture_us;
                    self.stats.latencies_us.push(latency);
                    // The timeline's latency stops at reassembly (before decoding), as a
                    // GameStream client's does: comparable across protocols and decoders.
                    latency_us = Some(self.clock.at_us(frame.timing.completed) as i64 - capture_us);
                    self.window_owd.push(first_us - capture_us);
                    if latency > LATE_FRAME.as_micros() as i64 {
                        self.late_in_window += 1;
                    }
                }
                if frame.timing.recovered_shards > 0 {
                    self.stats.frames_recovered += 1;
                    FrameStatus::Recovered
                } else {
                    FrameStatus::Ok
                }
            }
            Ok(Some(tf)) => {
                tracing::warn!(
                    frame_index = frame.frame_index,
                    frame_number = tf.frame_number,
                    "frame carries the wrong frame number"
                );
                self.stats.integrity_failures += 1;
                FrameStatus::Corrupt
            }
            Err(e) => {
                tracing::warn!(
                    frame_index = frame.frame_index,
                    "frame failed verification: {e}"
                );
                self.stats.integrity_failures += 1;
                FrameStatus::Corrupt
            }
        };
        self.stats.timeline.push(FrameRecord {
            at_ms,
            first_index: frame.frame_index,
            count: 1,
            status,
            latency_us,
            bytes: frame.data.len() as u32,
        });
    }

    fn on_lost(&mut self, now: Instant, first: u32, count: u32) {
        tracing::debug!(first, count, "frames lost");
        // Coalesce: the earliest loss since the last request is the one that matters.
        self.pending_keyframe.get_or_insert(first);
        let at_ms = self.ms_since_start(now);
        match &mut self.checker {
            Checker::Inline(verifier) => {
                verifier.on_loss();
                self.settle_lost(at_ms, first, count);
            }
            // In stream order with the frames still being decoded.
            Checker::Thread {
                jobs: Some(jobs), ..
            } => {
                let _ = jobs.send(Job::Lost {
                    at_ms,
                    first,
                    count,
                });
            }
            Checker::Thread { jobs: None, .. } => {}
        }
    }

    fn settle_lost(&mut self, at_ms: u32, first: u32, count: u32) {
        self.stats.frames_lost += u64::from(count);
        self.stats.timeline.push(FrameRecord {
            at_ms,
            first_index: first,
            count,
            status: FrameStatus::Lost,
            latency_us: None,
            bytes: 0,
        });
    }

    /// A keyframe request due now, if losses are pending and the rate limit allows one.
    pub(super) fn due_keyframe_request(&self, now: Instant) -> Option<u32> {
        let first = self.pending_keyframe?;
        match self.last_keyframe_request {
            Some(t) if now.saturating_duration_since(t) < KEYFRAME_REQUEST_INTERVAL => None,
            _ => Some(first),
        }
    }

    pub(super) fn keyframe_request_sent(&mut self, now: Instant) {
        self.pending_keyframe = None;
        self.last_keyframe_request = Some(now);
        self.stats.keyframe_requests += 1;
    }

    pub(super) fn take_feedback(&mut self, now: Instant) -> Feedback {
        let window = now.saturating_duration_since(self.window_start);
        self.window_start = now;
        let history_from = now.saturating_duration_since(self.start).as_micros() as i64
            - GRADIENT_WINDOW.as_micros() as i64;
        while self
            .delay_history
            .front()
            .is_some_and(|s| s.0 < history_from)
        {
            self.delay_history.pop_front();
        }
        let gradient = delay_gradient_us_per_s(self.delay_history.make_contiguous());
        let one_way = median(&mut self.window_owd).unwrap_or(0).max(0) as u64;
        self.window_owd.clear();
        Feedback {
            window_ms: window.as_millis().min(u128::from(u32::MAX)) as u32,
            loss: self.reassembler.take_loss_window(),
            late_frames: std::mem::take(&mut self.late_in_window),
            delay_gradient_us_per_s: gradient,
            one_way_delay_us: one_way,
        }
    }

    pub(super) fn finish(mut self) -> DataStats {
        self.collect(true);
        self.stats.rejects = merge_rejects(self.opener.rejects(), self.reassembler.rejects());
        self.stats.redundant_shards = self.reassembler.redundant_shards();
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use punktfunk_core::control::ClockSample;
    use punktfunk_core::packetize::{DatagramBatch, FrameInput, Packetizer, PacketizerConfig};

    #[test]
    fn gradient_is_least_squares_slope() {
        // Delay grows 20 µs every 10 ms = 2000 µs/s; noise that averages out.
        let rising: Vec<(i64, i64)> = (0..6)
            .map(|i| {
                (
                    1_000_000 + i * 10_000,
                    5_000 + i * 20 + [3, -3][i as usize % 2],
                )
            })
            .collect();
        assert!((delay_gradient_us_per_s(&rising) - 2000).abs() <= 100);
        let exact: Vec<(i64, i64)> = (0..6).map(|i| (i * 10_000, 5_000 + i * 20)).collect();
        assert_eq!(delay_gradient_us_per_s(&exact), 2000);
        let flat: Vec<(i64, i64)> = (0..6).map(|i| (i * 1000, 3_000)).collect();
        assert_eq!(delay_gradient_us_per_s(&flat), 0);
        let falling = [(0, 10_000), (100_000, 9_000)];
        assert_eq!(delay_gradient_us_per_s(&falling), -10_000);
        assert_eq!(delay_gradient_us_per_s(&[(5, 5)]), 0);
        assert_eq!(delay_gradient_us_per_s(&[(5, 5), (5, 9)]), 0);
        assert_eq!(delay_gradient_us_per_s(&[]), 0);
    }

    /// The receiver against the real packetizer, without sockets: recovery, loss, keyframe requests,
    /// latency through the clock offset, and feedback.
    #[test]
    fn receiver_verifies_recovers_and_reports_loss() {
        let session = 9;
        let keys = SessionKeys::derive(&[7u8; 32], session).unwrap();
        let start = Instant::now();
        let clock = WallClock::new();
        let mut rx = StreamReceiver::new(
            start,
            clock,
            &keys,
            session,
            FrameChecks {
                codec: Codec::RawTest,
                expect_stamps: true,
                keep_last_picture: false,
                size: (0, 0),
            },
        )
        .unwrap();
        // Host clock 1 s ahead of ours; a perfect exchange.
        rx.sync.add(ClockSample {
            rtt_us: 0,
            offset_us: 1_000_000,
        });
        let mut tx = Packetizer::new(
            PacketizerConfig::new(StreamKind::Video, session),
            &keys.host_to_client,
        )
        .unwrap();
        let mut batch = DatagramBatch::new();
        let mut data = Vec::new();
        let frame_time = Duration::from_micros(16_667);
        for i in 0..60u64 {
            let now = start + frame_time * i as u32;
            TestFrame {
                keyframe: i == 0,
                width: 1280,
                height: 720,
                refresh_mhz: 60_000,
                frame_number: i,
                capture_us: clock.at_us(now) + 1_000_000 - 2_000,
                len: 12_000,
            }
            .build(&mut data);
            tx.packetize(
                FrameInput {
                    data: &data,
                    pts_us: i,
                    keyframe: i == 0,
                    recovery_point: false,
                },
                &mut batch,
            )
            .unwrap();
            for (j, d) in batch.iter().enumerate() {
                // Frame 10 loses one shard (recoverable); frames 30..=32 lose everything.
                let drop = (i == 10 && j == 0) || (30..=32).contains(&i);
                if !drop {
                    rx.on_datagram(now, &mut d.to_vec());
                }
            }
            rx.on_tick(now);
        }
        rx.on_tick(start + Duration::from_secs(2));
        assert_eq!(
            rx.due_keyframe_request(start + Duration::from_secs(2)),
            Some(30)
        );
        rx.keyframe_request_sent(start + Duration::from_secs(2));
        assert_eq!(
            rx.due_keyframe_request(start + Duration::from_secs(2)),
            None
        );
        let fb = rx.take_feedback(start + Duration::from_secs(2));
        assert_eq!(fb.loss.frames_lost, 3);
        assert_eq!(fb.loss.frames_complete, 57);
        assert!(
            fb.one_way_delay_us >= 2_000 && fb.one_way_delay_us < 50_000,
            "{fb:?}"
        );
        let stats = rx.finish();
        assert_eq!(stats.frames_ok, 57);
        assert_eq!(stats.frames_recovered, 1);
        assert_eq!(stats.frames_lost, 3);
        assert_eq!(stats.integrity_failures, 0);
        assert_eq!(stats.keyframe_requests, 1);
        assert_eq!(stats.latencies_us.len(), 57);
        assert!(
            stats
                .latencies_us
                .iter()
                .all(|l| (2_000..50_000).contains(l))
        );
        assert_eq!(stats.rejects.values().sum::<u64>(), 0);
    }
}
