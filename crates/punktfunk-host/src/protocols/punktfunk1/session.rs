//! One client's punktfunk/1 session: handshake on the control stream, then feedback-driven FEC and
//! bitrate, keyframe requests and clock pings until the client leaves or goes silent — and the game
//! library: the client may list the host's titles and launch one onto its own display (so may the
//! operator, through the management API); the title is stopped when the session ends.

use super::control_stream::{ControlReader, send};
use super::data_plane::{DataPlane, SessionControl};
use super::feedback_stats::*;
use super::library_messages::*;
use super::operator_controls::*;
use super::trust::{Authorized, authorize_client};
use super::{ListenerConfig, SessionCounter};
use crate::platform::vdisplay::VirtualDisplay;
use crate::protocols::punktfunk1::session_audio::SessionAudio;
use crate::services::clock::now_us;
use crate::services::sessions::{SessionInfo, SessionState, SessionStats};
use crate::services::settings::Settings;
use crate::services::stream_limits::StreamRequest;
use crate::shared::apps::{AppEvent, SessionApp};
use crate::shared::host_context::HostContext;
use crate::stream::VideoSource;
use anyhow::{Context, Result, bail};
use punktfunk_core::abr::{BitrateConfig, BitrateController, FecPolicy, recommend_parity};
use punktfunk_core::control::{
    Codec, EXPORTER_LABEL, EXPORTER_LEN, Hello, Message, Welcome, caps, color,
};
use punktfunk_core::crypto::SessionKeys;
use punktfunk_core::packetize::{FecConfig, LossStats, MTU_1500_DATAGRAM};
use punktfunk_core::pairing::fingerprint_hex;
use punktfunk_core::wire::StreamKind;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub(super) struct Shared {
    pub data: Arc<DataPlane>,
    pub data_port: u16,
    pub config: ListenerConfig,
    pub sessions: Arc<SessionCounter>,
    /// Identity, trust stores, the session registry and the compositor backend (`--source display`).
    pub host: Arc<HostContext>,
}

impl Shared {
    /// The session's source for `hello` (its own display, or the test sources), opened off the
    /// async runtime; the inner `Err` is why none opened.
    pub(super) async fn open_source(
        &self,
        hello: &Hello,
    ) -> Result<std::result::Result<(Codec, u8, VideoSource), String>> {
        let displays = match self.config.source {
            super::SourceKind::Display => self.host.displays.clone(),
            super::SourceKind::Virtual => None,
        };
        let hello = hello.clone();
        Ok(tokio::task::spawn_blocking(move || open_source(displays.as_deref(), &hello)).await?)
    }
}

/// Time a client gets for the QUIC (TLS) handshake.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Counts a session for as long as it lives.
pub(super) struct SessionSlot(Arc<SessionCounter>);

impl SessionSlot {
    pub(super) fn claim(counter: &Arc<SessionCounter>, max: usize) -> Option<SessionSlot> {
        counter
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|n| {
                announce_sessions(n + 1);
                SessionSlot(counter.clone())
            })
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let left = self.0.0.fetch_sub(1, Ordering::SeqCst) - 1;
        tracing::info!(sessions = left, "session closed");
        announce_sessions(left);
    }
}

/// Machine-readable session count on stdout (next to the READY line) for scripts and tests.
fn announce_sessions(count: usize) {
    crate::services::status_line::status_line!("SESSIONS {count}");
}

async fn refuse(
    mut send_stream: quinn::SendStream,
    conn: &quinn::Connection,
    reason: String,
) -> Result<()> {
    tracing::info!(remote = %conn.remote_address(), %reason, "refusing session");
    let _ = send(
        &mut send_stream,
        &Message::Goodbye {
            reason: reason.clone(),
        },
    )
    .await;
    let _ = send_stream.finish();
    // Give the goodbye a moment to arrive before the close overtakes it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    conn.close(1u32.into(), reason.as_bytes());
    bail!(reason)
}

/// What a Hello may ask for; anything outside is refused with the reason. The mode and bitrate
/// go through the host's stream limits (the same check GameStream's launch makes).
pub(super) fn check_hello(h: &Hello, settings: &Settings) -> std::result::Result<(), String> {
    let request = StreamRequest {
        width: h.width,
        height: h.height,
        refresh_mhz: h.refresh_mhz,
        bitrate_kbps: h.bitrate_kbps,
    };
    settings
        .stream_limits()
        .check(&request)
        .map_err(|e| e.to_string())?;
    if !(512..=65_507).contains(&h.max_datagram) {
        return Err(format!(
            "max datagram {} outside 512..=65507",
            h.max_datagram
        ));
    }
    if h.codecs.is_empty() {
        return Err("the client offered no codec this host knows".into());
    }
    Ok(())
}

