//! Video on UDP base+9: wait for the client's ping to learn where to send, then one loop per frame
//! interval — capture + encode (the session's [`FrameSource`]), packetize (core
//! `VideoPacketizer`: frame header with the real host processing latency, FEC, optional AES-GCM),
//! paced sends. The source (and with it the client's display) is dropped when the loop ends.

use super::stream::{Announced, Session, is_launching_client};
use crate::punktfunk1::data_plane::now_us;
use crate::source::FrameSource;
use crate::ticker::Ticker;
use anyhow::{Context, Result};
use punktfunk_core::gamestream::sdp::ENC_VIDEO;
use punktfunk_core::gamestream::video::{
    FrameType, Ping, VideoConfig, VideoFrame, VideoPacketizer, latency_units,
};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Parity as a share of each FEC block's data shards.
pub const FEC_PERCENT: u8 = 20;
/// How long the client has to send its first ping after PLAY.
const PING_WAIT: Duration = Duration::from_secs(10);
/// A frame's datagrams are spread over at most this share of the time left until the next frame.
const PACING_FRACTION: f64 = 0.5;
/// Pacing rate as a multiple of the stream's bitrate (bursts above the average are normal).
const PACING_BITRATE_MULTIPLE: f64 = 3.0;

pub fn spawn(
    session: Arc<Session>,
    socket: UdpSocket,
    announced: Arc<Announced>,
    mut source: Box<dyn FrameSource>,
) -> Result<JoinHandle<Option<Box<dyn FrameSource>>>> {
    std::thread::Builder::new()
        .name("gs-video".into())
        .spawn(move || {
            if let Err(e) = run(&session, &socket, &announced, source.as_mut()) {
                tracing::warn!(session = %session.id, "video sender: {e:#}");
                session.end(&format!("video stream failed: {e:#}"));
            }
            // Back to the session, which releases the display or parks it for a resume.
            Some(source)
        })
        .context("starting the video sender")
}

/// Waits for the launching client's ping on `socket`; returns its source address. `None` when the
/// session stops or `limit` passes first.
///
/// The ping says where to send the stream, so it must come from the address that launched, and
/// carry the session's `X-SS-Ping-Payload` (handed out in the SETUP reply, inside the encrypted
/// RTSP envelope for current clients). The payload-less legacy `PING` of clients that predate it is
/// taken from the launching address only. Anything else — a stranger's ping, a stale one from an
/// earlier session — is ignored, so nobody else can steer the stream to themselves.
pub fn wait_for_ping(
    socket: &UdpSocket,
    session: &Session,
    limit: Duration,
) -> Result<Option<SocketAddr>> {
    // The senders of the previous session left the (shared) socket non-blocking for draining.
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 64];
    while Instant::now() < deadline && !session.stop.load(Ordering::Relaxed) {
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let ping = Ping::parse(buf.get(..n).unwrap_or_default());
        match accept_ping(session, ping.as_ref(), from) {
            Ok(()) => return Ok(Some(from)),
            Err(why) => {
                tracing::debug!(session = %session.id, %from, len = n, "ping ignored: {why}")
            }
        }
    }
    Ok(None)
}

/// Whether a datagram from `from` that parsed as `ping` tells where this session's stream goes.
pub fn accept_ping(
    session: &Session,
    ping: Option<&Ping>,
    from: SocketAddr,
) -> Result<(), &'static str> {
    if !is_launching_client(&session.request, from.ip()) {
        return Err("not from the client that launched the session");
    }
    match ping {
        Some(ping @ Ping::Session { .. }) if ping.matches(&session.ping_payload) => Ok(()),
        Some(Ping::Session { .. }) => Err("another session's ping payload"),
        Some(Ping::Legacy) => Ok(()),
        None => Err("not a ping"),
    }
}

/// Reads and throws away whatever is queued on a stream socket: called at PLAY, before the client
/// is told to start pinging, so nothing that arrived earlier can be taken for its ping.
pub fn drain(socket: &UdpSocket) -> Result<usize> {
    socket.set_nonblocking(true)?;
    let mut buf = [0u8; 2048];
    let mut stale = 0;
    while socket.recv_from(&mut buf).is_ok() {
        stale += 1;
    }
    Ok(stale)
}

