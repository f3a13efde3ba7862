//! What happens behind `/launch`, `/resume` and `/cancel`: one GameStream streaming session at a
//! time (GameStream has a single "current game" per host), from the launch through RTSP, the ENet
//! control stream and the video and audio senders to its end. nvhttp calls [`Streaming::launch`],
//! [`Streaming::cancel`] and [`Streaming::current_game`]; the RTSP server, the control thread and the
//! senders find the session through [`Streaming::current`].
//!
//! Whoever notices that the session is over (client cancel or disconnect, ping timeout, the app
//! exiting, the operator, a failing sender) calls [`Session::end`] with a reason; the session's
//! supervisor task then tells the client (termination message), stops the senders, releases the
//! display and stops the app — in that order, in one place.
//!
//! A client that goes away without quitting ([`Session::lose`]: its control stream disconnected or
//! fell silent) leaves its app running: the display, its audio sink and the app are [`Parked`],
//! `/serverinfo` keeps reporting the app as the current game, and `/resume` starts a new stream on
//! them ([`Streaming::resume`]) — Moonlight's "Resume". `/cancel` (Moonlight's "Quit"), the app
//! exiting, or the host stopping release them.

use super::apps::GameStreamApp;
use super::audio_sender;
use super::control_server::{ControlCommand, ControlServer};
use super::rtsp_server;
use super::video_sender;
use crate::platform::audio::AudioSource;
use crate::platform::inject::{Feedback, InjectCounts, InputEvent, InputSink, SessionInput};
use crate::services::sessions::{
    SessionControls, SessionGuard, SessionInfo, SessionState, SessionStats,
};
use crate::shared::apps::{AppOwner, RunningApp};
use crate::shared::host_context::HostContext;
use crate::stream::{StreamControl, VideoSource};
use anyhow::{Context, Result};
use punktfunk_core::gamestream::control::TERMINATION_GRACEFUL;
use punktfunk_core::gamestream::nvhttp;
use punktfunk_core::gamestream::rtsp::{Role, RtspCipher};
use punktfunk_core::gamestream::sdp::{
    CodecCaps, HostCapabilities, SS_FF_CONTROLLER_TOUCH, StreamParams,
};
use std::net::{IpAddr, UdpSocket};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Port offsets from the GameStream base (the HTTP port).
pub const VIDEO_OFFSET: u16 = 9;
pub const CONTROL_OFFSET: u16 = 10;
pub const AUDIO_OFFSET: u16 = 11;
pub const RTSP_OFFSET: u16 = 21;

/// A launch whose client never connects its control stream is given up after this.
const CONNECT_DEADLINE: Duration = Duration::from_secs(20);
/// How long `/cancel` waits for the session to be torn down before answering anyway.
const TEARDOWN_WAIT: Duration = Duration::from_secs(15);

/// What `/launch` carries that streaming needs.
#[derive(Clone, Debug)]
pub struct LaunchRequest {
    pub app: GameStreamApp,
    /// The paired-device id of the client certificate.
    pub client_id: Option<String>,
    pub client_name: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub rikey: [u8; 16],
    pub rikeyid: i32,
    /// `corever ≥ 1`: RTSP runs inside the `rtspenc` envelope.
    pub encrypted_rtsp: bool,
    /// The host address the HTTPS request arrived on (the RTSP URL points there).
    pub local_ip: IpAddr,
    /// The client that launched: only this address may speak RTSP for the session, connect its
    /// control stream or receive its video and audio (IPv4-mapped IPv6 already unwrapped).
    pub client_ip: IpAddr,
}

impl LaunchRequest {
    /// Picks what streaming needs out of an nvhttp `/launch`; `None` mode = 1280×720@60.
    pub fn from_nvhttp(
        app: GameStreamApp,
        request: &nvhttp::LaunchRequest,
        client_id: Option<String>,
        local_ip: IpAddr,
        client_ip: IpAddr,
    ) -> Self {
        let mode = request.mode.as_ref();
        LaunchRequest {
            app,
            client_id,
            client_name: request
                .common
                .unique_id
                .clone()
                .unwrap_or_else(|| "Moonlight".into()),
            width: mode.map_or(1280, |m| m.width),
            height: mode.map_or(720, |m| m.height),
            fps: mode.map_or(60, |m| m.fps),
            rikey: request.rikey,
            rikeyid: request.rikeyid,
            encrypted_rtsp: request.wants_encrypted_rtsp(),
            local_ip,
            client_ip: canonical_ip(client_ip),
        }
    }
}

