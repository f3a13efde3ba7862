//! RTSP on TCP base+21: one request per connection (the client reads until the host closes), plain
//! or inside the `rtspenc` envelope, answered only while a launched session exists. OPTIONS,
//! DESCRIBE (what the host honours), SETUP ×3 (ports and session-matching tokens), ANNOUNCE (the
//! client's stream parameters: the display is created and the encoder opened here, so a failure is
//! the ANNOUNCE's answer), PLAY (the senders start).

use super::stream_params::{Announced, LaunchRequest, bitrate_kbps, is_launching_client};
use super::stream_session::Session;
use super::streaming::Streaming;
use crate::platform::vdisplay::Mode;
use crate::stream::VideoSource;
use anyhow::Result;
use punktfunk_core::gamestream::rtsp::{
    self, Method, Progress, RtspRequest, RtspResponse, StreamKind,
};
use punktfunk_core::gamestream::sdp::{ENC_AUDIO, ENC_VIDEO, StreamParams, VideoCodec};
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Time a client gets to send its one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// RTSP connections handled at once, in total and from one address: a client's handshake is
/// sequential (one at a time), so more is someone else — who must not take every slot.
const MAX_CONNECTIONS: usize = 16;
const MAX_CONNECTIONS_PER_ADDRESS: usize = 4;

pub async fn run(
    listener: TcpListener,
    streaming: Arc<Streaming>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let limiter = crate::services::per_ip::ConnectionLimiter::new(
        MAX_CONNECTIONS,
        MAX_CONNECTIONS_PER_ADDRESS,
    );
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|&s| s) => break,
            a = listener.accept() => a,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!("RTSP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(slot) = limiter.admit(peer, "RTSP") else {
            continue;
        };
        let streaming = streaming.clone();
        connections.spawn(async move {
            let _slot = slot;
            if let Err(e) = serve(stream, &streaming).await {
                tracing::debug!(%peer, "RTSP connection: {e:#}");
            }
        });
    }
    connections.shutdown().await;
    Ok(())
}

