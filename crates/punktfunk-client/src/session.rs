//! The client side of a punktfunk/1 session, as `punktfunk-probe connect` runs it.
//!
//! 1. QUIC to the host (ALPN `pkf1`, SNI `punktfunk`), the host certificate pinned by fingerprint or
//!    trusted on first use ([`crate::tls`]).
//! 2. One bidirectional control stream of length-prefixed [`Message`]s: `Hello` → `Welcome` (or
//!    `Goodbye` = rejected).
//! 3. Data-plane keys from the TLS exporter ([`EXPORTER_LABEL`], context = session id LE).
//! 4. A native data-plane thread: registration datagrams to the host's data port (every 200 ms until
//!    video flows, then every second as NAT keep-alive), then opening, reassembling and byte-checking
//!    every frame of the virtual test source ([`TestFrame`]), measuring latency through the clock offset
//!    estimated from `ClockPing`/`ClockPong`, reporting `Feedback` every 100 ms and asking for
//!    keyframes when frames are lost.
//! 5. After the requested duration: `Goodbye{"done"}`, close, and a [`SessionReport`].
//!
//! The tokio side only moves control messages; the data thread and the control task talk over bounded
//! channels and never block each other (the data thread uses `try_send` only).

use crate::tls::{self, PinnedVerifier};
use punktfunk_core::control::{
    self, ClockSample, ClockSync, Codec, EXPORTER_LABEL, EXPORTER_LEN, Feedback, FrameBuffer,
    Hello, Message, Welcome,
};
use punktfunk_core::crypto::{Opener, SessionKeys};
use punktfunk_core::packetize::{
    CompletedFrame, DatagramBatch, Event, FecConfig, FrameInput, Packetizer, PacketizerConfig,
    Reassembler, ReassemblerConfig,
};
use punktfunk_core::reject::RejectCounters;
use punktfunk_core::testsrc::TestFrame;
use punktfunk_core::wire::StreamKind;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::mpsc::{Receiver as StdReceiver, TryRecvError, sync_channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Default UDP port of a host's punktfunk/1 QUIC endpoint.
pub const DEFAULT_PORT: u16 = 47800;
/// How often the receiver reports to the host.
pub const FEEDBACK_INTERVAL: Duration = Duration::from_millis(100);
/// Fewest time between two keyframe requests (losses in between are coalesced).
pub const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(100);
/// The delay gradient in feedback is fitted over this much history (sent every 100 ms). One 100 ms
/// window holds only ~6 frames at 60 Hz, whose fitted slope swings by ±20 ms/s on a clean loopback
/// link from scheduling jitter alone — far above any congestion threshold; half a second of samples
/// brings that noise down to a few hundred µs/s while still reacting within a few reports.
pub const GRADIENT_WINDOW: Duration = Duration::from_millis(500);
/// Frames whose capture-to-complete latency exceeds this count as late in feedback.
pub const LATE_FRAME: Duration = Duration::from_millis(100);
/// Registration interval until the first video datagram arrives, and afterwards (NAT keep-alive).
pub const REGISTER_INTERVAL: Duration = Duration::from_millis(200);
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// Clock pings: a quick burst at start, then a steady rate.
const PING_BURST: u32 = 5;
const PING_BURST_INTERVAL: Duration = Duration::from_millis(50);
const PING_INTERVAL: Duration = Duration::from_secs(1);
/// How long the host may take to answer `Hello`.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);
/// Socket read timeout of the data thread (bounds how late timers fire).
const READ_TIMEOUT: Duration = Duration::from_millis(5);
/// Receive buffer the data socket asks for.
const RECV_BUFFER: usize = 8 << 20;
const REGISTER_PAYLOAD: &[u8] = b"register";

// ---------------------------------------------------------------------------------------------
// Options and parsing
// ---------------------------------------------------------------------------------------------

/// A display mode: `WIDTHxHEIGHT@HZ` (fractional rates such as `59.94` allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub width: u32,
    pub height: u32,
    pub refresh_mhz: u32,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        let bad = || format!("mode {s:?} is not WIDTHxHEIGHT@HZ (e.g. 1280x720@60)");
        let (size, hz) = s.trim().split_once('@').ok_or_else(bad)?;
        let (w, h) = size.split_once(['x', 'X']).ok_or_else(bad)?;
        let width: u32 = w.trim().parse().map_err(|_| bad())?;
        let height: u32 = h.trim().parse().map_err(|_| bad())?;
        let hz: f64 = hz.trim().parse().map_err(|_| bad())?;
        if width == 0 || height == 0 || !(hz > 0.0 && hz <= 1000.0) {
            return Err(bad());
        }
        Ok(Mode {
            width,
            height,
            refresh_mhz: (hz * 1000.0).round() as u32,
        })
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}@", self.width, self.height)?;
        if self.refresh_mhz.is_multiple_of(1000) {
            write!(f, "{}", self.refresh_mhz / 1000)
        } else {
            let hz = format!("{:.3}", f64::from(self.refresh_mhz) / 1000.0);
            f.write_str(hz.trim_end_matches('0'))
        }
    }
}

/// Parses durations such as `10s`, `500ms`, `2m`, `1.5s`, `1h`; a bare number means seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let bad = || format!("duration {s:?} is not a number with a unit (ms, s, m, h), e.g. 10s");
    let value: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" | "sec" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