/// `ip` with an IPv4-mapped IPv6 address turned into the IPv4 one: a dual-stack socket reports a
/// v4 client as `::ffff:a.b.c.d` on one port and as `a.b.c.d` on another.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `peer` is the client that launched `request`.
pub fn is_launching_client(request: &LaunchRequest, peer: IpAddr) -> bool {
    canonical_ip(peer) == request.client_ip
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{0} is already running; quit it first")]
    Busy(String),
    #[error("nothing is running that could be resumed")]
    NothingToResume,
    #[error("{0}")]
    Limit(#[from] crate::services::stream_limits::StreamLimitError),
    #[error("the launch key is unusable: {0}")]
    Cipher(String),
    #[error("{0} belongs to another client; quit it there or from the host's console")]
    NotYours(String),
}

impl LaunchError {
    /// The nvhttp status code for this refusal.
    pub fn status_code(&self) -> u16 {
        match self {
            LaunchError::Busy(_) | LaunchError::Limit(_) => 400,
            LaunchError::NotYours(_) => 403,
            LaunchError::NothingToResume => 503,
            LaunchError::Cipher(_) => 500,
        }
    }
}

/// The part of a session that exists only after the client's ANNOUNCE.
pub struct Announced {
    pub params: StreamParams,
    /// The ANNOUNCE's `Host` header (decides stereo quality).
    pub host_header: Option<String>,
}

/// What a stream leaves running when its client goes away without quitting, until the client
/// resumes or quits: the display with its capture, the audio sink the app plays into, and the app.
pub struct Parked {
    /// The launch that created all this (app, mode, client).
    request: LaunchRequest,
    /// Name of the audio sink (the app was started with it as `PULSE_SINK`).
    audio_name: String,
    source: Option<VideoSource>,
    audio: Option<Box<dyn AudioSource>>,
    app: Option<RunningApp>,
    since: Instant,
    /// The session list's entry for the parked app (state `parked`; an operator may stop it).
    /// Dropped last, so the entry disappears once everything is released.
    listing: Option<SessionGuard>,
}

impl Parked {
    /// Says (log, stdout, the session list's end reason) that this is about to be dropped.
    fn announce_release(&self, why: &str) {
        if let Some(listing) = &self.listing {
            listing.set_end_reason(why);
        }
        tracing::info!(
            app = %self.request.app.title, parked_for = ?self.since.elapsed(), %why,
            "releasing the parked GameStream app and display"
        );
        crate::services::status_line::status_line!(
            "GAMESTREAM-PARKED released app={}",
            self.request.app.id
        );
    }

    /// Whether there is still something to resume: a display, and the app (if any) not exited.
    fn alive(&self) -> bool {
        self.source.is_some() && self.app.as_ref().is_none_or(|a| !a.exited())
    }
}

/// Releases parked resources off the async threads (display and app teardown block).
fn release_parked(parked: Parked, why: &str) {
    parked.announce_release(why);
    let _ = std::thread::Builder::new()
        .name("gs-unpark".into())
        .spawn(move || drop(parked));
}

/// Everything one session owns that must be released when it ends.
#[derive(Default)]
struct Owned {
    announced: Option<Arc<Announced>>,
    /// Opened at ANNOUNCE, taken by the video sender at PLAY.
    source: Option<VideoSource>,
    /// The senders hand their source back when they stop, for parking.
    video: Option<JoinHandle<Option<VideoSource>>>,
    audio: Option<JoinHandle<Option<Box<dyn AudioSource>>>>,
    app: Option<RunningApp>,
    /// Injects the client's input into its display and pads; ends when the session drops its
    /// sender.
    input: Option<JoinHandle<InjectTotals>>,
    listed: Option<SessionGuard>,
}

pub struct Session {
    pub id: String,
    pub request: LaunchRequest,
    /// `X-SS-Ping-Payload`: 16 ASCII characters the client's video and audio pings carry.
    pub ping_payload: [u8; 16],
    /// `X-SS-Connect-Data`: the ENet connect data that names this session.
    pub connect_data: u32,
    /// The host side of the `rtspenc` envelope; lives as long as the session so sequence numbers never
    /// repeat under the key.
    pub rtsp_cipher: Mutex<RtspCipher>,
    pub launched: Instant,
    pub stop: AtomicBool,
    /// Keyframe requests and what the video pipeline reports (the bitrate is the ANNOUNCE's).
    pub video: StreamControl,
    pub control_connected: AtomicBool,
    /// A control peer was admitted (once per session: see `control_server::admit`).
    pub control_claimed: AtomicBool,
    /// An ANNOUNCE is being handled or has succeeded (see [`Session::claim_announce`]).
    announcing: AtomicBool,
    /// Set by the supervisor when everything the session owned is released.
    torn_down: AtomicBool,
    /// The session ended because the client went away without quitting: park instead of release.
    client_lost: AtomicBool,
    /// Name of the session's audio sink; a resumed stream keeps the one its app plays into.
    pub audio_name: String,
    /// What `/resume` brought along, taken piece by piece as the new stream sets up.
    resumed: Mutex<Option<Parked>>,
    /// Events for the display's input sink (its thread injects them); `None` without a sink.
    input: Mutex<Option<SyncSender<InputEvent>>>,
    end: watch::Sender<Option<String>>,
    owned: Mutex<Owned>,
}

impl Session {
    /// A fresh session for `request` with random tokens, and where its end reason will appear.
    pub fn new(
        request: LaunchRequest,
    ) -> Result<(Arc<Session>, watch::Receiver<Option<String>>), LaunchError> {
        Self::with_parked(request, None)
    }

    /// A session that resumes `parked` (or a fresh one without).
    fn with_parked(
        request: LaunchRequest,
        parked: Option<Parked>,
    ) -> Result<(Arc<Session>, watch::Receiver<Option<String>>), LaunchError> {
        let ping: u64 = rand::random();
        let mut ping_payload = [0u8; 16];
        ping_payload.copy_from_slice(format!("{ping:016X}").as_bytes());
        let id: u32 = rand::random();
        let rtsp_cipher = RtspCipher::new(&request.rikey, Role::Host)
            .map_err(|e| LaunchError::Cipher(e.to_string()))?;
        let (end, end_rx) = watch::channel(None);
        let id = format!("{id:08x}");
        let audio_name = parked
            .as_ref()
            .map_or_else(|| audio_sender::sink_name(&id), |p| p.audio_name.clone());
        let session = Arc::new(Session {
            id,
            connect_data: rand::random(),
            ping_payload,
            rtsp_cipher: Mutex::new(rtsp_cipher),
            launched: Instant::now(),
            stop: AtomicBool::new(false),
            video: StreamControl::new(0),
            control_connected: AtomicBool::new(false),
            control_claimed: AtomicBool::new(false),
            announcing: AtomicBool::new(false),
            torn_down: AtomicBool::new(false),
            client_lost: AtomicBool::new(false),
            audio_name,
            resumed: Mutex::new(parked),
            input: Mutex::new(None),
            end,
            owned: Mutex::default(),
            request,
        });
        Ok((session, end_rx))
    }

    fn owned(&self) -> std::sync::MutexGuard<'_, Owned> {
        // Every field is replaced whole; a panic elsewhere cannot leave one half-written.
        self.owned.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks the supervisor to end the session and release everything; the first reason wins.
    pub fn end(&self, reason: &str) {
        self.end_as(reason, false);
    }

    /// Ends the stream because the client went away without quitting: its app and display stay,
    /// parked for a `/resume` (unless something else ended the session first).
    pub fn lose(&self, reason: &str) {
        self.end_as(reason, true);
    }

    fn end_as(&self, reason: &str, client_lost: bool) {
        self.stop.store(true, Ordering::Relaxed);
        self.end.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            tracing::info!(session = %self.id, %reason, client_lost, "GameStream session ending");
            self.client_lost.store(client_lost, Ordering::Relaxed);
            *current = Some(reason.to_string());
            true
        });
    }

    fn resumed(&self) -> std::sync::MutexGuard<'_, Option<Parked>> {
        self.resumed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The parked display of the stream this session resumes, if it is one (taken once, at ANNOUNCE).
    pub fn take_resumed_source(&self) -> Option<VideoSource> {
        self.resumed().as_mut().and_then(|p| p.source.take())
    }

    /// The parked audio sink of the stream this session resumes (taken once, by the audio sender).
    pub fn take_resumed_audio(&self) -> Option<Box<dyn AudioSource>> {
        self.resumed().as_mut().and_then(|p| p.audio.take())
    }

    /// Queues one of the client's input events for the display (dropped when the queue is full:
    /// a stalled compositor must not stall the control stream).
    pub fn send_input(&self, event: InputEvent) {
        if let Some(sender) = self
            .input
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            && sender.try_send(event).is_err()
        {
            tracing::debug!(session = %self.id, "input queue full; event dropped");
        }
    }

    /// Hands this session's input to the caller instead of an injector (tests of the control
    /// thread).
    #[cfg(test)]
    pub fn capture_input(&self) -> std::sync::mpsc::Receiver<InputEvent> {
        let (sender, events) = std::sync::mpsc::sync_channel(INPUT_QUEUE);
        *self.input.lock().unwrap_or_else(PoisonError::into_inner) = Some(sender);
        events
    }

    /// Claims the session's one ANNOUNCE; `None` while another is being handled or after one
    /// succeeded. Dropping the claim without [`AnnounceClaim::keep`] frees it for a retry.
    pub fn claim_announce(&self) -> Option<AnnounceClaim<'_>> {
        self.announcing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| AnnounceClaim {
                session: self,
                kept: false,
            })
    }

    pub fn ended(&self) -> bool {
        self.end.borrow().is_some()
    }

    pub fn ping_payload_str(&self) -> &str {
        // The payload is built from ASCII hex digits.
        std::str::from_utf8(&self.ping_payload).unwrap_or("0000000000000000")
    }

    pub fn announced(&self) -> Option<Arc<Announced>> {
        self.owned().announced.clone()
    }

    /// Stores the ANNOUNCE's parameters together with the opened source, registers the session with
    /// the host's session list and starts the app on the new display.
    pub fn announce(
        self: &Arc<Self>,
        host: &HostContext,
        announced: Announced,
        source: VideoSource,
        remote: std::net::SocketAddr,
        pad_feedback: impl FnMut(Feedback) + Send + 'static,
    ) {
        let display = source.display_info();
        let codec = format!("{:?}", announced.params.codec);
        let display_input = match source.input_sink() {
            Some(Ok(sink)) => Some(sink),
            Some(Err(e)) => {
                tracing::warn!(session = %self.id, "no input injection for this display: {e:#}");
                None
            }
            None => None,
        };
        // Gamepads need no display: the injector runs either way.
        let input = start_input(&self.id, display_input, pad_feedback)
            .map_err(|e| tracing::warn!(session = %self.id, "no input injection: {e:#}"))
            .ok();
        let mut owned = self.owned();
        if let Some((sender, thread)) = input {
            *self.input.lock().unwrap_or_else(PoisonError::into_inner) = Some(sender);
            owned.input = Some(thread);
        }
        let resumed_app = self.resumed().as_mut().and_then(|p| p.app.take());
        if let Some(app) = resumed_app {
            tracing::info!(session = %self.id, app = app.name(), "resuming the running app");
            let owner: Weak<Session> = Arc::downgrade(self);
            app.hand_to(owner);
            owned.app = Some(app);
        } else if let Some(app) = &self.request.app.config {
            let mut env = display.as_ref().map(|d| d.env.clone()).unwrap_or_default();
            // The audio sender creates this sink at PLAY, a moment after the app starts.
            let sink = self.audio_name.clone();
            env.insert("PULSE_SINK".into(), sink.clone());
            env.insert("PIPEWIRE_NODE".into(), sink);
            let owner: Weak<Session> = Arc::downgrade(self);
            match RunningApp::start(app, &env, owner) {
                Ok(running) => owned.app = Some(running),
                Err(e) => {
                    tracing::warn!(app = %app.name, "starting the app failed: {e:#}");
                    self.end(&format!("the app {} did not start: {e:#}", app.name));
                }
            }
        }
        let info = SessionInfo {
            id: self.id.clone(),
            protocol: "gamestream".into(),
            client_name: self.request.client_name.clone(),
            client_id: self.request.client_id.clone(),
            remote: remote.to_string(),
            width: announced.params.width,
            height: announced.params.height,
            refresh_mhz: announced.params.fps * 1000,
            codec,
            started_unix: crate::services::paired::now_unix(),
            display,
            stats: SessionStats {
                bitrate_kbps: bitrate_kbps(&announced.params),
                fec_parity_percent: u32::from(video_sender::FEC_PERCENT),
                ..SessionStats::default()
            },
            state: SessionState::Streaming,
            app: None,
        };
        // Machine-readable, next to READY and SESSIONS: tests follow a session's display by it.
        crate::services::status_line::status_line!(
            "GAMESTREAM-SESSION started id={} display={}",
            self.id,
            info.display.as_ref().map_or("-", |d| d.output.as_str())
        );
        owned.listed = Some(host.sessions.register(
            info,
            Arc::new(OperatorControls {
                session: Arc::downgrade(self),
            }),
        ));
        owned.source = Some(source);
        owned.announced = Some(Arc::new(announced));
    }

    /// PLAY: starts the video and audio senders (once).
    pub fn play(self: &Arc<Self>, streaming: &Streaming) -> Result<()> {
        let mut owned = self.owned();
        if owned.video.is_some() {
            return Ok(());
        }
        let announced = owned.announced.clone().context("PLAY before ANNOUNCE")?;
        let source = owned.source.take().context("PLAY without a source")?;
        // Anything queued now predates this PLAY's answer, which is what starts the client's pings.
        for socket in [&streaming.video_socket, &streaming.audio_socket] {
            let stale = video_sender::drain(socket)?;
            if stale > 0 {
                tracing::debug!(session = %self.id, stale, "stale datagrams dropped before PLAY");
            }
        }
        owned.video = Some(video_sender::spawn(
            self.clone(),
            streaming.video_socket.try_clone()?,
            announced.clone(),
            source,
        )?);
        owned.audio = Some(audio_sender::spawn(
            self.clone(),
            streaming.audio_socket.try_clone()?,
            announced,
        )?);
        Ok(())
    }

    /// The app is running the session's display right now (the nvhttp `currentgame`).
    fn app_id(&self) -> NonZeroU32 {
        self.request.app.id
    }
}

