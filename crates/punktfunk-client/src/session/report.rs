//! The [`SessionReport`]: what a session delivered, its timeline, and its text form.

use super::options::{Mode, SessionOptions};
use super::receiver::DataStats;
use punktfunk_core::control::{ClockSample, Welcome};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// What happened to a frame (or a run of lost frames) and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameStatus {
    Ok,
    /// Complete and byte-exact after FEC rebuilt some shards.
    Recovered,
    /// Complete but failed verification (or carried the wrong frame number).
    Corrupt,
    Lost,
    /// Arrived whole, but after a loss and before the next keyframe, so not decodable.
    Skipped,
}

impl FrameStatus {
    pub fn is_whole(self) -> bool {
        matches!(self, FrameStatus::Ok | FrameStatus::Recovered)
    }
}

/// One entry of the frame timeline: `count` frames from `first_index` on, settled at `at_ms` after the
/// stream started (completion time for delivered frames, the moment they were given up for lost ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrameRecord {
    pub at_ms: u32,
    pub first_index: u32,
    pub count: u32,
    pub status: FrameStatus,
    /// Delivered frames after the first clock sync: host capture → frame reassembled here (before
    /// decoding; `latency_ms` includes decoding), µs.
    pub latency_us: Option<i64>,
    /// The frame's payload bytes (0 for lost frames).
    pub bytes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyMs {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    /// Frames with a latency measurement (those completed after the first clock sync).
    pub samples: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClockReport {
    /// Host clock − client clock, µs.
    pub offset_us: i64,
    /// Round trip of the exchange the offset came from, µs.
    pub rtt_us: i64,
}

/// The summary of one session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
    /// Mode as the host set it up (`Welcome`).
    pub mode: String,
    pub requested_mode: String,
    pub codec: String,
    /// The colour format the host chose (`Welcome`): 0 8-bit 4:2:0, 1 10-bit 4:2:0, 2 8-bit 4:4:4.
    pub color_format: u8,
    /// The host's colour description (`Welcome`), H.273 code points.
    pub color: WelcomeColor,
    /// Encoded streams: what the decoder said the stream is.
    pub video_format: Option<super::receiver::VideoFormat>,
    /// The last decoded picture (width, height, RGB24), when the options kept it.
    #[serde(skip)]
    pub last_picture: Option<(u32, u32, Vec<u8>)>,
    pub session_id: u32,
    pub host_fingerprint: String,
    /// Seconds from the data plane's start to the goodbye.
    pub duration_s: f64,
    /// Frames complete and byte-exact (including recovered ones).
    pub frames_ok: u64,
    /// Of `frames_ok`, those that needed FEC.
    pub frames_recovered: u64,
    pub frames_lost: u64,
    /// Encoded streams only: frames that arrived whole after a loss but before the next keyframe.
    pub frames_skipped: u64,
    /// Encoded streams: the centre colour of the last decoded picture.
    pub centre_rgb: Option<[u8; 3]>,
    /// Encoded streams: decoded pictures that differ from the one before.
    pub frames_changed: u64,
    pub integrity_failures: u64,
    pub keyframe_requests: u64,
    /// `frames_ok / duration_s`.
    pub fps: f64,
    /// Host capture → frame complete on this client (clock-offset corrected).
    pub latency_ms: Option<LatencyMs>,
    /// Payload bytes of complete frames per second, Mbit/s.
    pub bitrate_mbps: f64,
    /// Recovery shards received / data shards received × 100 (the parity the host spent, as seen here).
    pub fec_overhead_percent: f64,
    /// (Shard payload bytes of accepted video datagrams − bytes of complete frames) / bytes of complete
    /// frames × 100: parity plus shard padding plus shards of frames that were not completed.
    pub wire_overhead_percent: f64,
    /// Rejected datagrams and shards by reason (opener and reassembler).
    pub rejects: BTreeMap<&'static str, u64>,
    pub datagrams_received: u64,
    /// Authenticated datagrams of other stream kinds (not reassembled here).
    pub other_kind_datagrams: u64,
    /// Shards of already complete frames (normal when FEC made them unnecessary).
    pub redundant_shards: u64,
    pub feedback_sent: u64,
    pub clock: Option<ClockReport>,
    /// Last bitrate and parity the host announced (`Welcome`, then `RateUpdate`).
    pub host_bitrate_kbps: u32,
    pub host_parity_percent: u16,
    pub rate_updates: u64,
    /// Milliseconds from the data plane's start to the first authenticated video datagram.
    pub first_datagram_ms: Option<f64>,
    /// Why the session ended before the requested duration, if it did.
    pub ended_early: Option<String>,
    /// Wall-clock time (µs since the UNIX epoch) the timeline's `at_ms` counts from.
    pub stream_start_unix_us: u64,
    /// Frames given up, per 100 ms of the session.
    pub lost_frames_per_100ms: Vec<u32>,
    /// The host's audio, when asked for (`--audio`): tones per channel, latency, losses.
    pub audio: Option<crate::audio::AudioReport>,
    /// The host's game library, every page (`--library`).
    pub library: Option<Vec<LibraryTitle>>,
    /// What became of the title launched with `--launch`.
    pub launch: Option<LaunchReport>,
    /// The cover art asked for with `--art`.
    pub art: Option<ArtReport>,
    /// Every frame's fate, in order of settlement.
    #[serde(skip)]
    pub timeline: Vec<FrameRecord>,
}