/// Splits `HOST`, `HOST:PORT`, `[V6]:PORT`, `[V6]` or a bare IPv6 address into host and port.
pub fn split_host_port(s: &str) -> Result<(String, u16), String> {
    let s = s.trim();
    let bad_port = |p: &str| format!("port {p:?} in {s:?} is not a number from 1 to 65535");
    let port = |p: &str| match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(bad_port(p)),
    };
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{s:?} lacks the closing ']'"))?;
        return match after {
            "" => Ok((host.to_string(), DEFAULT_PORT)),
            p => Ok((
                host.to_string(),
                port(p.strip_prefix(':').ok_or_else(|| bad_port(p))?)?,
            )),
        };
    }
    if s.is_empty() {
        return Err("empty host".into());
    }
    match s.rsplit_once(':') {
        // More than one colon without brackets: a bare IPv6 address.
        Some((host, _)) if host.contains(':') => Ok((s.to_string(), DEFAULT_PORT)),
        Some((host, p)) => Ok((host.to_string(), port(p)?)),
        None => Ok((s.to_string(), DEFAULT_PORT)),
    }
}

/// Receives the host's certificate fingerprint right after the handshake.
pub type FingerprintCallback = Arc<dyn Fn(&str) + Send + Sync>;

/// What `run_session` needs to know.
#[derive(Clone)]
pub struct SessionOptions {
    /// `HOST[:PORT]` (default port [`DEFAULT_PORT`]).
    pub host: String,
    pub mode: Mode,
    /// How long to stream before saying goodbye.
    pub duration: Duration,
    pub bitrate_kbps: u32,
    /// Expected host certificate fingerprint (any common spelling); `None` = trust on first use.
    pub fingerprint: Option<String>,
    /// Largest UDP payload this client's path carries.
    pub max_datagram: u16,
    pub name: String,
    /// Called with the host's fingerprint once the handshake succeeded (the CLI prints it for TOFU).
    pub on_host_fingerprint: Option<FingerprintCallback>,
}

impl SessionOptions {
    pub fn new(host: impl Into<String>, mode: Mode, duration: Duration) -> Self {
        SessionOptions {
            host: host.into(),
            mode,
            duration,
            bitrate_kbps: 20_000,
            fingerprint: None,
            max_datagram: 1452,
            name: "probe".into(),
            on_host_fingerprint: None,
        }
    }
}

impl fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionOptions")
            .field("host", &self.host)
            .field("mode", &self.mode)
            .field("duration", &self.duration)
            .field("bitrate_kbps", &self.bitrate_kbps)
            .field("fingerprint", &self.fingerprint)
            .field("max_datagram", &self.max_datagram)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Why a session could not run.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("host certificate fingerprint mismatch: expected {expected}, got {got}")]
    FingerprintMismatch { expected: String, got: String },
    #[error("host rejected the session: {0}")]
    Rejected(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

impl SessionError {
    /// Process exit status for the probe: 2 for a fingerprint mismatch, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            SessionError::FingerprintMismatch { .. } => 2,
            _ => 1,
        }
    }
}