/// The right to handle a session's ANNOUNCE (see [`Session::claim_announce`]).
pub struct AnnounceClaim<'a> {
    session: &'a Session,
    kept: bool,
}

impl AnnounceClaim<'_> {
    /// The ANNOUNCE succeeded: no other is taken for this session.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for AnnounceClaim<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.session.announcing.store(false, Ordering::Release);
        }
    }
}

pub fn bitrate_kbps(params: &StreamParams) -> u32 {
    params
        .configured_bitrate_kbps
        .unwrap_or(params.max_bitrate_kbps)
        .clamp(500, 150_000)
}

struct OperatorControls {
    session: Weak<Session>,
}

/// An operator's stop for a parked app: releases it, as the client's quit would.
struct ParkedControls {
    streaming: Weak<Streaming>,
    id: String,
}

/// The app's exit ends the stream (Moonlight shows "the app quit"); the host stopping it does not.
impl AppOwner for Session {
    fn app_exited(&self, name: &str, by_host: bool) {
        if !by_host {
            self.end(&format!("the app {name} exited"));
        }
    }
}

impl SessionControls for ParkedControls {
    fn stop(&self, reason: &str) {
        if let Some(streaming) = self.streaming.upgrade() {
            streaming.stop_parked(&self.id, reason);
        }
    }

