//! The one frame pipeline both protocols stream through. Per session, two threads:
//!
//! - **capture** runs the source's [`PictureFeed`] on its own clock: the moment the compositor
//!   presents a picture it is converted for the encoder (straight out of the capture buffer) and put
//!   into a [`Latest`] slot of depth one — a newer picture replaces one the encoder has not taken.
//!   When nothing changes for a frame interval it says so instead.
//! - **video** (the thread that calls [`run`]) takes the newest picture as soon as it lands,
//!   encodes it, hands the access unit to the session's [`FrameOutput`] (read in place, no copy:
//!   a protocol's framer for datagram transports), and has it sent.
//!
//! While the screen does not change, the last picture is encoded again once per frame interval (a
//! skip frame of a few dozen bytes): both protocols' clients expect the stream at the rate they asked
//! for — Moonlight's frame pacing and statistics and punktfunk/1's loss and latency feedback are per
//! frame — and every repeat lets the encoder refine a static picture.

use super::encoder::FrameRequest;
use super::feed::Next;
use super::frame_output::FrameOutput;
use super::framer::FramedUnit;
use super::latest::{Latest, Supersede, Taken};
use super::stages::{FrameTimes, StageReport, StageTimes};
use super::video_source::VideoSource;
use crate::services::clock::now_us;
use anyhow::{Result, bail};
use punktfunk_media::convert::YuvPicture;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

/// How long a new display has to present its first picture.
const FIRST_PICTURE_WAIT: Duration = Duration::from_secs(2);
/// How often stage times are summarised.
const REPORT_WINDOW: Duration = Duration::from_secs(1);

/// What a session changes while its video runs, and what the pipeline reports back.
pub struct StreamControl {
    pub bitrate_kbps: AtomicU32,
    /// The next frame becomes a keyframe.
    pub keyframe_requested: AtomicBool,
    pub frames_sent: AtomicU64,
    pub datagrams_sent: AtomicU64,
    stages: Mutex<Option<StageReport>>,
}

impl StreamControl {
    /// A stream at `bitrate_kbps` whose first frame is a keyframe.
    pub fn new(bitrate_kbps: u32) -> Self {
        StreamControl {
            bitrate_kbps: AtomicU32::new(bitrate_kbps),
            keyframe_requested: AtomicBool::new(true),
            frames_sent: AtomicU64::new(0),
            datagrams_sent: AtomicU64::new(0),
            stages: Mutex::new(None),
        }
    }