/// Opens the session's source for the first codec in the client's preference order that this host
/// can produce. With a display backend: the client's own display, captured and encoded. Otherwise
/// raw test frames, or the test pattern through an encoder. Blocking (compositor IPC, encoder
/// probing): call it off the async runtime.
pub(super) fn open_source(
    displays: Option<&dyn VirtualDisplay>,
    hello: &Hello,
) -> std::result::Result<(Codec, u8, VideoSource), String> {
    let mut tried = Vec::new();
    for &codec in &hello.codecs {
        let media = match codec {
            Codec::RawTest if displays.is_some() => {
                tried.push("RawTest: this host streams its displays; raw test frames need --source virtual".into());
                continue;
            }
            Codec::RawTest => {
                let source = VideoSource::test_frames(hello.width, hello.height, hello.refresh_mhz);
                return Ok((codec, color::format::YUV420_8, source));
            }
            Codec::H264 => punktfunk_media::VideoCodec::H264,
            Codec::Hevc => punktfunk_media::VideoCodec::Hevc,
            Codec::Av1 => punktfunk_media::VideoCodec::Av1,
        };
        for choice in color::candidates(codec, hello.caps) {
            let chroma = match choice.format {
                color::format::YUV444_10 => punktfunk_media::ChromaFormat::Yuv444TenBit,
                color::format::YUV444_8 => punktfunk_media::ChromaFormat::Yuv444,
                color::format::YUV420_10 => punktfunk_media::ChromaFormat::Yuv420TenBit,
                _ => punktfunk_media::ChromaFormat::Yuv420,
            };
            match open_video(displays, hello, media, chroma) {
                Ok(source) => {
                    tracing::info!(
                        codec = ?codec, colour = ?chroma, encoder = %source.describe(),
                        "colour format: {}", choice.reason
                    );
                    return Ok((codec, choice.format, source));
                }
                Err(e) => tried.push(format!("{codec:?} {chroma:?}: {e:#}")),
            }
        }
    }
    Err(format!("no common codec ({})", tried.join("; ")))
}

/// The client's display (or, without one, the encoded test pattern) with a `media` encoder in
/// `chroma`.
fn open_video(
    displays: Option<&dyn VirtualDisplay>,
    hello: &Hello,
    media: punktfunk_media::VideoCodec,
    chroma: punktfunk_media::ChromaFormat,
) -> Result<VideoSource> {
    let (w, h, hz, kbps) = (
        hello.width,
        hello.height,
        hello.refresh_mhz,
        hello.bitrate_kbps,
    );
    let client_hdr = hello.caps & caps::HDR != 0;
    match displays {
        Some(backend) => {
            let mode = crate::platform::vdisplay::Mode {
                width: w,
                height: h,
                refresh_mhz: hz,
            };
            VideoSource::display(
                backend,
                media,
                chroma,
                client_hdr,
                mode,
                kbps,
                &hello.client_name,
            )
        }
        None => VideoSource::pattern(media, chroma, client_hdr, w, h, hz, kbps),
    }
}