    /// Nothing is streaming.
    fn request_keyframe(&self) {}
}

impl SessionControls for OperatorControls {
    fn stop(&self, reason: &str) {
        if let Some(s) = self.session.upgrade() {
            s.end(reason);
        }
    }

    fn request_keyframe(&self) {
        if let Some(s) = self.session.upgrade() {
            s.video.keyframe_requested.store(true, Ordering::Relaxed);
        }
    }
}

/// The streaming half of the GameStream host: its ports and the current session.
pub struct Streaming {
    pub host: Arc<HostContext>,
    rtsp: Mutex<Option<TcpListener>>,
    pub rtsp_port: u16,
    pub video_socket: UdpSocket,
    pub video_port: u16,
    pub audio_socket: UdpSocket,
    pub audio_port: u16,
    control: ControlServer,
    pub control_port: u16,
    current: Mutex<Option<Arc<Session>>>,
    /// The app and display of a stream whose client went away without quitting.
    parked: Mutex<Option<Parked>>,
    /// Whether HEVC and AV1 encoders open here.
    codecs: (bool, bool),
}

impl Streaming {
    /// Binds RTSP (TCP base+21), video (UDP base+9), control (UDP base+10) and audio (UDP base+11).
    pub async fn bind(host: Arc<HostContext>, bind: IpAddr, base: u16) -> Result<Arc<Streaming>> {
        let port = |offset: u16| {
            base.checked_add(offset)
                .with_context(|| format!("GameStream port base {base} + {offset} overflows"))
        };
        let rtsp_port = port(RTSP_OFFSET)?;
        let rtsp = TcpListener::bind((bind, rtsp_port))
            .await
            .with_context(|| format!("binding GameStream RTSP on port {rtsp_port}"))?;
        let udp = |offset: u16| -> Result<UdpSocket> {
            let p = port(offset)?;
            UdpSocket::bind((bind, p)).with_context(|| format!("binding GameStream UDP port {p}"))
        };
        let video_socket = udp(VIDEO_OFFSET)?;
        let audio_socket = udp(AUDIO_OFFSET)?;
        let control_socket = udp(CONTROL_OFFSET)?;
        let control_port = control_socket.local_addr()?.port();
        let codecs = tokio::task::spawn_blocking(|| {
            (
                encoder_opens(punktfunk_media::VideoCodec::Hevc),
                encoder_opens(punktfunk_media::VideoCodec::Av1),
            )
        })
        .await?;
        Ok(Arc::new_cyclic(|me: &Weak<Streaming>| Streaming {
            rtsp_port: rtsp.local_addr().map_or(0, |a| a.port()),
            rtsp: Mutex::new(Some(rtsp)),
            video_port: video_socket.local_addr().map_or(0, |a| a.port()),
            video_socket,
            audio_port: audio_socket.local_addr().map_or(0, |a| a.port()),
            audio_socket,
            control: ControlServer::new(control_socket, {
                let me = me.clone();
                Box::new(move || me.upgrade()?.running_session())
            }),
            control_port,
            current: Mutex::new(None),
            parked: Mutex::new(None),
            codecs,
            host,
        }))
    }

