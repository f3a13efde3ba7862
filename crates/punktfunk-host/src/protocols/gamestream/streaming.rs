//! The streaming half of the GameStream host, behind `/launch`, `/resume` and `/cancel`: its
//! ports, the control server, and the one stream slot and parking space (GameStream has a single
//! "current game" per host). nvhttp calls [`Streaming::launch`], [`Streaming::resume`],
//! [`Streaming::cancel`] and [`Streaming::current_game`]; RTSP finds the session through
//! [`Streaming::current`] and starts its senders with [`Streaming::play`].
//!
//! Each session gets a supervisor task: deadlines and stats while it runs, then, once something
//! ended it, the teardown — tell the client (termination message), stop the senders, release the
//! display and stop the app, in that order, in one place.
//!
//! A client that goes away without quitting ([`Session::lose`]: its control stream disconnected or
//! fell silent) leaves its app running: the display, its audio sink and the app are [`Parked`],
//! `/serverinfo` keeps reporting the app as the current game, and `/resume` starts a new stream on
//! them — Moonlight's "Resume". `/cancel` (Moonlight's "Quit"), the app exiting, or the host
//! stopping release them. The rules for all of that are `parking.rs`'s; this file applies them.

use super::audio_sender;
use super::control_server::{ControlCommand, ControlServer};
use super::parked::{Parked, release_parked};
use super::parking::{Release, Ruling, Stage, resumed_request};
use super::session_end::{EndKind, Ending, missed_connect};
use super::stream_caps::Codecs;
use super::stream_params::{FEC_PERCENT, LaunchError, LaunchRequest, bitrate_kbps};
use super::stream_ports::StreamPorts;
use super::stream_session::{Senders, Session};
use super::teardown::{Dismantled, dismantle};
use super::video_sender;
use crate::platform::inject::Feedback;
use crate::services::sessions::{SessionControls, SessionState, SessionStats};
use crate::shared::host_context::HostContext;
use anyhow::{Context, Result};
use punktfunk_core::gamestream::control::TERMINATION_GRACEFUL;
use punktfunk_core::gamestream::nvhttp;
use punktfunk_core::gamestream::sdp::HostCapabilities;
use std::net::{IpAddr, UdpSocket};
use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long `/cancel` waits for the session to be torn down before answering anyway.
const TEARDOWN_WAIT: Duration = Duration::from_secs(15);

/// The host's stream slot and parking space.
type StreamStage = Stage<Arc<Session>, Parked>;

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
    /// The current session and the app and display of a stream whose client went away without
    /// quitting.
    stage: Mutex<StreamStage>,
    /// Whether HEVC and AV1 encoders open here.
    codecs: Codecs,
}

/// An operator's stop for a parked app: releases it, as the client's quit would.
struct ParkedControls {
    streaming: Weak<Streaming>,
    id: String,
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

/// Releases what a decision handed out for release.
fn release(release: Option<Release<Parked>>) {
    if let Some(Release { parked, why }) = release {
        release_parked(parked, why);
    }
}

impl Streaming {
    /// Binds the streaming ports (see [`super::stream_ports`]) and probes the codecs.
    pub async fn bind(host: Arc<HostContext>, bind: IpAddr, base: u16) -> Result<Arc<Streaming>> {
        let StreamPorts {
            rtsp,
            video,
            audio,
            control,
        } = super::stream_ports::bind(bind, base).await?;
        let control_port = control.local_addr()?.port();
        let codecs = tokio::task::spawn_blocking(Codecs::probe).await?;
        Ok(Arc::new_cyclic(|me: &Weak<Streaming>| Streaming {
            rtsp_port: rtsp.local_addr().map_or(0, |a| a.port()),
            rtsp: Mutex::new(Some(rtsp)),
            video_port: video.local_addr().map_or(0, |a| a.port()),
            video_socket: video,
            audio_port: audio.local_addr().map_or(0, |a| a.port()),
            audio_socket: audio,
            control: ControlServer::new(control, {
                let me = me.clone();
                Box::new(move || me.upgrade()?.running_session())
            }),
            control_port,
            stage: Mutex::default(),
            codecs,
            host,
        }))
    }

    /// What this host can stream: H.264 always, HEVC and AV1 when an encoder for them opens here.
    pub fn capabilities(&self) -> HostCapabilities {
        self.codecs.capabilities()
    }