pub(super) async fn serve_connection(incoming: quinn::Incoming, shared: Arc<Shared>) -> Result<()> {
    // quinn's idle timeout (10 s) would end a stalled handshake too; a half-open attempt holds a
    // connection slot, so it gets less.
    let connecting = incoming.accept().context("QUIC handshake")?;
    let conn = tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "QUIC handshake not done within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            )
        })?
        .context("QUIC handshake")?;
    let remote = conn.remote_address();
    let (mut tx, rx) = tokio::time::timeout(Duration::from_secs(5), conn.accept_bi())
        .await
        .context("client opened no control stream within 5 s")??;
    let mut reader = ControlReader::new(rx);
    let hello = match authorize_client(&conn, &mut tx, &mut reader, &shared.host).await {
        Authorized::Session(hello) => hello,
        Authorized::Paired => return Ok(()),
        Authorized::Refused(reason) => return refuse(tx, &conn, reason).await,
    };
    if let Err(reason) = check_hello(&hello, &shared.host.settings.get()) {
        return refuse(tx, &conn, reason).await;
    }
    let Some(_slot) = SessionSlot::claim(&shared.sessions, shared.config.max_sessions) else {
        let reason = format!(
            "host is at its session limit ({})",
            shared.config.max_sessions
        );
        return refuse(tx, &conn, reason).await;
    };

    let (codec, color_format, source) = match shared.open_source(&hello).await? {
        Ok(opened) => opened,
        Err(reason) => return refuse(tx, &conn, reason).await,
    };
    tracing::info!(codec = ?codec, source = %source.describe(), "session source");
    let hdr = source.hdr();
    let display_info = source.display_info();
    // Connecting a sink is one local round trip (Wayland) or D-Bus call: short enough to do here.
    let input_sink = source.input_sink();

    let session_id = new_session_id();
    let mut secret = [0u8; EXPORTER_LEN];
    conn.export_keying_material(&mut secret, EXPORTER_LABEL, &session_id.to_le_bytes())
        .map_err(|_| anyhow::anyhow!("TLS exporter unavailable"))?;
    let keys = SessionKeys::derive(&secret, session_id)?;
    let audio_keys = SessionKeys::derive_stream(&secret, session_id, StreamKind::Audio)?;
    let (hello_for_audio, audio_name) = (hello.clone(), format!("{session_id:08x}"));
    let mut audio =
        tokio::task::spawn_blocking(move || SessionAudio::open(&hello_for_audio, &audio_name))
            .await?;
    let parity = FecConfig::default().parity_percent;
    let max_datagram = hello.max_datagram.min(MTU_1500_DATAGRAM as u16).max(512);
    let welcome = Welcome {
        parity_percent: parity,
        max_datagram,
        data_port: shared.data_port,
        audio_channels: audio.channels(),
        mic_channels: audio.mic_channels(),
        ..welcome(&hello, session_id, codec, color_format, hdr)
    };
    let control = SessionControl::new(hello.bitrate_kbps, parity);
    shared.data.register(session_id, &keys, control.clone())?;
    // From here on the registration must be undone however the session ends.
    let _registration = Registration {
        data: &shared.data,
        session_id,
    };
    send(&mut tx, &Message::Welcome(welcome)).await?;
    let sid = format!("{session_id:08x}");
    tracing::info!(
        session = %sid, %remote, client = %hello.client_name,
        mode = format!("{}x{}@{:.2}", hello.width, hello.height, f64::from(hello.refresh_mhz) / 1000.0),
        bitrate_kbps = hello.bitrate_kbps, sessions = shared.sessions.get(), "session opened"
    );
    // Titles launched onto this display get the display's environment and the session's audio sink.
    let display_info = display_info.map(|mut d| {
        d.env.extend(audio.app_env());
        d
    });
    let mut listed = list_session(
        &shared.host,
        SessionInfo {
            protocol: "punktfunk1".into(),
            client_id: super::trust::client_fingerprint(&conn).map(|f| fingerprint_hex(&f)),
            remote: remote.to_string(),
            stats: SessionStats {
                bitrate_kbps: hello.bitrate_kbps,
                fec_parity_percent: u32::from(parity),
                ..SessionStats::default()
            },
            ..session_info(&hello, &sid, codec, display_info)
        },
        &control,
    );
    if let Err(reason) = wait_for_start(&mut reader, &mut tx).await? {
        return refuse(tx, &conn, reason).await;
    }

    // From here on the sender thread (which owns the source, and with it the display) must stop
    // however this task ends: an error below, an early return, a panic.
    let sender = SenderGuard::new(
        control.clone(),
        shared.data.start_sender(
            session_id,
            &keys,
            source,
            usize::from(max_datagram),
            control.clone(),
        )?,
    );
    if let Err(e) = audio.start(&shared.data, session_id, &audio_keys, control.clone()) {
        tracing::warn!("session audio did not start: {e:#}");
    }
    let display_sink = match input_sink {
        Some(Ok(sink)) => Some(sink),
        Some(Err(e)) => {
            tracing::warn!("no input injection for this display: {e:#}");
            None
        }
        None => None,
    };
    let _input = super::input::start(conn.clone(), display_sink)?;
    let result = run_session(
        &mut reader,
        &mut tx,
        &control,
        &hello,
        shared.config.feedback_timeout,
        &mut listed,
        &shared.host,
        &sid,
    )
    .await;

    // Teardown: stop the launched title while its display still exists, then the sender, forget the
    // session's data-plane registration, close the connection.
    listed.stop_app().await;
    sender.stop().await;
    let _ = tokio::task::spawn_blocking(move || drop(audio)).await;
    let reason = match &result {
        Ok(reason) => reason.clone(),
        Err(e) => format!("{e:#}"),
    };
    listed.end(&mut tx, &reason).await;
    let _ = tx.finish();
    conn.close(0u32.into(), b"session over");
    tracing::info!(
        session = %sid, %reason, frames = control.video.frames_sent.load(Ordering::Relaxed),
        datagrams = control.video.datagrams_sent.load(Ordering::Relaxed), "session over"
    );
    Ok(())
}