/// The colour description the host announced.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WelcomeColor {
    pub primaries: u8,
    pub transfer: u8,
    pub matrix: u8,
    pub full_range: bool,
    /// The HDR10 metadata the host announced for an HDR stream.
    pub hdr: Option<HdrLevels>,
}

/// HDR10 static metadata in plain units, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HdrLevels {
    /// Mastering display primaries R, G, B and white point as CIE 1931 (x, y).
    pub primaries: [[f64; 2]; 3],
    pub white_point: [f64; 2],
    /// Mastering display luminance range in cd/m².
    pub max_luminance: f64,
    pub min_luminance: f64,
    /// Brightest pixel and brightest frame average of the content, in cd/m².
    pub max_cll: u16,
    pub max_fall: u16,
}

impl From<punktfunk_core::control::color::HdrMetadata> for HdrLevels {
    fn from(m: punktfunk_core::control::color::HdrMetadata) -> Self {
        let xy = |(x, y): (u16, u16)| [f64::from(x) / 50_000.0, f64::from(y) / 50_000.0];
        HdrLevels {
            primaries: m.primaries.map(xy),
            white_point: xy(m.white_point),
            max_luminance: f64::from(m.max_luminance) / 10_000.0,
            min_luminance: f64::from(m.min_luminance) / 10_000.0,
            max_cll: m.max_cll,
            max_fall: m.max_fall,
        }
    }
}

/// One title of the host's library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LibraryTitle {
    pub id: String,
    pub name: String,
    /// The host has cover art for it (`--art`).
    pub has_art: bool,
}

/// A title's cover art as the host sent it, chunk by chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ArtReport {
    pub title_id: String,
    /// `image/png` or `image/jpeg`; empty when the host has no art for the title.
    pub media_type: String,
    /// The picture's size as the host announced it (0: no art).
    pub total: u32,
    /// Chunks received.
    pub chunks: u32,
    /// The picture, complete when its length is `total`.
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// Set when the download stopped early (a host sending something other than what was asked).
    pub error: Option<String>,
}

impl ArtReport {
    pub fn complete(&self) -> bool {
        self.total > 0 && self.bytes.len() == self.total as usize
    }
}

/// The host's answer to a launch, and the title's end if it ended during the session.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LaunchReport {
    pub title_id: String,
    /// `None` until the host answered.
    pub ok: Option<bool>,
    pub message: String,
    /// Milliseconds from the stream start to the host's answer.
    pub answered_ms: Option<f64>,
    /// Why the title ended, if it did before the session.
    pub ended: Option<String>,
}

impl SessionReport {
    /// How long after `t` (since the stream start) the stream was whole again: the time from `t` to the
    /// last lost or corrupt entry settled at or after `t` (zero if there was none), provided a whole
    /// frame followed it. `None` if the stream never recovered.
    pub fn whole_again_after(&self, t: Duration) -> Option<Duration> {
        let t_ms = t.as_millis().min(u128::from(u32::MAX)) as u32;
        let last_bad = self
            .timeline
            .iter()
            .rposition(|r| !r.status.is_whole() && r.at_ms >= t_ms);
        match last_bad {
            None => Some(Duration::ZERO),
            Some(i) => self.timeline[i + 1..]
                .iter()
                .any(|r| r.status.is_whole())
                .then(|| Duration::from_millis(u64::from(self.timeline[i].at_ms - t_ms))),
        }
    }