fn other(context: &str, e: impl fmt::Display) -> SessionError {
    SessionError::Other(format!("{context}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

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
    pub session_id: u32,
    pub host_fingerprint: String,
    /// Seconds from the data plane's start to the goodbye.
    pub duration_s: f64,
    /// Frames complete and byte-exact (including recovered ones).
    pub frames_ok: u64,
    /// Of `frames_ok`, those that needed FEC.
    pub frames_recovered: u64,
    pub frames_lost: u64,
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
    /// Every frame's fate, in order of settlement.
    #[serde(skip)]
    pub timeline: Vec<FrameRecord>,
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
            "frames: ok {} / recovered {} / lost {} / integrity failures {}",
            self.frames_ok, self.frames_recovered, self.frames_lost, self.integrity_failures
        );
        let _ = writeln!(s, "keyframe requests sent: {}", self.keyframe_requests);
        match &self.latency_ms {
            Some(l) => {
                let _ = writeln!(
                    s,
                    "latency (host capture → frame complete): p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} frames)",
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

// ---------------------------------------------------------------------------------------------
// Clock
// ---------------------------------------------------------------------------------------------

/// The client's wall clock in µs since the UNIX epoch, read as a fixed anchor plus monotonic time, so
/// the control task (clock pings) and the data thread (frame completion) share one consistent clock.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    anchor: Instant,
    anchor_us: u64,
}

impl WallClock {
    pub fn new() -> Self {
        let anchor = Instant::now();
        let anchor_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        WallClock { anchor, anchor_us }
    }
    pub fn at_us(&self, t: Instant) -> u64 {
        self.anchor_us + t.saturating_duration_since(self.anchor).as_micros() as u64
    }
    pub fn now_us(&self) -> u64 {
        self.at_us(Instant::now())
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------------------------
// Receiver state (sans-IO: the data thread feeds it datagrams and time)
// ---------------------------------------------------------------------------------------------

/// Counters the data plane accumulates over the session.
#[derive(Debug, Clone, Default)]
struct DataStats {
    frames_ok: u64,
    frames_recovered: u64,
    frames_lost: u64,
    integrity_failures: u64,
    keyframe_requests: u64,
    feedback_sent: u64,
    latencies_us: Vec<i64>,
    frame_bytes: u64,
    datagrams_received: u64,
    other_kind: u64,
    data_shards: u64,
    recovery_shards: u64,
    shard_bytes: u64,
    first_datagram: Option<Duration>,
    timeline: Vec<FrameRecord>,
    rejects: BTreeMap<&'static str, u64>,
    redundant_shards: u64,
}

/// Opens, reassembles, verifies and measures the host's video stream.
struct StreamReceiver {
    start: Instant,
    clock: WallClock,
    opener: Opener,
    reassembler: Reassembler,
    sync: ClockSync,
    stats: DataStats,
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
}

impl StreamReceiver {
    fn new(start: Instant, clock: WallClock, keys: &SessionKeys, session_id: u32) -> Self {
        // `Opener::new` only fails on a key AES rejects, which a derived 16-byte key never is.
        let opener = Opener::new(&keys.host_to_client, session_id);
        StreamReceiver {
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
        }
    }

    fn got_video(&self) -> bool {
        self.stats.first_datagram.is_some()
    }

    fn ms_since_start(&self, t: Instant) -> u32 {
        t.saturating_duration_since(self.start)
            .as_millis()
            .min(u128::from(u32::MAX)) as u32
    }

    fn on_datagram(&mut self, now: Instant, datagram: &mut [u8]) {
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

    fn on_tick(&mut self, now: Instant) {
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
    }

    fn on_frame(&mut self, frame: CompletedFrame) {
        let at_ms = self.ms_since_start(frame.timing.completed);
        let verified = TestFrame::verify(&frame.data);
        let status = match verified {
            Ok(tf) if tf.frame_number as u32 == frame.frame_index => {
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
                    let completed_us = self.clock.at_us(frame.timing.completed) as i64;
                    let latency = completed_us - capture_us;
                    self.stats.latencies_us.push(latency);
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
            Ok(tf) => {
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
        });
    }

    fn on_lost(&mut self, now: Instant, first: u32, count: u32) {
        tracing::debug!(first, count, "frames lost");
        self.stats.frames_lost += u64::from(count);
        self.stats.timeline.push(FrameRecord {
            at_ms: self.ms_since_start(now),
            first_index: first,
            count,
            status: FrameStatus::Lost,
        });
        // Coalesce: the earliest loss since the last request is the one that matters.
        self.pending_keyframe.get_or_insert(first);
    }

    /// A keyframe request due now, if losses are pending and the rate limit allows one.
    fn due_keyframe_request(&self, now: Instant) -> Option<u32> {
        let first = self.pending_keyframe?;
        match self.last_keyframe_request {
            Some(t) if now.saturating_duration_since(t) < KEYFRAME_REQUEST_INTERVAL => None,
            _ => Some(first),
        }
    }

    fn keyframe_request_sent(&mut self, now: Instant) {
        self.pending_keyframe = None;
        self.last_keyframe_request = Some(now);
        self.stats.keyframe_requests += 1;
    }

    fn take_feedback(&mut self, now: Instant) -> Feedback {
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

    fn finish(mut self) -> DataStats {
        self.stats.rejects = merge_rejects(self.opener.rejects(), self.reassembler.rejects());
        self.stats.redundant_shards = self.reassembler.redundant_shards();
        self.stats
    }
}

// ---------------------------------------------------------------------------------------------
// Data-plane thread
// ---------------------------------------------------------------------------------------------

/// Control task → data thread.
enum ToData {
    Clock(ClockSample),
    /// `Start` went out: register again at once, in case the host only accepts registrations after it.
    Started,
}

/// Data thread → control task.
#[derive(Debug)]
enum FromData {
    /// The first registration datagram went out: time to send `Start`.
    Registered,
    Feedback(Feedback),
    KeyframeRequest(u32),
    Failed(String),
}

struct DataParams {
    host_data: SocketAddr,
    session_id: u32,
    keys: SessionKeys,
    max_datagram: u16,
    clock: WallClock,
    start: Instant,
}

fn bind_data_socket(host: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(host), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = socket.set_recv_buffer_size(RECV_BUFFER) {
        tracing::warn!("could not enlarge the data socket's receive buffer: {e}");
    }
    let local: SocketAddr = if host.is_ipv6() {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    socket.bind(&local.into())?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(READ_TIMEOUT))?;
    let granted = socket2::SockRef::from(&socket)
        .recv_buffer_size()
        .unwrap_or(0);
    // Linux reports twice the size it was asked for, capped by net.core.rmem_max.
    if granted < RECV_BUFFER {
        tracing::warn!(
            granted,
            "data socket receive buffer is smaller than the 8 MiB asked for; raise net.core.rmem_max"
        );
    }
    tracing::debug!(local = ?socket.local_addr().ok(), granted, "data socket bound");
    Ok(socket)
}

/// The data thread: registers with the host, receives until the control task hangs up.
fn run_data_plane(
    p: DataParams,
    control: StdReceiver<ToData>,
    events: mpsc::Sender<FromData>,
) -> Result<DataStats, SessionError> {
    let result = data_loop(p, control, &events);
    if let Err(e) = &result {
        let _ = events.try_send(FromData::Failed(e.to_string()));
    }
    result
}

fn data_loop(
    p: DataParams,
    control: StdReceiver<ToData>,
    events: &mpsc::Sender<FromData>,
) -> Result<DataStats, SessionError> {
    let socket = bind_data_socket(p.host_data)?;
    let mut reg_config = PacketizerConfig::new(StreamKind::Probe, p.session_id);
    reg_config.fec = FecConfig::disabled();
    reg_config.max_datagram = usize::from(p.max_datagram);
    let mut registrar = Packetizer::new(reg_config, &p.keys.client_to_host)
        .map_err(|e| other("data-plane key", e))?;
    let mut reg_batch = DatagramBatch::new();
    let mut rx = StreamReceiver::new(p.start, p.clock, &p.keys, p.session_id);
    let mut buf = vec![0u8; 65_536];
    let mut registered = false;
    let mut next_register = Instant::now();
    let mut next_feedback = p.start + FEEDBACK_INTERVAL;

    'run: loop {
        loop {
            match control.try_recv() {
                Ok(ToData::Clock(sample)) => rx.sync.add(sample),
                Ok(ToData::Started) if !rx.got_video() => next_register = Instant::now(),
                Ok(ToData::Started) => {}
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => break 'run,
            }
        }
        let now = Instant::now();
        if now >= next_register {
            registrar
                .packetize(
                    FrameInput {
                        data: REGISTER_PAYLOAD,
                        pts_us: p.clock.at_us(now),
                        keyframe: false,
                        recovery_point: false,
                    },
                    &mut reg_batch,
                )
                .map_err(|e| other("registration datagram", e))?;
            for datagram in reg_batch.iter() {
                if let Err(e) = socket.send_to(datagram, p.host_data) {
                    tracing::warn!("registration to {} failed: {e}", p.host_data);
                }
            }
            if !registered {
                registered = true;
                let _ = events.try_send(FromData::Registered);
            }
            let interval = if rx.got_video() {
                KEEPALIVE_INTERVAL
            } else {
                REGISTER_INTERVAL
            };
            next_register = now + interval;
        }
        if now >= next_feedback {
            let feedback = rx.take_feedback(now);
            if events.try_send(FromData::Feedback(feedback)).is_ok() {
                rx.stats.feedback_sent += 1;
            }
            next_feedback = (next_feedback + FEEDBACK_INTERVAL).max(now);
        }
        if let Some(first) = rx.due_keyframe_request(now)
            && events.try_send(FromData::KeyframeRequest(first)).is_ok()
        {
            rx.keyframe_request_sent(now);
        }

        match socket.recv_from(&mut buf) {
            Ok((n, _from)) => rx.on_datagram(Instant::now(), &mut buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            // ICMP errors from earlier sends surface here on some platforms; they are not fatal.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                tracing::debug!("data socket: {e}");
            }
            Err(e) => return Err(other("data socket receive", e)),
        }
        rx.on_tick(Instant::now());
    }
    Ok(rx.finish())
}

// ---------------------------------------------------------------------------------------------
// Control plane
// ---------------------------------------------------------------------------------------------

/// What the control-stream reader forwards.
enum Incoming {
    Message(Message),
    Closed(String),
}

async fn read_messages(mut recv: quinn::RecvStream, tx: mpsc::Sender<Incoming>) {
    let mut frames = FrameBuffer::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let closed = match recv.read(&mut buf).await {
            Ok(Some(n)) => {
                frames.extend(&buf[..n]);
                loop {
                    match frames.next_body() {
                        Ok(Some(body)) => match Message::decode(&body) {
                            Ok(m) => {
                                if tx.send(Incoming::Message(m)).await.is_err() {
                                    return;
                                }
                            }
                            Err(e) => tracing::warn!("skipping control message: {e}"),
                        },
                        Ok(None) => break,
                        Err(e) => {
                            let why = format!("control stream framing error: {e}");
                            let _ = tx.send(Incoming::Closed(why)).await;
                            return;
                        }
                    }
                }
                continue;
            }
            Ok(None) => "host finished the control stream".to_string(),
            Err(e) => format!("control stream: {e}"),
        };
        let _ = tx.send(Incoming::Closed(closed)).await;
        return;
    }
}

async fn send_message(send: &mut quinn::SendStream, m: &Message) -> Result<(), SessionError> {
    send.write_all(&control::frame(&m.encode()))
        .await
        .map_err(|e| other("control stream write", e))
}

async fn wait_welcome(rx: &mut mpsc::Receiver<Incoming>) -> Result<Welcome, SessionError> {
    loop {
        match rx.recv().await {
            Some(Incoming::Message(Message::Welcome(w))) => return Ok(w),
            Some(Incoming::Message(Message::Goodbye { reason })) => {
                return Err(SessionError::Rejected(reason));
            }
            Some(Incoming::Message(m)) => {
                tracing::debug!(?m, "ignoring message before Welcome");
            }
            Some(Incoming::Closed(why)) => {
                return Err(SessionError::Other(format!(
                    "host closed the session before Welcome ({why})"
                )));
            }
            None => return Err(SessionError::Other("control stream reader stopped".into())),
        }
    }
}

fn transport_config() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(Duration::from_secs(10))
            .unwrap_or_else(|_| unreachable!("10 s is a valid idle timeout")),
    ));
    t.keep_alive_interval(Some(Duration::from_secs(1)));
    t
}

/// Runs one punktfunk/1 session against a host and reports what arrived.
pub async fn run_session(opts: SessionOptions) -> Result<SessionReport, SessionError> {
    let expected = opts
        .fingerprint
        .as_deref()
        .map(tls::normalize_fingerprint)
        .transpose()
        .map_err(|e| SessionError::Other(e.to_string()))?;
    let (host, port) = split_host_port(&opts.host).map_err(SessionError::Other)?;
    let addr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| other(&format!("resolving {host}"), e))?
        .next()
        .ok_or_else(|| SessionError::Other(format!("{host} has no address")))?;

    let verifier = Arc::new(PinnedVerifier::new(expected));
    let mut client_config =
        tls::quic_client_config(verifier.clone()).map_err(|e| other("TLS", e))?;
    client_config.transport_config(Arc::new(transport_config()));
    let bind: SocketAddr = if addr.is_ipv6() {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let mut endpoint = quinn::Endpoint::client(bind)?;
    endpoint.set_default_client_config(client_config);
    let connecting = endpoint
        .connect(addr, tls::SERVER_NAME)
        .map_err(|e| other(&format!("connecting to {addr}"), e))?;
    let conn = match connecting.await {
        Ok(conn) => conn,
        Err(e) => {
            if let Some((expected, got)) = verifier.mismatch() {
                return Err(SessionError::FingerprintMismatch { expected, got });
            }
            return Err(other(&format!("QUIC connection to {addr}"), e));
        }
    };
    let fingerprint = verifier.seen().unwrap_or_default();
    tracing::info!(%addr, %fingerprint, "connected");
    if let Some(cb) = &opts.on_host_fingerprint {
        cb(&fingerprint);
    }

    let result = drive(&conn, &opts, fingerprint).await;
    let (code, reason): (u32, &[u8]) = match &result {
        Ok(_) => (0, b"done"),
        Err(_) => (1, b"error"),
    };
    conn.close(code.into(), reason);
    // Give the close frame a moment to leave; never hang on a dead path.
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    result
}

/// Why the control loop stopped.
enum End {
    Done,
    Early(String),
}

async fn drive(
    conn: &quinn::Connection,
    opts: &SessionOptions,
    host_fingerprint: String,
) -> Result<SessionReport, SessionError> {
    let clock = WallClock::new();
    let (mut send, recv) = conn
        .open_bi()
        .await
        .map_err(|e| other("opening the control stream", e))?;
    let (msg_tx, mut msg_rx) = mpsc::channel(64);
    let reader = tokio::spawn(read_messages(recv, msg_tx));
    let hello = Message::Hello(Hello {
        client_name: opts.name.clone(),
        width: opts.mode.width,
        height: opts.mode.height,
        refresh_mhz: opts.mode.refresh_mhz,
        codecs: vec![Codec::RawTest],
        bitrate_kbps: opts.bitrate_kbps,
        caps: 0,
        audio_channels: 2,
        max_datagram: opts.max_datagram,
    });
    send_message(&mut send, &hello).await?;
    let welcome = tokio::time::timeout(WELCOME_TIMEOUT, wait_welcome(&mut msg_rx))
        .await
        .map_err(|_| SessionError::Other("host did not answer Hello within 10 s".into()))??;
    tracing::info!(?welcome, "welcome");
    if welcome.codec != Codec::RawTest {
        tracing::warn!(codec = ?welcome.codec, "host chose a codec the probe cannot verify");
    }

    let mut secret = [0u8; EXPORTER_LEN];
    conn.export_keying_material(
        &mut secret,
        EXPORTER_LABEL,
        &welcome.session_id.to_le_bytes(),
    )
    .map_err(|e| other("TLS exporter", format!("{e:?}")))?;
    let keys = SessionKeys::derive(&secret, welcome.session_id)
        .map_err(|e| other("data-plane keys", e))?;

    let start = Instant::now();
    let (to_data, from_control) = sync_channel::<ToData>(64);
    let (data_events_tx, mut data_events) = mpsc::channel::<FromData>(256);
    // Same address as the QUIC connection (keeping an IPv6 scope id), the host's data port.
    let mut host_data = conn.remote_address();
    host_data.set_port(welcome.data_port);
    let params = DataParams {
        host_data,
        session_id: welcome.session_id,
        keys,
        max_datagram: opts.max_datagram,
        clock,
        start,
    };
    let data_thread = std::thread::Builder::new()
        .name("pkf1-data".into())
        .spawn(move || run_data_plane(params, from_control, data_events_tx))?;

    let deadline = tokio::time::Instant::from_std(start + opts.duration);
    let mut next_ping = tokio::time::Instant::from_std(start);
    let mut pings_sent = 0u32;
    let mut sync = ClockSync::new();
    let (mut host_bitrate, mut host_parity, mut rate_updates) =
        (welcome.bitrate_kbps, welcome.parity_percent, 0u64);
    let mut started = false;

    let end = loop {
        let step: Result<Option<End>, SessionError> = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => Ok(Some(End::Done)),
            // Nothing but Start may follow Welcome, so the clock pings wait for it.
            _ = tokio::time::sleep_until(next_ping), if started => {
                pings_sent += 1;
                next_ping += if pings_sent < PING_BURST { PING_BURST_INTERVAL } else { PING_INTERVAL };
                send_message(&mut send, &Message::ClockPing { client_send_us: clock.now_us() })
                    .await
                    .map(|_| None)
            }
            event = data_events.recv() => match event {
                Some(FromData::Registered) if !started => {
                    started = true;
                    next_ping = tokio::time::Instant::now();
                    let sent = send_message(&mut send, &Message::Start).await;
                    let _ = to_data.try_send(ToData::Started);
                    sent.map(|_| None)
                }
                Some(FromData::Registered) => Ok(None),
                Some(FromData::Feedback(f)) if started => {
                    tracing::debug!(?f, "feedback");
                    send_message(&mut send, &Message::Feedback(f)).await.map(|_| None)
                }
                Some(FromData::Feedback(_)) => Ok(None),
                Some(FromData::KeyframeRequest(first_lost_frame)) => {
                    send_message(&mut send, &Message::KeyframeRequest { first_lost_frame })
                        .await
                        .map(|_| None)
                }
                Some(FromData::Failed(e)) => Err(SessionError::Other(format!("data plane: {e}"))),
                None => Ok(Some(End::Early("data plane stopped".into()))),
            },
            incoming = msg_rx.recv() => match incoming {
                Some(Incoming::Message(Message::ClockPong { client_send_us, host_recv_us, host_send_us })) => {
                    let sample = ClockSample::from_times(
                        client_send_us, host_recv_us, host_send_us, clock.now_us(),
                    );
                    sync.add(sample);
                    let _ = to_data.try_send(ToData::Clock(sample));
                    Ok(None)
                }
                Some(Incoming::Message(Message::RateUpdate { bitrate_kbps, parity_percent })) => {
                    tracing::info!(bitrate_kbps, parity_percent, "host rate update");
                    host_bitrate = bitrate_kbps;
                    host_parity = parity_percent;
                    rate_updates += 1;
                    Ok(None)
                }
                Some(Incoming::Message(Message::Goodbye { reason })) => {
                    Ok(Some(End::Early(format!("host said goodbye: {reason}"))))
                }
                Some(Incoming::Message(m)) => {
                    tracing::debug!(?m, "ignoring unexpected control message");
                    Ok(None)
                }
                Some(Incoming::Closed(why)) => Ok(Some(End::Early(why))),
                None => Ok(Some(End::Early("control stream reader stopped".into()))),
            },
        };
        match step {
            Ok(None) => {}
            Ok(Some(end)) => break Ok(end),
            Err(e) => break Err(e),
        }
    };
    let elapsed = start.elapsed();

    if matches!(end, Ok(End::Done)) {
        let bye = Message::Goodbye {
            reason: "done".into(),
        };
        if let Err(e) = send_message(&mut send, &bye).await {
            tracing::debug!("goodbye not sent: {e}");
        }
        let _ = send.finish();
    }
    // Hanging up the channel stops the data thread within one read timeout.
    drop(to_data);
    let joined = tokio::task::spawn_blocking(move || data_thread.join())
        .await
        .map_err(|e| other("data thread", e))?
        .map_err(|_| SessionError::Other("data thread panicked".into()))?;
    reader.abort();
    let ended_early = match end? {
        End::Done => None,
        End::Early(why) => Some(why),
    };
    let stats = joined?;
    Ok(build_report(ReportInputs {
        stats,
        opts,
        welcome: &welcome,
        host_fingerprint,
        elapsed,
        clock: sync.best(),
        stream_start_unix_us: clock.at_us(start),
        host_bitrate,
        host_parity,
        rate_updates,
        ended_early,
    }))
}

struct ReportInputs<'a> {
    stats: DataStats,
    opts: &'a SessionOptions,
    welcome: &'a Welcome,
    host_fingerprint: String,
    elapsed: Duration,
    clock: Option<ClockSample>,
    stream_start_unix_us: u64,
    host_bitrate: u32,
    host_parity: u16,
    rate_updates: u64,
    ended_early: Option<String>,
}

fn build_report(r: ReportInputs<'_>) -> SessionReport {
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
        session_id: w.session_id,
        host_fingerprint: r.host_fingerprint,
        duration_s: secs,
        frames_ok: s.frames_ok,
        frames_recovered: s.frames_recovered,
        frames_lost: s.frames_lost,
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
        timeline: s.timeline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use punktfunk_core::control::ClockSample;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "s", "abc", "5x", "-1s", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn modes_parse_and_print() {
        let m: Mode = "1280x720@60".parse().unwrap();
        assert_eq!(
            m,
            Mode {
                width: 1280,
                height: 720,
                refresh_mhz: 60_000
            }
        );
        assert_eq!(m.to_string(), "1280x720@60");
        let m: Mode = "1920X1080@59.94".parse().unwrap();
        assert_eq!(m.refresh_mhz, 59_940);
        assert_eq!(m.to_string(), "1920x1080@59.94");
        for bad in ["1280x720", "1280@60", "0x720@60", "1280x720@0", "ax720@60"] {
            assert!(bad.parse::<Mode>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hosts_split() {
        let ok = |h: &str, p: u16| Ok((h.to_string(), p));
        assert_eq!(split_host_port("127.0.0.1"), ok("127.0.0.1", DEFAULT_PORT));
        assert_eq!(split_host_port("127.0.0.1:5000"), ok("127.0.0.1", 5000));
        assert_eq!(split_host_port("example.org:1"), ok("example.org", 1));
        assert_eq!(split_host_port("[::1]:5000"), ok("::1", 5000));
        assert_eq!(split_host_port("[::1]"), ok("::1", DEFAULT_PORT));
        assert_eq!(split_host_port("::1"), ok("::1", DEFAULT_PORT));
        for bad in ["", "host:0", "host:x", "[::1", "[::1]5000", "h:70000"] {
            assert!(split_host_port(bad).is_err(), "{bad:?}");
        }
    }

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

    fn report_with(timeline: Vec<FrameRecord>) -> SessionReport {
        SessionReport {
            mode: String::new(),
            requested_mode: String::new(),
            codec: String::new(),
            session_id: 0,
            host_fingerprint: String::new(),
            duration_s: 1.0,
            frames_ok: 0,
            frames_recovered: 0,
            frames_lost: 0,
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

    /// The receiver against the real packetizer, without sockets: recovery, loss, keyframe requests,
    /// latency through the clock offset, and feedback.
    #[test]
    fn receiver_verifies_recovers_and_reports_loss() {
        let session = 9;
        let keys = SessionKeys::derive(&[7u8; 32], session).unwrap();
        let start = Instant::now();
        let clock = WallClock::new();
        let mut rx = StreamReceiver::new(start, clock, &keys, session);
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

    /// A host stand-in speaking punktfunk/1 just well enough to exercise the client end to end.
    mod fake_host {
        use super::*;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

        /// Host clock = client clock + this (so latency only comes out right through the clock sync).
        pub const HOST_OFFSET_US: u64 = 3_000_000;

        #[derive(Default, Clone)]
        pub struct Behaviour {
            pub reject: Option<String>,
            /// Drop every host → client datagram sent in this window (since the first frame).
            pub blackout: Option<(Duration, Duration)>,
            /// Drop every n-th datagram (FEC recovers these).
            pub drop_every: Option<usize>,
        }

        pub struct FakeHost {
            pub addr: SocketAddr,
            pub fingerprint: String,
            pub keyframe_requests: Arc<AtomicU64>,
            pub feedback: Arc<AtomicU64>,
            pub task: tokio::task::JoinHandle<()>,
        }

        fn host_now_us() -> u64 {
            WallClock::new().now_us() + HOST_OFFSET_US
        }

        async fn write(send: &mut quinn::SendStream, m: &Message) {
            let _ = send.write_all(&control::frame(&m.encode())).await;
        }

        pub async fn start(behaviour: Behaviour) -> FakeHost {
            let cert = rcgen::generate_simple_self_signed(vec!["punktfunk".to_string()]).unwrap();
            let der = cert.cert.der().clone();
            let fingerprint = tls::fingerprint_hex(der.as_ref());
            let key =
                rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
            let mut tls_config =
                rustls::ServerConfig::builder_with_provider(Arc::new(tls::aws_lc_rs_provider()))
                    .with_protocol_versions(&[&rustls::version::TLS13])
                    .unwrap()
                    .with_no_client_auth()
                    .with_single_cert(vec![der], key)
                    .unwrap();
            tls_config.alpn_protocols = vec![control::ALPN.to_vec()];
            let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls_config).unwrap();
            let server = quinn::ServerConfig::with_crypto(Arc::new(quic));
            let endpoint = quinn::Endpoint::server(server, "127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = endpoint.local_addr().unwrap();
            let keyframe_requests = Arc::new(AtomicU64::new(0));
            let feedback = Arc::new(AtomicU64::new(0));
            let (kf, fb) = (keyframe_requests.clone(), feedback.clone());
            let task = tokio::spawn(async move {
                let Some(incoming) = endpoint.accept().await else {
                    return;
                };
                let Ok(conn) = incoming.await else { return };
                serve(conn, behaviour, kf, fb).await;
                endpoint.wait_idle().await;
            });
            FakeHost {
                addr,
                fingerprint,
                keyframe_requests,
                feedback,
                task,
            }
        }

        async fn serve(
            conn: quinn::Connection,
            behaviour: Behaviour,
            kf: Arc<AtomicU64>,
            fb: Arc<AtomicU64>,
        ) {
            let Ok((mut send, mut recv)) = conn.accept_bi().await else {
                return;
            };
            let mut frames = FrameBuffer::new();
            let mut buf = vec![0u8; 4096];
            let mut hello = None;
            let stop = Arc::new(AtomicBool::new(false));
            let started = Arc::new(AtomicBool::new(false));
            let mut sender = None;
            while let Ok(Some(n)) = recv.read(&mut buf).await {
                frames.extend(&buf[..n]);
                while let Ok(Some(body)) = frames.next_body() {
                    let Ok(msg) = Message::decode(&body) else {
                        continue;
                    };
                    match msg {
                        Message::Hello(h) => {
                            if let Some(reason) = &behaviour.reject {
                                write(
                                    &mut send,
                                    &Message::Goodbye {
                                        reason: reason.clone(),
                                    },
                                )
                                .await;
                                let _ = send.finish();
                                tokio::time::sleep(Duration::from_millis(100)).await;
                                conn.close(1u32.into(), b"rejected");
                                return;
                            }
                            let session_id = 0x5eed_0001;
                            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                            let welcome = Welcome {
                                session_id,
                                codec: Codec::RawTest,
                                color_format: 0,
                                width: h.width,
                                height: h.height,
                                refresh_mhz: h.refresh_mhz,
                                bitrate_kbps: h.bitrate_kbps,
                                parity_percent: 20,
                                max_datagram: h.max_datagram,
                                data_port: socket.local_addr().unwrap().port(),
                            };
                            write(&mut send, &Message::Welcome(welcome)).await;
                            let mut secret = [0u8; EXPORTER_LEN];
                            conn.export_keying_material(
                                &mut secret,
                                EXPORTER_LABEL,
                                &session_id.to_le_bytes(),
                            )
                            .unwrap();
                            let keys = SessionKeys::derive(&secret, session_id).unwrap();
                            let (stop, started, b) =
                                (stop.clone(), started.clone(), behaviour.clone());
                            sender = Some(std::thread::spawn(move || {
                                send_frames(socket, keys, session_id, welcome, b, started, stop)
                            }));
                            hello = Some(h);
                        }
                        Message::Start => started.store(true, Ordering::SeqCst),
                        Message::ClockPing { client_send_us } => {
                            let t2 = host_now_us();
                            let pong = Message::ClockPong {
                                client_send_us,
                                host_recv_us: t2,
                                host_send_us: host_now_us(),
                            };
                            write(&mut send, &pong).await;
                        }
                        Message::KeyframeRequest { .. } => {
                            kf.fetch_add(1, Ordering::SeqCst);
                        }
                        Message::Feedback(_) => {
                            fb.fetch_add(1, Ordering::SeqCst);
                        }
                        Message::Goodbye { .. } => {
                            stop.store(true, Ordering::SeqCst);
                        }
                        _ => {}
                    }
                }
            }
            stop.store(true, Ordering::SeqCst);
            assert!(hello.is_some(), "client never said hello");
            if let Some(t) = sender {
                let _ = tokio::task::spawn_blocking(move || t.join()).await;
            }
        }

        fn send_frames(
            socket: UdpSocket,
            keys: SessionKeys,
            session_id: u32,
            w: Welcome,
            b: Behaviour,
            started: Arc<AtomicBool>,
            stop: Arc<AtomicBool>,
        ) {
            socket
                .set_read_timeout(Some(Duration::from_millis(10)))
                .unwrap();
            let mut opener = Opener::new(&keys.client_to_host, session_id).unwrap();
            let mut buf = vec![0u8; 2048];
            let mut client = None;
            while !(started.load(Ordering::SeqCst) && client.is_some()) {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok((n, from)) = socket.recv_from(&mut buf)
                    && let Ok((h, payload)) = opener.open(&mut buf[..n])
                {
                    assert_eq!(h.kind, StreamKind::Probe);
                    assert_eq!(payload, REGISTER_PAYLOAD);
                    client = Some(from);
                }
            }
            let Some(client) = client else { return };
            let mut config = PacketizerConfig::new(StreamKind::Video, session_id);
            config.max_datagram = usize::from(w.max_datagram);
            let mut tx = Packetizer::new(config, &keys.host_to_client).unwrap();
            let (mut batch, mut data) = (DatagramBatch::new(), Vec::new());
            let first = Instant::now();
            let interval = Duration::from_secs_f64(1000.0 / f64::from(w.refresh_mhz));
            let mut sent = 0usize;
            for i in 0u64.. {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let due = first + interval * i as u32;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                TestFrame {
                    keyframe: i == 0,
                    width: w.width as u16,
                    height: w.height as u16,
                    refresh_mhz: w.refresh_mhz,
                    frame_number: i,
                    capture_us: host_now_us(),
                    len: 10_000,
                }
                .build(&mut data);
                tx.packetize(
                    FrameInput {
                        data: &data,
                        pts_us: host_now_us(),
                        keyframe: i == 0,
                        recovery_point: false,
                    },
                    &mut batch,
                )
                .unwrap();
                let t = first.elapsed();
                for d in batch.iter() {
                    sent += 1;
                    let blackout = b.blackout.is_some_and(|(from, to)| t >= from && t < to);
                    let dropped = b.drop_every.is_some_and(|n| sent.is_multiple_of(n));
                    if !blackout && !dropped {
                        let _ = socket.send_to(d, client);
                    }
                }
            }
        }
    }

    fn options(host: &fake_host::FakeHost, duration: Duration) -> SessionOptions {
        SessionOptions::new(
            host.addr.to_string(),
            "640x360@60".parse().unwrap(),
            duration,
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn end_to_end_against_a_fake_host() {
        let host = fake_host::start(fake_host::Behaviour {
            blackout: Some((Duration::from_millis(700), Duration::from_millis(900))),
            drop_every: Some(7),
            ..Default::default()
        })
        .await;
        let mut opts = options(&host, Duration::from_millis(2500));
        opts.fingerprint = Some(host.fingerprint.to_uppercase());
        let report = run_session(opts).await.unwrap();
        host.task.await.unwrap();
        eprintln!("{}", report.text());
        assert_eq!(report.ended_early, None);
        assert_eq!(report.host_fingerprint, host.fingerprint);
        assert_eq!(report.integrity_failures, 0);
        assert!(report.frames_ok > 100, "{report:#?}");
        assert!(report.frames_recovered > 10, "{report:#?}");
        assert!((8..=16).contains(&report.frames_lost), "{report:#?}");
        assert!(report.keyframe_requests >= 1);
        assert_eq!(
            host.keyframe_requests
                .load(std::sync::atomic::Ordering::SeqCst),
            report.keyframe_requests
        );
        assert!(host.feedback.load(std::sync::atomic::Ordering::SeqCst) >= 15);
        let latency = report.latency_ms.unwrap();
        assert!(latency.p50 >= 0.0 && latency.p99 < 100.0, "{latency:?}");
        let clock = report.clock.unwrap();
        assert!(
            (clock.offset_us - fake_host::HOST_OFFSET_US as i64).abs() < 20_000,
            "{clock:?}"
        );
        // Loss stopped ~900 ms after the first frame; the stream is whole again well within 500 ms.
        let first_ms = report.first_datagram_ms.unwrap();
        let stop = Duration::from_secs_f64((900.0 + first_ms) / 1000.0);
        let back = report.whole_again_after(stop).unwrap();
        assert!(back < Duration::from_millis(500), "{back:?}");
        assert_eq!(
            report
                .lost_frames_per_100ms
                .iter()
                .map(|n| u64::from(*n))
                .sum::<u64>(),
            report.frames_lost
        );
        let json = serde_json::to_value(&report).unwrap();
        assert!(json["latency_ms"]["p95"].is_number());
        assert_eq!(json["rejects"]["bad_tag"], 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fingerprint_mismatch_is_an_error_with_both_values() {
        let host = fake_host::start(fake_host::Behaviour::default()).await;
        let mut opts = options(&host, Duration::from_millis(200));
        opts.fingerprint = Some("00".repeat(32));
        let err = run_session(opts).await.unwrap_err();
        assert_eq!(err.exit_code(), 2);
        match &err {
            SessionError::FingerprintMismatch { expected, got } => {
                assert_eq!(*expected, "00".repeat(32));
                assert_eq!(*got, host.fingerprint);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("host certificate fingerprint mismatch: expected 0000")
        );
        host.task.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn goodbye_instead_of_welcome_is_a_rejection() {
        let host = fake_host::start(fake_host::Behaviour {
            reject: Some("busy".into()),
            ..Default::default()
        })
        .await;
        let seen = Arc::new(std::sync::Mutex::new(None));
        let mut opts = options(&host, Duration::from_millis(200));
        let s = seen.clone();
        opts.on_host_fingerprint = Some(Arc::new(move |fp: &str| {
            *s.lock().unwrap() = Some(fp.to_string());
        }));
        let err = run_session(opts).await.unwrap_err();
        assert!(
            matches!(&err, SessionError::Rejected(r) if r == "busy"),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 1);
        assert_eq!(
            seen.lock().unwrap().as_deref(),
            Some(host.fingerprint.as_str())
        );
        host.task.await.unwrap();
    }
}