/// A session's sender thread; dropping the guard tells the thread to stop. The thread owns the
/// session's frame source, so its exit is what releases the client's display — an early return or
/// a panic in the session task must not leave it streaming to nobody.
pub(super) struct SenderGuard {
    control: Arc<SessionControl>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SenderGuard {
    pub(super) fn new(control: Arc<SessionControl>, thread: std::thread::JoinHandle<()>) -> Self {
        SenderGuard {
            control,
            thread: Some(thread),
        }
    }

    /// Stops the thread and waits (off the async runtime) until it has released its source.
    pub(super) async fn stop(mut self) {
        self.control.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for SenderGuard {
    fn drop(&mut self) {
        // Not joined here (this may run on an async worker): the thread sees the flag within one
        // frame interval, ends, and drops its source on its own.
        self.control.stop.store(true, Ordering::Relaxed);
    }
}

/// Removes a session's data-plane registration when dropped.
struct Registration<'a> {
    data: &'a DataPlane,
    session_id: u32,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.data.end_session(self.session_id);
    }
}

pub(super) async fn answer_ping(
    tx: &mut (impl tokio::io::AsyncWrite + Unpin),
    client_send_us: u64,
) -> Result<()> {
    // The receive time is taken when the message is decoded; the send time just before writing.
    let host_recv_us = now_us();
    send(
        tx,
        &Message::ClockPong {
            client_send_us,
            host_recv_us,
            host_send_us: now_us(),
        },
    )
    .await
}

/// A random non-zero session id (0 means "none" on the wire).
pub(super) fn new_session_id() -> u32 {
    loop {
        let id: u32 = rand::random();
        if id != 0 {
            return id;
        }
    }
}

/// The Welcome for `hello`: the mode it asked for, the codec and colour format the host chose and
/// the source's colour description. Transport fields (parity, datagram size, data port, audio) are
/// empty; a datagram session fills them in.
pub(super) fn welcome(
    hello: &Hello,
    session_id: u32,
    codec: Codec,
    color_format: u8,
    hdr: Option<color::HdrMetadata>,
) -> Welcome {
    Welcome {
        session_id,
        codec,
        color_format,
        color: match hdr {
            Some(_) => color::ColorDescription::BT2020_PQ,
            None => color::ColorDescription::BT709,
        },
        hdr,
        width: hello.width,
        height: hello.height,
        refresh_mhz: hello.refresh_mhz,
        bitrate_kbps: hello.bitrate_kbps,
        parity_percent: 0,
        max_datagram: hello.max_datagram,
        data_port: 0,
        audio_channels: 0,
        mic_channels: 0,
    }
}

/// The session list's entry for a session from `hello`; the caller names the protocol, the client
/// and its address.
pub(super) fn session_info(
    hello: &Hello,
    sid: &str,
    codec: Codec,
    display: Option<crate::services::session_info::DisplayInfo>,
) -> SessionInfo {
    SessionInfo {
        id: sid.to_string(),
        protocol: String::new(),
        client_name: hello.client_name.clone(),
        client_id: None,
        remote: String::new(),
        width: hello.width,
        height: hello.height,
        refresh_mhz: hello.refresh_mhz,
        codec: format!("{codec:?}"),
        started_unix: crate::services::paired::now_unix(),
        display,
        stats: SessionStats {
            bitrate_kbps: hello.bitrate_kbps,
            ..SessionStats::default()
        },
        state: SessionState::Streaming,
        app: None,
        app_name: None,
    }
}

/// A session in the host's session list, with what the operator may do to it: its title runner
/// (titles go onto its display and end with it), and where a stop and the title's events arrive.
pub(super) struct ListedSession {
    pub(super) guard: crate::services::sessions::SessionGuard,
    pub(super) app: Arc<SessionApp>,
    pub(super) app_events: tokio::sync::mpsc::UnboundedReceiver<AppEvent>,
    pub(super) stop: tokio::sync::watch::Receiver<Option<String>>,
    /// However the session ends, its title goes with it.
    _app_guard: AppGuard,
}

impl ListedSession {
    /// Records why the session ended and tells the client (who may be gone already).
    pub(super) async fn end(&self, tx: &mut (impl tokio::io::AsyncWrite + Unpin), reason: &str) {
        self.guard.set_end_reason(reason);
        let goodbye = Message::Goodbye {
            reason: reason.to_string(),
        };
        let _ = send(tx, &goodbye).await;
    }