    /// The human-readable summary `punktfunk-probe connect` prints.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "mode: {} ({}), session {:#010x}, requested {}",
            self.mode, self.codec, self.session_id, self.requested_mode
        );
        let _ = writeln!(s, "host fingerprint: {}", self.host_fingerprint);
        let _ = writeln!(s, "duration: {:.2} s", self.duration_s);
        let _ = writeln!(s, "fps: {:.2} (frames ok / seconds)", self.fps);
        let _ = writeln!(
            s,
            "frames: ok {} / recovered {} / lost {} / skipped until keyframe {} / integrity failures {}",
            self.frames_ok,
            self.frames_recovered,
            self.frames_lost,
            self.frames_skipped,
            self.integrity_failures
        );
        let _ = writeln!(s, "keyframe requests sent: {}", self.keyframe_requests);
        match &self.latency_ms {
            Some(l) => {
                // Raw test frames are checked when complete; encoded ones once decoded.
                let end = if self.codec == "RawTest" {
                    "frame complete"
                } else {
                    "decoded"
                };
                let _ = writeln!(
                    s,
                    "latency (host capture → {end}): p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} frames)",
                    l.p50, l.p95, l.p99, l.max, l.samples
                );
            }
            None => {
                let _ = writeln!(s, "latency: no clock sync, not measured");
            }
        }
        let _ = writeln!(
            s,
            "received bitrate: {:.2} Mbps (payload bytes of complete frames)",
            self.bitrate_mbps
        );
        let _ = writeln!(
            s,
            "FEC overhead: {:.1} % (recovery shards / data shards received); wire overhead {:.1} % (shard bytes received over frame bytes)",
            self.fec_overhead_percent, self.wire_overhead_percent
        );
        let nonzero: Vec<String> = self
            .rejects
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            s,
            "rejected datagrams: {}",
            if nonzero.is_empty() {
                "none".to_string()
            } else {
                nonzero.join(", ")
            }
        );
        if let Some(c) = &self.clock {
            let _ = writeln!(
                s,
                "clock: host − client offset {} µs (rtt {} µs)",
                c.offset_us, c.rtt_us
            );
        }
        let _ = writeln!(
            s,
            "host rate: {} kbps, parity {} % ({} rate updates)",
            self.host_bitrate_kbps, self.host_parity_percent, self.rate_updates
        );
        if let Some(a) = &self.audio {
            a.write_text(&mut s);
        }
        if let Some(library) = &self.library {
            let _ = writeln!(s, "library: {} titles", library.len());
            for t in library {
                let _ = writeln!(s, "  {:<40} {}", t.id, t.name);
            }
        }
        if let Some(l) = &self.launch {
            let answer = match l.ok {
                Some(true) => format!("started ({})", l.message),
                Some(false) => format!("refused: {}", l.message),
                None => "no answer from the host".to_string(),
            };
            let _ = writeln!(s, "launch {}: {answer}", l.title_id);
            if let Some(why) = &l.ended {
                let _ = writeln!(s, "  ended: {why}");
            }
        }
        if let Some(a) = &self.art {
            let state = match &a.error {
                Some(e) => format!("stopped: {e}"),
                None if a.total == 0 => "the host has none".to_string(),
                None if a.complete() => format!("{} bytes of {}", a.total, a.media_type),
                None => format!("{} of {} bytes", a.bytes.len(), a.total),
            };
            let _ = writeln!(s, "art {}: {state}", a.title_id);
        }
        if let Some(why) = &self.ended_early {
            let _ = writeln!(s, "ended early: {why}");
        }
        s
    }
}

/// Nearest-rank percentile of already sorted values (`p` in 0..=100).
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p.clamp(0.0, 100.0) / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

pub(super) struct ReportInputs<'a> {
    pub(super) stats: DataStats,
    pub(super) opts: &'a SessionOptions,
    pub(super) welcome: &'a Welcome,
    pub(super) host_fingerprint: String,
    pub(super) elapsed: Duration,
    pub(super) clock: Option<ClockSample>,
    pub(super) stream_start_unix_us: u64,
    pub(super) host_bitrate: u32,
    pub(super) host_parity: u16,
    pub(super) rate_updates: u64,
    pub(super) ended_early: Option<String>,
    pub(super) library: Option<Vec<LibraryTitle>>,
    pub(super) launch: Option<LaunchReport>,
    pub(super) art: Option<ArtReport>,
}