    /// The last second's stage times (none before the first second of streaming).
    pub fn stages(&self) -> Option<StageReport> {
        self.stages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What the capture thread hands over.
struct Captured {
    content: Content,
    presented_us: u64,
    capture_wait: Duration,
    convert: Duration,
}

enum Content {
    Picture(YuvPicture),
    Unchanged,
    Tick,
    Failed(String),
}

impl Supersede for Captured {
    fn supersedes(&self, older: &Self) -> bool {
        // A note that nothing changed never replaces a picture (or a failure) still waiting.
        !matches!(self.content, Content::Unchanged)
            || matches!(older.content, Content::Unchanged | Content::Tick)
    }

    fn is_frame(&self) -> bool {
        matches!(self.content, Content::Picture(_) | Content::Tick)
    }
}

/// Streams `source` into `output` until `stop` is set or a stage fails.
pub fn run(
    source: &mut VideoSource,
    output: &mut dyn FrameOutput,
    control: &StreamControl,
    stop: &AtomicBool,
) -> Result<()> {
    let interval = source.frame_interval();
    let format = source.encoder.picture_format();
    let slot: &Latest<Captured> = &Latest::new();
    let capture_done = &AtomicBool::new(false);
    let (recycle, recycled) = mpsc::channel::<YuvPicture>();
    let feed = &mut source.feed;
    let encoder = &mut source.encoder;
    std::thread::scope(|scope| {
        let capture = std::thread::Builder::new()
            .name("video-capture".into())
            .spawn_scoped(scope, move || {
                capture_loop(feed.as_mut(), &format, interval, slot, &recycled, || {
                    stop.load(Ordering::Relaxed) || capture_done.load(Ordering::Relaxed)
                });
                slot.close();
            });
        if let Err(e) = capture {
            bail!("starting the capture thread: {e}");
        }
        let result = VideoStage {
            encoder: encoder.as_mut(),
            output,
            control,
            interval,
            slot,
            recycle,
            stop,
        }
        .run();
        capture_done.store(true, Ordering::Relaxed);
        result
    })
}

/// The capture thread: waits for pictures and offers each to the encoder.
fn capture_loop(
    feed: &mut dyn super::feed::PictureFeed,
    format: &super::feed::PictureFormat,
    interval: Duration,
    slot: &Latest<Captured>,
    recycled: &mpsc::Receiver<YuvPicture>,
    done: impl Fn() -> bool,
) {
    // Buffers to convert into: the encoder gives back the ones it is finished with.
    let mut spare: Vec<YuvPicture> = Vec::new();
    // When "unchanged" is due: one interval after the last picture or note, on a fixed rhythm (a
    // wait measured from each note's hand-off would drift below the stream's rate).
    let mut due = Instant::now() + interval;
    while !done() {
        spare.extend(recycled.try_iter());
        let started = Instant::now();
        // Asked only when a new picture is there: a picture still waiting for the encoder is about
        // to be replaced anyway, so its buffer is reused rather than a third one allocated.
        let mut buffer = || {
            match slot.reclaim(|c| matches!(c.content, Content::Picture(_))) {
                Some(Captured {
                    content: Content::Picture(picture),
                    ..
                }) => picture,
                // One the encoder finished with (it may have given it back during the wait).
                _ => spare
                    .pop()
                    .or_else(|| recycled.try_recv().ok())
                    .unwrap_or_default(),
            }
        };
        let next = feed.next(due.saturating_duration_since(started), format, &mut buffer);
        let waited = started.elapsed();
        let now = Instant::now();
        due = match next {
            // Far behind (a stalled compositor, a slow conversion): restart the rhythm from now.
            Ok(Next::Unchanged) if now < due + interval => due + interval,
            _ => now + interval,
        };
        let captured = match next {
            Ok(Next::Picture {
                picture,
                presented_us,
                convert,
            }) => Captured {
                content: Content::Picture(picture),
                presented_us,
                capture_wait: waited.saturating_sub(convert),
                convert,
            },
            Ok(Next::Unchanged) => Captured {
                content: Content::Unchanged,
                presented_us: now_us(),
                capture_wait: waited,
                convert: Duration::ZERO,
            },
            Ok(Next::Tick { presented_us }) => Captured {
                content: Content::Tick,
                presented_us,
                capture_wait: waited,
                convert: Duration::ZERO,
            },
            Err(e) => {
                slot.offer(Captured {
                    content: Content::Failed(format!("capture failed: {e:#}")),
                    presented_us: 0,
                    capture_wait: waited,
                    convert: Duration::ZERO,
                });
                return;
            }
        };
        if let Some(Captured {
            content: Content::Picture(picture),
            ..
        }) = slot.offer(captured)
        {
            spare.push(picture);
        }
    }
}

/// The video thread's side: encode → frame → send, one frame per picture that lands.
struct VideoStage<'a> {
    encoder: &'a mut dyn super::encoder::FrameEncoder,
    output: &'a mut dyn FrameOutput,
    control: &'a StreamControl,
    interval: Duration,
    slot: &'a Latest<Captured>,
    /// Pictures the encoder is finished with, back to the capture thread.
    recycle: mpsc::Sender<YuvPicture>,
    stop: &'a AtomicBool,
}

impl VideoStage<'_> {
    /// Streams until stopped; logs the whole stream's stage times at the end.
    fn run(&mut self) -> Result<()> {
        let mut whole = StageTimes::whole_stream();
        let result = self.stream(&mut whole);
        let (frames, s) = whole.summary(self.slot.dropped());
        // One line per stream with what the benchmark (and a curious operator) wants.
        tracing::info!(
            frames,
            fps = format!("{:.1}", s.fps),
            repeated_fps = format!("{:.1}", s.repeated_fps),
            capture_wait_ms = format!("{:.2}", s.capture_wait_ms),
            convert_ms = format!("{:.2}", s.convert_ms),
            encode_ms = format!("{:.2}", s.encode_ms),
            packetize_ms = format!("{:.2}", s.packetize_ms),
            send_ms = format!("{:.2}", s.send_ms),
            host_latency_p50_ms = format!("{:.2}", s.host_latency_p50_ms),
            host_latency_p95_ms = format!("{:.2}", s.host_latency_p95_ms),
            pictures_dropped = s.pictures_dropped,
            "video stream stages"
        );
        result
    }