    /// What this host can stream for `session`'s launch mode (DESCRIBE offers, ANNOUNCE checks).
    pub fn capabilities_for(&self, session: &Session) -> HostCapabilities {
        let launched = &session.request;
        self.codecs
            .capabilities_for(launched.width, launched.height, launched.fps)
    }

    fn stage(&self) -> MutexGuard<'_, StreamStage> {
        // Every change to the stage is a single assignment; a panic cannot leave it half-written.
        self.stage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts serving: hands out the RTSP listener (once) and starts the control server's thread.
    pub fn open(&self) -> Result<(TcpListener, JoinHandle<()>)> {
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
        Ok((listener, control))
    }

    /// Stops serving (RTSP is done): ends a running session, releases a parked app, stops the
    /// control server's thread `control`.
    pub async fn close(&self, control: JoinHandle<()>) {
        if let Some(session) = self.current() {
            session.end("the host is shutting down");
            wait_gone(&session, TEARDOWN_WAIT).await;
        }
        let parked = self.stage().take_parked();
        if let Some(parked) = parked {
            parked.announce_release("the host is shutting down");
            tokio::task::spawn_blocking(move || drop(parked)).await.ok();
        }
        self.control.shutdown();
        let _ = tokio::task::spawn_blocking(move || control.join()).await;
    }

    pub fn current(&self) -> Option<Arc<Session>> {
        self.stage().current()
    }

    /// The launched session that is still running: the only one a control peer may join.
    fn running_session(&self) -> Option<Arc<Session>> {
        self.stage().running()
    }

    /// Where the injector of the session with `connect_data` sends its pads' feedback.
    pub fn pad_feedback(&self, connect_data: u32) -> impl FnMut(Feedback) + Send + 'static {
        self.control.feedback_sender(connect_data)
    }

    /// PLAY: starts `session`'s video and audio senders on the streaming sockets (once).
    pub fn play(&self, session: &Arc<Session>) -> Result<()> {
        session.play(|announced, source| {
            // Anything queued now predates this PLAY's answer, which is what starts the client's
            // pings.
            for socket in [&self.video_socket, &self.audio_socket] {
                let stale = video_sender::drain(socket)?;
                if stale > 0 {
                    tracing::debug!(session = %session.id, stale, "stale datagrams dropped before PLAY");
                }
            }
            Ok(Senders {
                video: video_sender::spawn(
                    session.clone(),
                    self.video_socket.try_clone()?,
                    announced.clone(),
                    source,
                )?,
                audio: audio_sender::spawn(
                    session.clone(),
                    self.audio_socket.try_clone()?,
                    announced,
                )?,
            })
        })
    }

    /// Releases the parked app whose session-list entry is `id` (an operator stopped it).
    fn stop_parked(&self, id: &str, reason: &str) {
        if let Some(parked) = self.stage().take_listed(id) {
            release_parked(parked, reason);
        }
    }

    /// The app id `/serverinfo` reports as running: the streamed one, or the parked one.
    pub fn current_game(&self) -> Option<NonZeroU32> {
        let Ruling {
            outcome,
            release: dead,
        } = self.stage().current_game();
        release(dead);
        outcome.ok().flatten()
    }

    /// A session that was ended but may still be tearing down: a client that just disconnected may
    /// launch or resume again meanwhile (the app gets a grace period); that one is over, so wait.
    async fn wait_for_ending(&self) {
        let ending = self.current().filter(|s| s.ended());
        if let Some(ending) = ending {
            wait_gone(&ending, TEARDOWN_WAIT).await;
        }
    }

    /// `/resume`: a new stream on the parked app and display. `request` carries the new stream's
    /// keys and client; the mode and app are the parked ones.
    pub async fn resume(self: &Arc<Self>, request: LaunchRequest) -> Result<String, LaunchError> {
        self.wait_for_ending().await;
        let mut stage = self.stage();
        let Ruling {
            outcome,
            release: dead,
        } = stage.take_for_resume(request.client_id.as_deref());
        release(dead);
        let mut parked = outcome?;
        // The resumed stream lists itself once it is set up.
        if let Some(listing) = parked.listing.take() {
            listing.set_end_reason("resumed");
        }
        let request = resumed_request(&parked.request, request);
        let url = nvhttp::session_url(request.encrypted_rtsp, request.local_ip, self.rtsp_port);
        let parked_for = parked.since.elapsed();
        let (session, end_rx) = Session::with_parked(request, Some(parked))?;
        tracing::info!(
            session = %session.id, app = %session.request.app.title, ?parked_for, %url,
            "GameStream resume"
        );
        stage.start(session.clone());
        drop(stage);
        tokio::spawn(self.clone().supervise(session, end_rx));
        Ok(url)
    }

