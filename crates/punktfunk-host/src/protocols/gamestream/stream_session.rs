//! One GameStream streaming session, from `/launch` (or `/resume`) to its end: its tokens and keys,
//! what it owns (display source, senders, input thread, app, session-list entry), the ANNOUNCE and
//! PLAY steps RTSP drives, and the end signal. Whoever notices that the session is over (client
//! cancel or disconnect, ping timeout, the app exiting, the operator, a failing sender) calls
//! [`Session::end`] or [`Session::lose`]; the supervisor in `streaming.rs` then tears it down
//! (`teardown.rs`). The senders, RTSP and control use a session; it uses none of them.

use super::parked::Parked;
use super::parking::StreamFacts;
use super::session_end::{Ending, end_once};
use super::stream_input::{InjectTotals, start_input};
use super::stream_params::{Announced, FEC_PERCENT, LaunchError, LaunchRequest, bitrate_kbps};
use crate::platform::audio::AudioSource;
use crate::platform::inject::{Feedback, InputEvent};
use crate::services::sessions::{
    SessionControls, SessionGuard, SessionInfo, SessionState, SessionStats,
};
use crate::shared::apps::{AppOwner, RunningApp};
use crate::shared::host_context::HostContext;
use crate::stream::{StreamControl, VideoSource};
use anyhow::{Context, Result};
use punktfunk_core::gamestream::rtsp::{Role, RtspCipher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::watch;

/// The PipeWire sink name of a session (apps launched into it get it as `PULSE_SINK`; the audio
/// sender creates the sink under this name).
fn sink_name(session: &str) -> String {
    format!("punktfunk-gs-{session}")
}

/// The video and audio sender threads PLAY starts; each hands its source back when it stops, for
/// parking.
pub struct Senders {
    pub video: JoinHandle<Option<VideoSource>>,
    pub audio: JoinHandle<Option<Box<dyn AudioSource>>>,
}

/// Everything one session owns that must be released when it ends.
#[derive(Default)]
pub struct Owned {
    pub announced: Option<Arc<Announced>>,
    /// Opened at ANNOUNCE, taken by the video sender at PLAY.
    pub source: Option<VideoSource>,
    /// The senders hand their source back when they stop, for parking.
    pub video: Option<JoinHandle<Option<VideoSource>>>,
    pub audio: Option<JoinHandle<Option<Box<dyn AudioSource>>>>,
    pub app: Option<RunningApp>,
    /// Injects the client's input into its display and pads; ends when the session drops its
    /// sender.
    pub input: Option<JoinHandle<InjectTotals>>,
    pub listed: Option<SessionGuard>,
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
    /// Name of the session's audio sink; a resumed stream keeps the one its app plays into.
    pub audio_name: String,
    /// What `/resume` brought along, taken piece by piece as the new stream sets up.
    resumed: Mutex<Option<Parked>>,
    /// Events for the display's input sink (its thread injects them); `None` without a sink.
    input: Mutex<Option<SyncSender<InputEvent>>>,
    /// Why the session ends, once something ended it (see [`end_once`]).
    end: watch::Sender<Option<Ending>>,
    owned: Mutex<Owned>,
}

impl Session {
    /// A fresh session for `request` with random tokens, and where its end reason will appear.
    pub fn new(
        request: LaunchRequest,
    ) -> Result<(Arc<Session>, watch::Receiver<Option<Ending>>), LaunchError> {
        Self::with_parked(request, None)
    }

    /// A session that resumes `parked` (or a fresh one without).
    pub fn with_parked(
        request: LaunchRequest,
        parked: Option<Parked>,
    ) -> Result<(Arc<Session>, watch::Receiver<Option<Ending>>), LaunchError> {
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
            .map_or_else(|| sink_name(&id), |p| p.audio_name.clone());
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
            audio_name,
            resumed: Mutex::new(parked),
            input: Mutex::new(None),
            end,
            owned: Mutex::default(),
            request,
        });
        Ok((session, end_rx))
    }

    fn owned(&self) -> MutexGuard<'_, Owned> {
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
            let first = end_once(current, reason, client_lost);
            if first {
                tracing::info!(session = %self.id, %reason, client_lost, "GameStream session ending");
            }
            first
        });
    }

    /// The session ended because the client went away without quitting: park instead of release.
    pub fn client_lost(&self) -> bool {
        self.end.borrow().as_ref().is_some_and(|e| e.client_lost)
    }

    fn resumed(&self) -> MutexGuard<'_, Option<Parked>> {
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

    /// Whether this session resumes a parked stream (and still holds some of it).
    pub fn resuming(&self) -> bool {
        self.resumed().is_some()
    }

    /// What `/resume` brought along and the stream never took (teardown parks it again).
    pub fn take_resumed(&self) -> Option<Parked> {
        self.resumed().take()
    }

    /// Everything the session owns, for teardown.
    pub fn take_owned(&self) -> Owned {
        std::mem::take(&mut *self.owned())
    }

    /// Drops the input queue's sender: the input thread ends once it has drained the queue.
    pub fn stop_input(&self) {
        self.input
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// The supervisor has released everything the session owned.
    pub fn mark_torn_down(&self) {
        self.torn_down.store(true, Ordering::Release);
    }

    pub fn torn_down(&self) -> bool {
        self.torn_down.load(Ordering::Acquire)
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
        let (sender, events) = std::sync::mpsc::sync_channel(super::stream_input::INPUT_QUEUE);
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
        // Apps started here and from the console get the display's environment and the session's
        // audio sink (the audio sender creates it at PLAY, a moment after the app starts).
        let sink = std::collections::BTreeMap::from(
            ["PULSE_SINK", "PIPEWIRE_NODE"].map(|var| (var.to_string(), self.audio_name.clone())),
        );
        let app_env = display.as_ref().map(|d| {
            let mut env = d.env.clone();
            env.extend(sink.clone());
            env
        });
        let mut running: Option<(Option<String>, String)> = None;
        if let Some(app) = resumed_app {
            tracing::info!(session = %self.id, app = app.name(), "resuming the running app");
            let owner: Weak<Session> = Arc::downgrade(self);
            app.hand_to(owner);
            running = Some((self.request.app.title_id.clone(), app.name().to_string()));
            owned.app = Some(app);
        } else if let Some(app) = &self.request.app.config {
            let env = app_env.clone().unwrap_or(sink);
            let owner: Weak<Session> = Arc::downgrade(self);
            match RunningApp::start(app, &env, owner) {
                Ok(started) => {
                    running = Some((self.request.app.title_id.clone(), app.name.clone()));
                    owned.app = Some(started);
                }
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
                fec_parity_percent: u32::from(FEC_PERCENT),
                ..SessionStats::default()
            },
            state: SessionState::Streaming,
            app: running.as_ref().and_then(|(id, _)| id.clone()),
            app_name: running.map(|(_, name)| name),
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
                registry: host.sessions.clone(),
                app_env,
            }),
        ));
        owned.source = Some(source);
        owned.announced = Some(Arc::new(announced));
    }

    /// PLAY: starts the video and audio senders (once) with `start`, which gets the ANNOUNCE's
    /// parameters and the source opened for them.
    pub fn play(
        &self,
        start: impl FnOnce(Arc<Announced>, VideoSource) -> Result<Senders>,
    ) -> Result<()> {
        let mut owned = self.owned();
        if owned.video.is_some() {
            return Ok(());
        }
        let announced = owned.announced.clone().context("PLAY before ANNOUNCE")?;
        let source = owned.source.take().context("PLAY without a source")?;
        let senders = start(announced, source)?;
        owned.video = Some(senders.video);
        owned.audio = Some(senders.audio);
        Ok(())
    }
}

