//! Video on UDP base+9: wait for the client's ping to learn where to send, then stream the session's
//! source through the shared frame pipeline (`stream::pipeline`) with the GameStream
//! [`VideoFramer`](super::video_framer::VideoFramer). The source (and with it the client's display)
//! goes back to the session when the stream ends, which releases or parks it.

use super::stream_params::{Announced, FEC_PERCENT, bitrate_kbps, is_launching_client};
use super::stream_session::Session;
use super::video_framer::VideoFramer;
use crate::stream::{DatagramOutput, PacedSender, VideoSource};
use anyhow::{Context, Result};
use punktfunk_core::gamestream::sdp::ENC_VIDEO;
use punktfunk_core::gamestream::video::{Ping, VideoConfig, VideoPacketizer};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the client has to send its first ping after PLAY.
const PING_WAIT: Duration = Duration::from_secs(10);

pub fn spawn(
    session: Arc<Session>,
    socket: UdpSocket,
    announced: Arc<Announced>,
    mut source: VideoSource,
) -> Result<JoinHandle<Option<VideoSource>>> {
    std::thread::Builder::new()
        .name("gs-video".into())
        .spawn(move || {
            if let Err(e) = run(&session, socket, &announced, &mut source) {
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
    socket: UdpSocket,
    announced: &Announced,
    source: &mut VideoSource,
) -> Result<()> {
    let params = &announced.params;
    let Some(client) = wait_for_ping(&socket, session, PING_WAIT)? else {
        if !session.stop.load(Ordering::Relaxed) {
            session.end("no video ping from the client within 10 s");
        }
        return Ok(());
    };
    // Pings keep coming every 500 ms; only the first mattered. Later ones wait in the socket's
    // receive buffer until the kernel drops them (the next session drains it at PLAY).
    let encrypt = params.encryption & ENC_VIDEO != 0;
    let packetizer = VideoPacketizer::new(&VideoConfig {
        packet_size: params.packet_size as usize,
        fec_percent: FEC_PERCENT,
        min_required_fec_packets: usize::from(params.min_required_fec_packets),
        encryption_key: encrypt.then_some(session.request.rikey),
    })?;
    let bitrate = bitrate_kbps(params);
    session.video.bitrate_kbps.store(bitrate, Ordering::Relaxed);
    tracing::info!(
        session = %session.id, %client, source = %source.describe(), encrypt, bitrate_kbps = bitrate,
        "GameStream video starts"
    );
    let sender = PacedSender::new(Arc::new(socket)).context("the video socket")?;
    let mut framer = VideoFramer::new(packetizer, client);
    crate::stream::pipeline::run(
        source,
        &mut DatagramOutput::new(&mut framer, &sender),
        &session.video,
        &session.stop,
    )?;
    Ok(())
}