    /// `/launch`: makes the session RTSP will set up and returns the `sessionUrl0` to answer with.
    pub async fn launch(self: &Arc<Self>, request: LaunchRequest) -> Result<String, LaunchError> {
        self.wait_for_ending().await;
        // The same caps as punktfunk/1's Hello: what the encoder can do and the operator allows.
        self.host.settings.get().stream_limits().check_mode(
            request.width,
            request.height,
            request.fps.saturating_mul(1000),
        )?;
        let mut stage = self.stage();
        let Ruling {
            outcome,
            release: dead,
        } = stage.admit_launch();
        release(dead);
        outcome?;
        let url = nvhttp::session_url(request.encrypted_rtsp, request.local_ip, self.rtsp_port);
        let (session, end_rx) = Session::new(request)?;
        tracing::info!(
            session = %session.id, app = %session.request.app.title,
            mode = format!("{}x{}@{}", session.request.width, session.request.height, session.request.fps),
            %url, "GameStream launch"
        );
        stage.start(session.clone());
        drop(stage);
        tokio::spawn(self.clone().supervise(session, end_rx));
        Ok(url)
    }

    /// `/cancel` from the paired client `client_id`: ends its current session (if any) and waits
    /// until it is gone, and releases its parked app and display. Another client's stream or parked
    /// app is left alone and refused (the operator stops anything from the console or API).
    pub async fn cancel(&self, client_id: Option<&str>) -> Result<(), LaunchError> {
        let session = self.stage().stream_to_cancel(client_id)?;
        if let Some(session) = session {
            session.end("the client quit the app");
            wait_gone(&session, TEARDOWN_WAIT).await;
        }
        let parked = self.stage().take_for_cancel(client_id)?;
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
        mut end: watch::Receiver<Option<Ending>>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last_frames = 0u64;
        let mut last_tick = Instant::now();
        loop {
            tokio::select! {
                _ = end.wait_for(|r| r.is_some()) => break,
                _ = tick.tick() => {}
            }
            let missed = missed_connect(
                session.control_connected.load(Ordering::Relaxed),
                session.launched,
                Instant::now(),
                session.resuming(),
            );
            if let Some(kind) = missed {
                let reason = "the client did not connect within 20 s of the launch";
                match kind {
                    // A failed resume leaves the app as it found it: still parked.
                    EndKind::Park => session.lose(reason),
                    EndKind::Release => session.end(reason),
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
                    fec_parity_percent: u32::from(FEC_PERCENT),
                    // One-way delay needs the client's clock; GameStream does not share it.
                    latency_ms: None,
                    stages: session.video.stages(),
                },
            );
        }
        let reason = end
            .borrow()
            .as_ref()
            .map(|e| e.reason.clone())
            .unwrap_or_default();
        self.teardown(&session, &reason).await;
    }

    async fn teardown(self: &Arc<Self>, session: &Arc<Session>, reason: &str) {
        session.stop.store(true, Ordering::Relaxed);
        // Tell the client first, while the control stream is still up.
        self.control.command(ControlCommand::Terminate {
            connect_data: session.connect_data,
            code: TERMINATION_GRACEFUL,
        });
        let frames = session.video.frames_sent.load(Ordering::Relaxed);
        let id = session.id.clone();
        let Dismantled {
            injected,
            refused,
            parked,
            listed,
        } = dismantle(session, reason).await;
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
            let replaced = self.stage().park(parked);
            release(replaced);
        }
        self.stage().vacate(|current| Arc::ptr_eq(current, session));
        session.mark_torn_down();
        tracing::info!(session = %id, %reason, frames, injected, refused, "GameStream session over");
        crate::services::status_line::status_line!(
            "GAMESTREAM-SESSION ended id={id} frames={frames} input={injected} refused={refused}"
        );
    }
}

/// Until the supervisor has finished tearing `session` down (or `limit` passes).
async fn wait_gone(session: &Arc<Session>, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && !session.torn_down() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