pub(super) fn build_report(r: ReportInputs<'_>) -> SessionReport {
    let mut s = r.stats;
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    s.latencies_us.sort_unstable();
    let ms = |p: f64| percentile(&s.latencies_us, p).map_or(0.0, |us| us as f64 / 1000.0);
    let latency_ms = (!s.latencies_us.is_empty()).then(|| LatencyMs {
        p50: ms(50.0),
        p95: ms(95.0),
        p99: ms(99.0),
        max: ms(100.0),
        samples: s.latencies_us.len(),
    });
    let buckets = (r.elapsed.as_millis() / 100) as usize + 1;
    let mut lost_per_100ms = vec![0u32; buckets];
    for rec in s.timeline.iter().filter(|r| r.status == FrameStatus::Lost) {
        let b = (rec.at_ms / 100) as usize;
        if b >= lost_per_100ms.len() {
            lost_per_100ms.resize(b + 1, 0);
        }
        lost_per_100ms[b] = lost_per_100ms[b].saturating_add(rec.count);
    }
    let w = r.welcome;
    SessionReport {
        mode: Mode {
            width: w.width,
            height: w.height,
            refresh_mhz: w.refresh_mhz,
        }
        .to_string(),
        requested_mode: r.opts.mode.to_string(),
        codec: format!("{:?}", w.codec),
        color_format: w.color_format,
        color: WelcomeColor {
            primaries: w.color.primaries,
            transfer: w.color.transfer,
            matrix: w.color.matrix,
            full_range: w.color.full_range,
            hdr: w.hdr.map(HdrLevels::from),
        },
        video_format: s.video_format.take(),
        last_picture: s.last_picture.take(),
        session_id: w.session_id,
        host_fingerprint: r.host_fingerprint,
        duration_s: secs,
        frames_ok: s.frames_ok,
        frames_recovered: s.frames_recovered,
        frames_lost: s.frames_lost,
        frames_skipped: s.frames_skipped,
        centre_rgb: s.centre_rgb,
        frames_changed: s.frames_changed,
        integrity_failures: s.integrity_failures,
        keyframe_requests: s.keyframe_requests,
        fps: s.frames_ok as f64 / secs,
        latency_ms,
        bitrate_mbps: s.frame_bytes as f64 * 8.0 / secs / 1e6,
        fec_overhead_percent: 100.0 * s.recovery_shards as f64 / s.data_shards.max(1) as f64,
        wire_overhead_percent: 100.0 * s.shard_bytes.saturating_sub(s.frame_bytes) as f64
            / s.frame_bytes.max(1) as f64,
        rejects: s.rejects,
        datagrams_received: s.datagrams_received,
        other_kind_datagrams: s.other_kind,
        redundant_shards: s.redundant_shards,
        feedback_sent: s.feedback_sent,
        clock: r.clock.map(|c| ClockReport {
            offset_us: c.offset_us,
            rtt_us: c.rtt_us,
        }),
        host_bitrate_kbps: r.host_bitrate,
        host_parity_percent: r.host_parity,
        rate_updates: r.rate_updates,
        first_datagram_ms: s.first_datagram.map(|d| d.as_secs_f64() * 1000.0),
        ended_early: r.ended_early,
        stream_start_unix_us: r.stream_start_unix_us,
        lost_frames_per_100ms: lost_per_100ms,
        audio: s.audio,
        library: r.library,
        launch: r.launch,
        art: r.art,
        timeline: s.timeline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    fn report_with(timeline: Vec<FrameRecord>) -> SessionReport {
        SessionReport {
            mode: String::new(),
            requested_mode: String::new(),
            codec: String::new(),
            color_format: 0,
            color: WelcomeColor {
                primaries: 1,
                transfer: 1,
                matrix: 1,
                full_range: false,
                hdr: None,
            },
            video_format: None,
            last_picture: None,
            session_id: 0,
            host_fingerprint: String::new(),
            duration_s: 1.0,
            frames_ok: 0,
            frames_recovered: 0,
            frames_lost: 0,
            frames_skipped: 0,
            centre_rgb: None,
            frames_changed: 0,
            integrity_failures: 0,
            keyframe_requests: 0,
            fps: 0.0,
            latency_ms: None,
            bitrate_mbps: 0.0,
            fec_overhead_percent: 0.0,
            wire_overhead_percent: 0.0,
            rejects: BTreeMap::new(),
            datagrams_received: 0,
            other_kind_datagrams: 0,
            redundant_shards: 0,
            feedback_sent: 0,
            clock: None,
            host_bitrate_kbps: 0,
            host_parity_percent: 0,
            rate_updates: 0,
            first_datagram_ms: None,
            ended_early: None,
            stream_start_unix_us: 0,
            lost_frames_per_100ms: Vec::new(),
            audio: None,
            library: None,
            launch: None,
            art: None,
            timeline,
        }
    }

    #[test]
    fn whole_again_after_finds_the_last_bad_frame() {
        let rec = |at_ms, status| FrameRecord {
            at_ms,
            first_index: 0,
            count: 1,
            status,
            latency_us: None,
            bytes: 0,
        };
        let r = report_with(vec![
            rec(100, FrameStatus::Ok),
            rec(200, FrameStatus::Lost),
            rec(450, FrameStatus::Lost),
            rec(460, FrameStatus::Recovered),
            rec(480, FrameStatus::Ok),
        ]);
        assert_eq!(
            r.whole_again_after(Duration::from_millis(300)),
            Some(Duration::from_millis(150))
        );
        assert_eq!(
            r.whole_again_after(Duration::from_millis(470)),
            Some(Duration::ZERO)
        );
        let never = report_with(vec![
            rec(100, FrameStatus::Ok),
            rec(200, FrameStatus::Corrupt),
        ]);
        assert_eq!(never.whole_again_after(Duration::from_millis(50)), None);
    }
}