    /// Stops the launched title while the display still exists.
    pub(super) async fn stop_app(&self) {
        let app = self.app.clone();
        let _ = tokio::task::spawn_blocking(move || app.stop_blocking("the session ended")).await;
    }
}

/// Lists `info` with the host, with operator controls over `control` and a title runner on the
/// session's display.
pub(super) fn list_session(
    host: &HostContext,
    info: SessionInfo,
    control: &Arc<SessionControl>,
) -> ListedSession {
    let (stop_tx, stop) = tokio::sync::watch::channel(None);
    let (app_tx, app_events) = tokio::sync::mpsc::unbounded_channel();
    let app = Arc::new(SessionApp::new(
        info.display.as_ref().map(|d| d.env.clone()),
        info.display.as_ref().map(|d| d.output.clone()),
        app_notify(host.sessions.clone(), info.id.clone(), app_tx),
    ));
    let guard = host.sessions.register(
        info,
        Arc::new(OperatorControls {
            control: control.clone(),
            stop: stop_tx,
            app: app.clone(),
        }),
    );
    ListedSession {
        guard,
        _app_guard: AppGuard(app.clone()),
        app,
        app_events,
        stop,
    }
}

/// Waits up to 10 s for the client's Start, answering clock pings meanwhile; the inner `Err` is
/// why the session cannot go on.
pub(super) async fn wait_for_start<R, W>(
    reader: &mut ControlReader<R>,
    tx: &mut W,
) -> Result<std::result::Result<(), String>>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, reader.next()).await {
            Ok(Ok(Some(Message::Start))) => return Ok(Ok(())),
            Ok(Ok(Some(Message::ClockPing { client_send_us }))) => {
                answer_ping(tx, client_send_us).await?
            }
            Ok(Ok(other)) => return Ok(Err(format!("expected Start, got {other:?}"))),
            Ok(Err(e)) => return Ok(Err(format!("bad Start: {e:#}"))),
            Err(_) => return Ok(Err("no Start within 10 s".into())),
        }
    }
}

/// Feedback history the FEC policy looks at (≈ 1 s of 100 ms reports).
const HISTORY: usize = 10;