    /// What this host can stream: H.264 always, HEVC and AV1 when an encoder for them opens here.
    pub fn capabilities(&self) -> HostCapabilities {
        let (hevc, av1) = self.codecs;
        let codec = |supported| CodecCaps {
            supported,
            main10: false,
            yuv444: false,
        };
        HostCapabilities {
            h264: codec(true),
            hevc: codec(hevc),
            av1: codec(av1),
            max_audio_channels: 8,
            video_encryption: true,
            require_encryption: false,
            reference_frame_invalidation: false,
            // DualSense touchpads are bridged to the pads. Touchscreen and pen stay off: with them
            // Moonlight would send pen strokes no sink here injects, while without them it turns
            // both into mouse input, which every display takes.
            feature_flags: SS_FF_CONTROLLER_TOUCH,
        }
    }

    /// Serves RTSP and the control stream until `stop` turns true; ends a running session then.
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) -> Result<()> {
        let listener = self
            .rtsp
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .context("GameStream streaming runs once")?;
        tracing::info!(
            rtsp = self.rtsp_port,
            video = self.video_port,
            control = self.control_port,
            audio = self.audio_port,
            "GameStream streaming ports"
        );
        let control = self.control.start()?;
        let result = rtsp_server::run(listener, self.clone(), stop).await;
        if let Some(session) = self.current() {
            session.end("the host is shutting down");
            wait_gone(&session, TEARDOWN_WAIT).await;
        }
        if let Some(parked) = self.take_parked() {
            parked.announce_release("the host is shutting down");
            tokio::task::spawn_blocking(move || drop(parked)).await.ok();
        }
        self.control.shutdown();
        let _ = tokio::task::spawn_blocking(move || control.join()).await;
        result
    }

    pub fn current(&self) -> Option<Arc<Session>> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The launched session that is still running: the only one a control peer may join.
    fn running_session(&self) -> Option<Arc<Session>> {
        self.current().filter(|s| !s.ended())
    }

    /// Where the injector of the session with `connect_data` sends its pads' feedback.
    pub fn pad_feedback(&self, connect_data: u32) -> impl FnMut(Feedback) + Send + 'static {
        self.control.feedback_sender(connect_data)
    }

    /// Releases the parked app whose session-list entry is `id` (an operator stopped it).
    fn stop_parked(&self, id: &str, reason: &str) {
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        let listed = |p: &Parked| p.listing.as_ref().is_some_and(|l| l.id() == id);
        if parked.as_ref().is_some_and(listed)
            && let Some(p) = parked.take()
        {
            release_parked(p, reason);
        }
    }

    /// The app id `/serverinfo` reports as running: the streamed one, or the parked one.
    pub fn current_game(&self) -> Option<NonZeroU32> {
        // A stream whose client just went away is being parked: its app is still the current game
        // (a client reconnecting right away resumes it rather than launching anew).
        if let Some(session) = self
            .current()
            .filter(|s| !s.ended() || s.client_lost.load(Ordering::Relaxed))
        {
            return Some(session.app_id());
        }
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        if parked.as_ref().is_some_and(|p| !p.alive())
            && let Some(dead) = parked.take()
        {
            release_parked(dead, "its app exited");
        }
        parked.as_ref().map(|p| p.request.app.id)
    }

    fn take_parked(&self) -> Option<Parked> {
        self.parked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// `/resume`: a new stream on the parked app and display. `request` carries the new stream's
    /// keys and client; the mode and app are the parked ones.
    pub async fn resume(self: &Arc<Self>, request: LaunchRequest) -> Result<String, LaunchError> {
        if let Some(ending) = self.current().filter(|s| s.ended()) {
            wait_gone(&ending, TEARDOWN_WAIT).await;
        }
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = current.as_ref() {
            return Err(LaunchError::Busy(running.request.app.title.clone()));
        }
        let mut parked = self.take_parked().ok_or(LaunchError::NothingToResume)?;
        if !owns(&parked.request, request.client_id.as_deref()) {
            let title = parked.request.app.title.clone();
            *self.parked.lock().unwrap_or_else(PoisonError::into_inner) = Some(parked);
            return Err(LaunchError::NotYours(title));
        }
        if !parked.alive() {
            release_parked(parked, "its app exited");
            return Err(LaunchError::NothingToResume);
        }
        // The resumed stream lists itself once it is set up.
        if let Some(listing) = parked.listing.take() {
            listing.set_end_reason("resumed");
        }
        let request = LaunchRequest {
            app: parked.request.app.clone(),
            width: parked.request.width,
            height: parked.request.height,
            fps: parked.request.fps,
            ..request
        };
        let url = nvhttp::session_url(request.encrypted_rtsp, request.local_ip, self.rtsp_port);
        let parked_for = parked.since.elapsed();
        let (session, end_rx) = Session::with_parked(request, Some(parked))?;
        tracing::info!(
            session = %session.id, app = %session.request.app.title, ?parked_for, %url,
            "GameStream resume"
        );
        *current = Some(session.clone());
        drop(current);
        tokio::spawn(self.clone().supervise(session, end_rx));
        Ok(url)
    }

    /// `/launch`: makes the session RTSP will set up and returns the `sessionUrl0` to answer with.
    pub async fn launch(self: &Arc<Self>, request: LaunchRequest) -> Result<String, LaunchError> {
        // A client that just disconnected may launch again while its old session is still being
        // torn down (the app gets a grace period): that one is over, so wait for it.
        if let Some(ending) = self.current().filter(|s| s.ended()) {
            wait_gone(&ending, TEARDOWN_WAIT).await;
        }
        // The same caps as punktfunk/1's Hello: what the encoder can do and the operator allows.
        self.host.settings.get().stream_limits().check_mode(
            request.width,
            request.height,
            request.fps.saturating_mul(1000),
        )?;
        // A parked app whose app has exited is not worth refusing a launch for.
        let parked_game = self.current_game();
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = current.as_ref() {
            return Err(LaunchError::Busy(running.request.app.title.clone()));
        }
        if parked_game.is_some()
            && let Some(parked) = self
                .parked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
        {
            return Err(LaunchError::Busy(parked.request.app.title.clone()));
        }
        let url = nvhttp::session_url(request.encrypted_rtsp, request.local_ip, self.rtsp_port);
        let (session, end_rx) = Session::new(request)?;
        tracing::info!(
            session = %session.id, app = %session.request.app.title,
            mode = format!("{}x{}@{}", session.request.width, session.request.height, session.request.fps),
            %url, "GameStream launch"
        );
        *current = Some(session.clone());
        drop(current);
        tokio::spawn(self.clone().supervise(session, end_rx));
        Ok(url)
    }

    /// `/cancel` from the paired client `client_id`: ends its current session (if any) and waits
    /// until it is gone, and releases its parked app and display. Another client's stream or parked
    /// app is left alone and refused (the operator stops anything from the console or API).
    pub async fn cancel(&self, client_id: Option<&str>) -> Result<(), LaunchError> {
        if let Some(session) = self.current() {
            if !owns(&session.request, client_id) {
                return Err(LaunchError::NotYours(session.request.app.title.clone()));
            }
            session.end("the client quit the app");
            wait_gone(&session, TEARDOWN_WAIT).await;
        }
        let parked = {
            let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
            match parked.as_ref() {
                Some(p) if !owns(&p.request, client_id) => {
                    return Err(LaunchError::NotYours(p.request.app.title.clone()));
                }
                _ => parked.take(),
            }
        };
        if let Some(parked) = parked {
            // Waited for: the answer to /cancel means the app is gone.
            parked.announce_release("the client quit the app");
            tokio::task::spawn_blocking(move || drop(parked)).await.ok();
        }
        Ok(())
    }

    /// Runs one session's lifetime: deadlines, stats, and the teardown.
    async fn supervise(
        self: Arc<Self>,
        session: Arc<Session>,
        mut end: watch::Receiver<Option<String>>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last_frames = 0u64;
        let mut last_tick = Instant::now();
        loop {
            tokio::select! {
                _ = end.wait_for(|r| r.is_some()) => break,
                _ = tick.tick() => {}
            }
            if !session.control_connected.load(Ordering::Relaxed)
                && session.launched.elapsed() > CONNECT_DEADLINE
            {
                let reason = "the client did not connect within 20 s of the launch";
                if session.resumed().is_some() {
                    // A failed resume leaves the app as it found it: still parked.
                    session.lose(reason);
                } else {
                    session.end(reason);
                }
                continue;
            }
            let frames = session.video.frames_sent.load(Ordering::Relaxed);
            let elapsed = last_tick.elapsed().as_secs_f64().max(1e-3);
            last_tick = Instant::now();
            let fps = (frames - last_frames) as f64 / elapsed;
            last_frames = frames;
            let bitrate = session.announced().map_or(0, |a| bitrate_kbps(&a.params));
            self.host.sessions.update_stats(
                &session.id,
                SessionStats {
                    bitrate_kbps: bitrate,
                    fps,
                    frames_sent: frames,
                    loss_percent: 0.0,
                    fec_parity_percent: u32::from(video_sender::FEC_PERCENT),
                    // One-way delay needs the client's clock; GameStream does not share it.
                    latency_ms: None,
                    stages: session.video.stages(),
                },
            );
        }
        let reason = end.borrow().clone().unwrap_or_default();
        self.teardown(&session, &reason).await;
    }

    async fn teardown(self: &Arc<Self>, session: &Arc<Session>, reason: &str) {
        session.stop.store(true, Ordering::Relaxed);
        // Tell the client first, while the control stream is still up.
        self.control.command(ControlCommand::Terminate {
            connect_data: session.connect_data,
            code: TERMINATION_GRACEFUL,
        });
        // The input thread ends once its queue's sender is gone.
        session
            .input
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let owned = std::mem::take(&mut *session.owned());
        let resumed = session.resumed().take();
        let frames = session.video.frames_sent.load(Ordering::Relaxed);
        let id = session.id.clone();
        let reason_owned = reason.to_string();
        let park = session.client_lost.load(Ordering::Relaxed);
        let (request, audio_name) = (session.request.clone(), session.audio_name.clone());
        // Joining the senders and releasing the display block (compositor IPC).
        let ((injected, refused), parked, listed) = tokio::task::spawn_blocking(move || {
            let Owned {
                source,
                video,
                audio,
                app,
                input,
                listed,
                ..
            } = owned;
            let video_source = video.and_then(|t| t.join().ok()).flatten();
            let audio_source = audio.and_then(|t| t.join().ok()).flatten();
            let injected = input.and_then(|t| t.join().ok()).unwrap_or((0, 0));
            if let Some(listed) = &listed {
                listed.set_end_reason(&reason_owned);
            }
            // Whatever this stream used, or (a resume that never got that far) what it was given.
            let mut left = resumed;
            let parked = Parked {
                request,
                audio_name,
                source: video_source
                    .or(source)
                    .or_else(|| left.as_mut().and_then(|p| p.source.take())),
                audio: audio_source.or_else(|| left.as_mut().and_then(|p| p.audio.take())),
                app: app.or_else(|| left.as_mut().and_then(|p| p.app.take())),
                since: left.as_ref().map_or_else(Instant::now, |p| p.since),
                listing: None,
            };
            drop(left);
            if park && parked.alive() {
                if let Some(app) = &parked.app {
                    // Parked: nobody hears of its exit (checked by `alive` on resume).
                    app.hand_to(Weak::<Session>::new());
                }
                (injected, Some(parked), listed)
            } else {
                drop(parked);
                (injected, None, listed)
            }
        })
        .await
        .unwrap_or(((0, 0), None, None));
        // The stream's entry ends either way; a parked app gets an entry of its own.
        let listed_info = listed.as_ref().and_then(|l| self.host.sessions.get(l.id()));
        drop(listed);
        if let Some(mut parked) = parked {
            if let Some(mut info) = listed_info {
                info.state = SessionState::Parked;
                info.stats = SessionStats::default();
                let controls = Arc::new(ParkedControls {
                    streaming: Arc::downgrade(self),
                    id: info.id.clone(),
                });
                parked.listing = Some(self.host.sessions.register(info, controls));
            }
            tracing::info!(
                session = %id, app = %parked.request.app.title,
                "the client went away without quitting: app and display parked for /resume"
            );
            crate::services::status_line::status_line!(
                "GAMESTREAM-PARKED app={} id={id}",
                parked.request.app.id
            );
            let replaced = self
                .parked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .replace(parked);
            if let Some(old) = replaced {
                release_parked(old, "a newer stream was parked");
            }
        }
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, session)) {
            *current = None;
        }
        drop(current);
        session.torn_down.store(true, Ordering::Release);
        tracing::info!(session = %id, %reason, frames, injected, refused, "GameStream session over");
        crate::services::status_line::status_line!(
            "GAMESTREAM-SESSION ended id={id} frames={frames} input={injected} refused={refused}"
        );
    }
}