/// Reads one request (plain or encrypted, told apart by the envelope's high bit), answers, closes.
async fn serve(mut stream: TcpStream, streaming: &Streaming) -> Result<()> {
    let peer = stream.peer_addr()?;
    let _ = stream.set_nodelay(true);
    let Some(session) = streaming.current().filter(|s| !s.ended()) else {
        // No launch pending: nothing to set up. Closing tells the client as clearly as an answer.
        anyhow::bail!("RTSP request without a launched session");
    };
    // The SETUP replies carry the session's ping payload and connect data, and an ANNOUNCE decides
    // its encryption: only the client that launched may ask. Closing without an answer tells a
    // stranger nothing, not even that a launch is pending.
    if !is_launching_client(&session.request, peer.ip()) {
        anyhow::bail!(
            "RTSP from {} refused: session {} was launched by {}",
            peer.ip(),
            session.id,
            session.request.client_ip
        );
    }
    let mut buf = Vec::with_capacity(2048);
    let request = tokio::time::timeout(REQUEST_TIMEOUT, async {
        loop {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            anyhow::ensure!(n > 0, "client closed before a complete request");
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            if let Some(parsed) = parse(&buf, &session)? {
                return Ok(parsed);
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("no complete RTSP request within 10 s"))??;
    let (encrypted, request) = request;
    tracing::debug!(method = request.method.as_str(), target = %request.target, encrypted, "RTSP request");
    let response = respond(&request, &session, streaming, peer).await;
    let mut bytes = response.to_bytes()?;
    if encrypted {
        bytes = session
            .rtsp_cipher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seal(&bytes)?;
    }
    stream.write_all(&bytes).await?;
    stream.shutdown().await?;
    Ok(())
}

/// `Some((encrypted, request))` once a whole request is in `buf`.
fn parse(buf: &[u8], session: &Session) -> Result<Option<(bool, RtspRequest)>> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first & 0x80 != 0 {
        anyhow::ensure!(
            session.request.encrypted_rtsp,
            "encrypted RTSP from a client that launched with plain RTSP"
        );
        let cipher = session
            .rtsp_cipher
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        return Ok(match rtsp::parse_encrypted_request(buf, &cipher)? {
            Progress::NeedMore => None,
            Progress::Complete((_, request, _)) => Some((true, request)),
        });
    }
    anyhow::ensure!(
        !session.request.encrypted_rtsp,
        "plain RTSP from a client that launched with rtspenc"
    );
    Ok(match rtsp::parse_request(buf)? {
        Progress::NeedMore => None,
        Progress::Complete((request, _)) => Some((false, request)),
    })
}

async fn respond(
    request: &RtspRequest,
    session: &Arc<Session>,
    streaming: &Streaming,
    peer: SocketAddr,
) -> RtspResponse {
    let cseq = request.cseq;
    match request.method {
        Method::Options => RtspResponse::ok(cseq),
        Method::Describe => {
            RtspResponse::ok(cseq).with_body(streaming.capabilities_for(session).describe_body())
        }
        Method::Setup => {
            let Some(kind) = request.stream() else {
                return RtspResponse::not_found(cseq);
            };
            let port = match kind {
                StreamKind::Audio => streaming.audio_port,
                StreamKind::Video => streaming.video_port,
                StreamKind::Control => streaming.control_port,
            };
            rtsp::setup_response(
                cseq,
                kind,
                port,
                session.ping_payload_str(),
                session.connect_data,
            )
        }
        Method::Announce => announce(request, session, streaming, peer).await,
        // Out of order (or from a confused client): refused without ending the session, so a
        // stray PLAY cannot cut the stream the real client is still setting up.
        Method::Play if session.announced().is_none() => {
            RtspResponse::new(455, "Method Not Valid In This State", cseq)
        }
        Method::Play => match streaming.play(session) {
            Ok(()) => RtspResponse::ok(cseq),
            Err(e) => {
                tracing::warn!(session = %session.id, "PLAY failed: {e:#}");
                session.end(&format!("could not start streaming: {e:#}"));
                RtspResponse::new(500, "Internal Server Error", cseq)
            }
        },
        _ => RtspResponse::new(501, "Not Implemented", cseq),
    }
}

async fn announce(
    request: &RtspRequest,
    session: &Arc<Session>,
    streaming: &Streaming,
    peer: SocketAddr,
) -> RtspResponse {
    let cseq = request.cseq;
    // One ANNOUNCE per session, claimed before the slow part: two arriving together must not both
    // create a display and an encoder.
    let Some(claim) = session.claim_announce() else {
        return RtspResponse::new(455, "Method Not Valid In This State", cseq);
    };
    let params = match StreamParams::from_announce(&request.body) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(session = %session.id, "bad ANNOUNCE: {e}");
            return RtspResponse::bad_request(cseq);
        }
    };
    if let Err(e) = streaming
        .capabilities_for(session)
        .check(&params)
        .map_err(|e| e.to_string())
        .and_then(|()| refuse_downgrade(&session.request, &params))
    {
        tracing::warn!(session = %session.id, "ANNOUNCE refused: {e}");
        return RtspResponse::new(403, "Forbidden", cseq);
    }
    let launched = &session.request;
    // The display follows the launch's mode; the ANNOUNCE's viewport is the same in every client
    // seen, but the encoder must match what is captured, so the launch mode wins.
    let mode = Mode {
        width: launched.width,
        height: launched.height,
        refresh_mhz: launched.fps.saturating_mul(1000),
    };
    let codec = match params.codec {
        VideoCodec::H264 => punktfunk_media::VideoCodec::H264,
        VideoCodec::Hevc => punktfunk_media::VideoCodec::Hevc,
        VideoCodec::Av1 => punktfunk_media::VideoCodec::Av1,
    };
    // What the ANNOUNCE asked for (checked against what `/serverinfo` offered): Main10
    // (`dynamicRangeMode` 1), 4:4:4 (`chromaSamplingType` 1) or both. The desktop is captured 8-bit
    // SDR, so a 10-bit stream stays BT.709 and the control stream tells Moonlight HDR is off.
    let chroma = match (params.hdr, params.yuv444) {
        (true, true) => punktfunk_media::ChromaFormat::Yuv444TenBit,
        (true, false) => punktfunk_media::ChromaFormat::Yuv420TenBit,
        (false, true) => punktfunk_media::ChromaFormat::Yuv444,
        (false, false) => punktfunk_media::ChromaFormat::Yuv420,
    };
    tracing::info!(
        session = %session.id, ?codec, ?chroma,
        "colour format: what the client's ANNOUNCE asked for"
    );
    let kbps = bitrate_kbps(&params);
    let hdr = params.hdr;
    let displays = streaming.host.displays.clone();
    let label = launched.client_name.clone();
    // A resumed stream captures the display its app is already running on, with a fresh encoder.
    let resumed = session.take_resumed_source();
    let opened = tokio::task::spawn_blocking(move || -> Result<VideoSource> {
        if let Some(mut source) = resumed {
            source.restart_encoder(codec, kbps)?;
            return Ok(source);
        }
        match displays {
            Some(backend) => {
                VideoSource::display(backend.as_ref(), codec, chroma, hdr, mode, kbps, &label)
            }
            // `serve --source virtual`: no compositor, the encoded test pattern.
            None => VideoSource::pattern(
                codec,
                chroma,
                hdr,
                mode.width,
                mode.height,
                mode.refresh_mhz,
                kbps,
            ),
        }
    })
    .await;
    let source = match opened {
        Ok(Ok(source)) => {
            claim.keep();
            source
        }
        Ok(Err(e)) => {
            tracing::warn!(session = %session.id, "opening the display and encoder failed: {e:#}");
            session.end(&format!("capture/encode did not start: {e:#}"));
            return RtspResponse::new(503, "Service Unavailable", cseq);
        }
        Err(e) => {
            session.end(&format!("capture/encode did not start: {e}"));
            return RtspResponse::new(503, "Service Unavailable", cseq);
        }
    };
    tracing::info!(
        session = %session.id, source = %source.describe(), codec = ?params.codec,
        packet_size = params.packet_size, encryption = params.encryption, bitrate_kbps = kbps,
        "GameStream stream announced"
    );
    let host_header = request.header("Host").map(str::to_string);
    session.announce(
        &streaming.host,
        Announced {
            params,
            host_header,
            hdr: source.hdr(),
        },
        source,
        peer,
        streaming.pad_feedback(session.connect_data),
    );
    RtspResponse::ok(cseq)
}

/// A client that launched with encrypted RTSP (moonlight-common-c with `corever` ≥ 1) also
/// encrypts video and audio when the host asks, which it always does: an ANNOUNCE from it that
/// turns either off did not come from that client's own negotiation, so it is refused.
fn refuse_downgrade(launch: &LaunchRequest, params: &StreamParams) -> Result<(), String> {
    let wanted = ENC_VIDEO | ENC_AUDIO;
    if launch.encrypted_rtsp && params.encryption & wanted != wanted {
        return Err(format!(
            "a client that launched with encrypted RTSP asked for encryption {:#x} (video and audio \
             are required: {wanted:#x})",
            params.encryption
        ));
    }
    Ok(())
}