/// Serves control messages until the client leaves; returns why the session ended.
#[allow(clippy::too_many_arguments)]
async fn run_session(
    reader: &mut ControlReader,
    tx: &mut quinn::SendStream,
    control: &SessionControl,
    hello: &Hello,
    feedback_timeout: Duration,
    listed: &mut ListedSession,
    host: &HostContext,
    session: &str,
) -> Result<String> {
    let ListedSession {
        stop,
        app: apps,
        app_events,
        ..
    } = listed;
    let policy = FecPolicy::default();
    let mut rate_control = BitrateController::new(BitrateConfig::for_client(hello.bitrate_kbps));
    let mut history: VecDeque<LossStats> = VecDeque::with_capacity(HISTORY);
    let mut last_feedback = Instant::now();
    let mut report = StatsReport::new(control);
    let mut art = ArtCache::default();
    loop {
        let remaining = feedback_timeout.saturating_sub(last_feedback.elapsed());
        let message = tokio::select! {
            next = tokio::time::timeout(remaining, reader.next()) => match next {
                Err(_) => {
                    return Ok(format!(
                        "no feedback for {} s",
                        feedback_timeout.as_secs_f64()
                    ));
                }
                Ok(Err(e)) => return Err(e),
                Ok(Ok(None)) => return Ok("client closed the control stream".into()),
                Ok(Ok(Some(m))) => m,
            },
            changed = stop.changed() => {
                let reason = changed.ok().and_then(|_| stop.borrow().clone());
                return Ok(reason.unwrap_or_else(|| "stopped by the host".into()));
            }
            Some(event) = app_events.recv() => {
                if let AppEvent::Ended { title_id, reason } = event {
                    send(tx, &Message::AppEnded { title_id, reason }).await?;
                }
                continue;
            }
        };
        match message {
            Message::Feedback(fb) => {
                last_feedback = Instant::now();
                if let Some(stats) = report.on_feedback(control, &fb) {
                    host.sessions.update_stats(session, stats);
                }
                if history.len() == HISTORY {
                    history.pop_front();
                }
                history.push_back(fb.loss);
                let block = largest_block_estimate(control, hello);
                let parity = recommend_parity(history.make_contiguous(), block, &policy);
                let old_rate = control.video.bitrate_kbps.load(Ordering::Relaxed);
                let rate = rate_control.on_feedback(&fb);
                let old_parity = control
                    .parity_percent
                    .swap(u32::from(parity), Ordering::Relaxed);
                control.video.bitrate_kbps.store(rate, Ordering::Relaxed);
                if old_parity != u32::from(parity) || old_rate != rate {
                    send(
                        tx,
                        &Message::RateUpdate {
                            bitrate_kbps: rate,
                            parity_percent: parity,
                        },
                    )
                    .await?;
                }
            }
            Message::KeyframeRequest { first_lost_frame } => {
                tracing::debug!(first_lost_frame, "keyframe requested");
                control
                    .video
                    .keyframe_requested
                    .store(true, Ordering::Relaxed);
            }
            Message::ClockPing { client_send_us } => answer_ping(tx, client_send_us).await?,
            Message::Goodbye { reason } => return Ok(format!("client said goodbye: {reason}")),
            Message::LibraryRequest { offset } => {
                let hidden = host.settings.get().library_hidden;
                let titles = crate::services::library::visible(&host.library.titles(), &hidden);
                send(tx, &library_page(&titles, offset)).await?;
            }
            Message::Launch { title_id } => send(tx, &launch_title(host, apps, &title_id)).await?,
            Message::ArtRequest { title_id, offset } => {
                send(tx, &art.chunk(host, title_id, offset).await).await?;
            }
            Message::EndApp => {
                if !apps.end("ended by the client") {
                    let reason = "no title is running".to_string();
                    let title_id = String::new();
                    send(tx, &Message::AppEnded { title_id, reason }).await?;
                }
            }
            other => tracing::debug!(?other, "ignoring unexpected control message"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::VideoSource;
    use crate::stream::encoder::TestFrames;
    use crate::stream::feed::{Next, PictureFeed, PictureFormat};
    use punktfunk_media::convert::YuvPicture;
    use std::sync::atomic::AtomicBool;

    /// Frame ticks that tell the test when the sender thread has dropped them (with the source).
    struct WatchedClock {
        dropped: Arc<AtomicBool>,
    }

    impl PictureFeed for WatchedClock {
        fn describe(&self) -> String {
            "watched clock".into()
        }
        fn next(
            &mut self,
            _: Duration,
            _: &PictureFormat,
            _: &mut dyn FnMut() -> YuvPicture,
        ) -> anyhow::Result<Next> {
            std::thread::sleep(Duration::from_millis(5));
            Ok(Next::Tick {
                presented_us: now_us(),
            })
        }
    }

    impl Drop for WatchedClock {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_panicking_session_task_still_stops_its_sender_and_releases_the_source() {
        let data = DataPlane::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let keys = SessionKeys::derive(&[7u8; EXPORTER_LEN], 42).unwrap();
        let control = SessionControl::new(1000, 10);
        data.register(42, &keys, control.clone()).unwrap();
        // A client address, so the frame loop really produces and sends frames.
        let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        *control.client_addr.lock().unwrap() = Some(sink.local_addr().unwrap());
        let dropped = Arc::new(AtomicBool::new(false));
        let source = VideoSource::from_parts(
            Box::new(WatchedClock {
                dropped: dropped.clone(),
            }),
            Box::new(TestFrames::new(64, 64, 60_000)),
            60_000,
        );
        let thread = data
            .start_sender(42, &keys, source, 1200, control.clone())
            .unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _sender = SenderGuard::new(control.clone(), thread);
            std::thread::sleep(Duration::from_millis(50));
            panic!("the session task fails mid-session");
        }));
        assert!(panicked.is_err());
        assert!(control.stop.load(Ordering::Relaxed));
        let deadline = Instant::now() + Duration::from_secs(2);
        while !dropped.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < deadline,
                "the sender thread kept its source"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(control.video.frames_sent.load(Ordering::Relaxed) > 0);
        data.end_session(42);
    }
}