    fn stream(&mut self, whole: &mut StageTimes) -> Result<()> {
        let (control, slot, interval) = (self.control, self.slot, self.interval);
        let started = Instant::now();
        let mut current: Option<YuvPicture> = None;
        let mut stages = StageTimes::new(REPORT_WINDOW);
        let mut number = 0u64;
        let mut seen_content = false;
        while !self.stop.load(Ordering::Relaxed) {
            let captured = match slot.take(interval.max(Duration::from_millis(50))) {
                Taken::Item(captured) => captured,
                Taken::TimedOut => {
                    if !seen_content && started.elapsed() > FIRST_PICTURE_WAIT {
                        bail!("the source delivered no first picture within 2 s");
                    }
                    continue;
                }
                Taken::Closed => break,
            };
            let repeat = match captured.content {
                Content::Picture(picture) => {
                    if let Some(old) = current.replace(picture) {
                        // The capture thread may have stopped already; then the buffer is just freed.
                        let _ = self.recycle.send(old);
                    }
                    false
                }
                Content::Unchanged if current.is_none() => {
                    if started.elapsed() > FIRST_PICTURE_WAIT {
                        bail!("the display presented no first picture within 2 s");
                    }
                    continue;
                }
                Content::Unchanged => true,
                Content::Tick => false,
                Content::Failed(reason) => bail!(reason),
            };
            seen_content = true;
            // Nothing is encoded until the client can take it, so its first frame is a keyframe.
            if !self.output.ready() {
                continue;
            }
            let t0 = Instant::now();
            let request = FrameRequest {
                number,
                presented_us: captured.presented_us,
                keyframe: control.keyframe_requested.swap(false, Ordering::Relaxed),
                bitrate_kbps: control.bitrate_kbps.load(Ordering::Relaxed),
            };
            let encoded = self.encoder.encode(current.as_mut(), &request)?;
            let t1 = Instant::now();
            self.output.frame(&FramedUnit {
                data: encoded.data,
                keyframe: encoded.keyframe,
                presented_us: captured.presented_us,
            })?;
            let t2 = Instant::now();
            let host_latency =
                Duration::from_micros(now_us().saturating_sub(captured.presented_us));
            let sent = self.output.send(request.bitrate_kbps, interval);
            let t3 = Instant::now();
            number += 1;
            control.frames_sent.fetch_add(1, Ordering::Relaxed);
            control.datagrams_sent.fetch_add(sent, Ordering::Relaxed);
            let times = FrameTimes {
                capture_wait: captured.capture_wait,
                convert: captured.convert,
                encode: t1 - t0,
                packetize: t2 - t1,
                send: t3 - t2,
                host_latency,
                repeat,
            };
            whole.add(&times, 0);
            if let Some(report) = stages.add(&times, slot.dropped()) {
                tracing::debug!(?report, "video stages");
                *control
                    .stages
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(report);
            }
        }
        Ok(())
    }
}