impl StreamFacts for Session {
    fn request(&self) -> &LaunchRequest {
        &self.request
    }

    fn ended(&self) -> bool {
        Session::ended(self)
    }

    fn client_lost(&self) -> bool {
        Session::client_lost(self)
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

/// What the session list's controls do to a streaming session: stop it, ask for a keyframe, and
/// launch a library title onto its display or end the one running ("End game"), as for a
/// punktfunk/1 session.
struct OperatorControls {
    session: Weak<Session>,
    registry: Arc<crate::services::sessions::SessionRegistry>,
    /// The environment apps on the session's display get; `None` without a display.
    app_env: Option<std::collections::BTreeMap<String, String>>,
}

impl OperatorControls {
    /// Stops `app` off the caller's thread: the host stopping it does not end the stream (the
    /// client goes on seeing the desktop).
    fn stop_in_background(app: RunningApp) {
        let spawned = std::thread::Builder::new()
            .name("app-stop".into())
            .spawn(move || drop(app));
        if let Err(e) = spawned {
            // The app was dropped with the closure, which stopped it here instead.
            tracing::warn!("no thread to stop the app on: {e}");
        }
    }
}

/// The app's exit ends the stream (Moonlight shows "the app quit"); the host stopping it does not.
impl AppOwner for Session {
    fn app_exited(&self, name: &str, by_host: bool) {
        if !by_host {
            self.end(&format!("the app {name} exited"));
        }
    }
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

    /// The title replaces whatever runs, and like an app Moonlight launched, its exit ends the
    /// stream.
    fn launch(&self, title: &crate::services::library::Title) -> Result<(), String> {
        let Some(session) = self.session.upgrade().filter(|s| !s.ended()) else {
            return Err("the session is ending".into());
        };
        let Some(env) = &self.app_env else {
            return Err("this session streams no display a title could run on".into());
        };
        let owner: Weak<Session> = Arc::downgrade(&session);
        let started = RunningApp::start(&title.app_config(), env, owner)
            .map_err(|e| format!("{} did not start: {e:#}", title.name))?;
        let previous = session.owned().app.replace(started);
        self.registry.set_app(
            &session.id,
            Some(title.id.clone()),
            Some(title.name.clone()),
        );
        tracing::info!(session = %session.id, title = %title.id, "title launched on a GameStream session");
        if let Some(previous) = previous {
            Self::stop_in_background(previous);
        }
        Ok(())
    }

    fn end_app(&self) -> bool {
        let Some(session) = self.session.upgrade() else {
            return false;
        };
        let Some(app) = session.owned().app.take() else {
            return false;
        };
        self.registry.set_app(&session.id, None, None);
        tracing::info!(session = %session.id, app = app.name(), "app ended by the host operator");
        Self::stop_in_background(app);
        true
    }
}