fn run(
    session: &Session,
    socket: &UdpSocket,
    announced: &Announced,
    source: &mut dyn FrameSource,
) -> Result<()> {
    let params = &announced.params;
    let Some(client) = wait_for_ping(socket, session, PING_WAIT)? else {
        if !session.stop.load(Ordering::Relaxed) {
            session.end("no video ping from the client within 10 s");
        }
        return Ok(());
    };
    // Pings keep coming every 500 ms; only the first mattered.
    socket.set_nonblocking(true)?;
    let encrypt = params.encryption & ENC_VIDEO != 0;
    let mut packetizer = VideoPacketizer::new(&VideoConfig {
        packet_size: params.packet_size as usize,
        fec_percent: FEC_PERCENT,
        min_required_fec_packets: usize::from(params.min_required_fec_packets),
        encryption_key: encrypt.then_some(session.request.rikey),
    })?;
    let bitrate = super::stream::bitrate_kbps(params);
    tracing::info!(
        session = %session.id, %client, source = %source.describe(), encrypt, bitrate_kbps = bitrate,
        "GameStream video starts"
    );
    let fps = params.fps.clamp(1, 1000);
    let interval = Duration::from_secs_f64(1.0 / f64::from(fps));
    let mut frame = Vec::new();
    let mut ticker = Ticker::new(interval, 4);
    let mut number = 0u64;
    let mut first_capture_us = None;
    let mut drain = [0u8; 64];
    let mut stages = Stages::default();
    while !session.stop.load(Ordering::Relaxed) {
        let next = ticker.wait();
        while socket.recv_from(&mut drain).is_ok() {}

        let t0 = Instant::now();
        let t0_us = now_us();
        let keyframe = session.keyframe.swap(false, Ordering::Relaxed);
        let keyframe = source.next_frame(number, t0_us, keyframe, bitrate, &mut frame)?;
        let capture_us = source.last_capture_us().unwrap_or(t0_us);
        let t1 = Instant::now();
        let base_us = *first_capture_us.get_or_insert(capture_us);
        // 90 kHz, relative to the first frame so it starts small and wraps late.
        let rtp_timestamp = (capture_us.saturating_sub(base_us) * 9 / 100) as u32;
        // Capture to "ready to send": what the client shows as host processing latency.
        let latency = Duration::from_micros(now_us().saturating_sub(capture_us));
        let host_latency = latency_units(latency);
        let datagrams = packetizer.packetize(&VideoFrame {
            data: &frame,
            frame_type: if keyframe {
                FrameType::Idr
            } else {
                FrameType::P
            },
            rtp_timestamp,
            host_latency,
        })?;
        let t2 = Instant::now();
        // Pacing must not eat into the next frame's time: at most part of what is left of this one.
        let budget = next
            .saturating_duration_since(Instant::now())
            .mul_f64(PACING_FRACTION);
        send_paced(socket, &datagrams, client, bitrate, budget)?;
        let t3 = Instant::now();
        session.frames_sent.fetch_add(1, Ordering::Relaxed);
        stages.add(t1 - t0, t2 - t1, t3 - t2, latency);
        number += 1;
    }
    stages.log(&session.id);
    Ok(())
}

/// Sends one frame's datagrams spread over a span proportional to their size (so a large IDR does
/// not hit the client's socket buffer as one burst), at most `budget`.
fn send_paced(
    socket: &UdpSocket,
    datagrams: &[Vec<u8>],
    to: SocketAddr,
    bitrate_kbps: u32,
    budget: Duration,
) -> Result<()> {
    let bytes: usize = datagrams.iter().map(Vec::len).sum();
    let rate = (f64::from(bitrate_kbps) * 1000.0 * PACING_BITRATE_MULTIPLE).max(20e6);
    let span = Duration::from_secs_f64(bytes as f64 * 8.0 / rate).min(budget);
    let start = Instant::now();
    let count = datagrams.len().max(1) as u32;
    for (i, datagram) in datagrams.iter().enumerate() {
        loop {
            match socket.send_to(datagram, to) {
                Ok(_) => break,
                // The socket is non-blocking (for draining pings): wait for buffer space.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) => return Err(e).context("sending video"),
            }
        }
        let due = start + span * (i as u32 + 1) / count;
        let now = Instant::now();
        if due > now + Duration::from_micros(500) {
            std::thread::sleep(due - now);
        }
    }
    Ok(())
}

/// Per-stage times, logged when the stream ends.
#[derive(Default)]
struct Stages {
    frames: u32,
    encode: Duration,
    packetize: Duration,
    send: Duration,
    latency: Duration,
}

impl Stages {
    fn add(&mut self, encode: Duration, packetize: Duration, send: Duration, latency: Duration) {
        self.frames += 1;
        self.encode += encode;
        self.packetize += packetize;
        self.send += send;
        self.latency += latency;
    }

    fn log(&self, session: &str) {
        let n = self.frames.max(1);
        tracing::info!(
            %session, frames = self.frames,
            capture_encode_ms = self.encode.as_secs_f64() * 1e3 / f64::from(n),
            packetize_ms = self.packetize.as_secs_f64() * 1e3 / f64::from(n),
            send_ms = self.send.as_secs_f64() * 1e3 / f64::from(n),
            host_latency_ms = self.latency.as_secs_f64() * 1e3 / f64::from(n),
            "GameStream video stages (mean per frame)"
        );
    }
}