/// Whether the paired client `client_id` may quit or resume what `launch` started: the client that
/// launched it. A launch without a paired id (only tests make those) belongs to anyone.
fn owns(launch: &LaunchRequest, client_id: Option<&str>) -> bool {
    launch
        .client_id
        .as_deref()
        .is_none_or(|owner| Some(owner) == client_id)
}

/// Until the supervisor has finished tearing `session` down (or `limit` passes).
async fn wait_gone(session: &Arc<Session>, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && !session.torn_down.load(Ordering::Acquire) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether an encoder for `codec` opens on this machine (checked once at a small size). Blocking.
fn encoder_opens(codec: punktfunk_media::VideoCodec) -> bool {
    let config = punktfunk_media::EncoderConfig {
        codec,
        width: 320,
        height: 240,
        fps_num: 60,
        fps_den: 1,
        bitrate_kbps: 1000,
        chroma: punktfunk_media::ChromaFormat::Yuv420,
        color: punktfunk_media::ColorSpace::Bt709,
        full_range: false,
        hdr: None,
        intra_refresh: false,
    };
    let opened = punktfunk_media::init()
        .map_err(anyhow::Error::from)
        .and_then(|()| Ok(punktfunk_media::encode::open_encoder(&config, None)?));
    match opened {
        // libaom is the only AV1 encoder some FFmpeg builds have, and it is far from real time on
        // CPUs like this one; offering it would make clients that prefer AV1 stutter.
        Ok(encoder) if encoder.name() == "libaom-av1" => {
            tracing::info!(
                ?codec,
                "GameStream does not offer AV1: only libaom-av1 (not real-time)"
            );
            false
        }
        Ok(encoder) => {
            tracing::info!(
                ?codec,
                encoder = encoder.name(),
                "GameStream offers this codec"
            );
            true
        }
        Err(e) => {
            tracing::info!(?codec, "GameStream does not offer this codec: {e}");
            false
        }
    }
}

/// Events queued for a display's input sink before new ones are dropped.
const INPUT_QUEUE: usize = 512;

/// How many of a session's input events its injector applied and how many it could not.
type InjectTotals = (u64, u64);

/// A thread that injects queued events into the display's sink and the session's pads (injection
/// blocks: a Wayland flush, a D-Bus call, a device write), so the control thread never waits for
/// the compositor; the pads' feedback goes out through `feedback`.
fn start_input(
    session: &str,
    display: Option<Box<dyn InputSink>>,
    feedback: impl FnMut(Feedback) + Send + 'static,
) -> Result<(SyncSender<InputEvent>, JoinHandle<InjectTotals>)> {
    let (sender, events) = std::sync::mpsc::sync_channel::<InputEvent>(INPUT_QUEUE);
    let session = session.to_string();
    let thread = std::thread::Builder::new()
        .name("gs-input".into())
        .spawn(move || {
            let input = SessionInput::new(display);
            tracing::info!(%session, sink = %input.describe(), "GameStream input goes to the display and pads");
            let counts = InjectCounts::default();
            input.run(&events, feedback, &counts);
            let injected = counts.injected.load(Ordering::Relaxed);
            let refused = counts.refused.load(Ordering::Relaxed);
            let feedback = counts.feedback.load(Ordering::Relaxed);
            tracing::info!(%session, injected, refused, feedback, "GameStream input over");
            (injected, refused)
        })
        .context("starting the input thread")?;
    Ok((sender, thread))
}
