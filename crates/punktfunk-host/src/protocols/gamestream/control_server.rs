//! The control stream: ENet (`rusty_enet`, the wire format of Moonlight's ENet fork) on UDP base+10,
//! on its own thread. Every packet is the encrypted control envelope (core `HostControl`). IDR and
//! reference-invalidation requests become keyframe requests; input goes to the session's injector
//! (controllers through a [`PadBridge`] per peer), and the pads' feedback (rumble, lights, trigger
//! effects) comes back as control messages; any event from the peer resets its 10 s silence
//! timeout; a disconnect or timeout ends the stream. The host sends the termination message when a
//! session ends for any other reason.
//!
//! Who may talk to it (a hostile LAN must not join, stall or confuse a stream):
//! - datagrams from any address other than the launching client's (or an already attached peer's)
//!   are dropped before ENet sees them ([`GatedSocket`]), so strangers cannot fill peer slots with
//!   half-open connections;
//! - a session takes exactly one control peer in its life ([`admit`]), from the launching address,
//!   naming it by its `X-SS-Connect-Data` (clients that predate session ids send anything): a
//!   second peer would restart the host's sequence counter under the same key (GCM nonce reuse)
//!   and its disconnect would end the real user's stream;
//! - peers stuck half-way through the ENet handshake are reset after [`HALF_OPEN_LIMIT`];
//! - replayed packets are refused by the core's replay window.

use super::pad_bridge::{PadBridge, feedback_message};
use super::stream_params::{canonical_ip, is_launching_client};
use super::stream_session::Session;
use anyhow::{Context, Result};
use punktfunk_core::control::input::Feedback;
use punktfunk_core::gamestream::control::{ClientMessage, HostControl, HostMessage};
use punktfunk_core::gamestream::sdp::ML_FF_SESSION_ID_V1;
use rusty_enet::{
    EventNoRef, Host, HostSettings, MTU_MAX, Packet, PacketReceived, PeerID, PeerState,
};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Silence after which a control peer (and its session) is given up.
const SILENCE_TIMEOUT: Duration = Duration::from_secs(10);
/// Moonlight opens 0x30 channels (generic, urgent, keyboard, mouse, …, gamepads, motion).
const CHANNELS: usize = 0x30;
/// Longest the thread sleeps without looking at commands and ENet's timers.
const TICK: Duration = Duration::from_millis(5);
/// A peer that has not finished the ENet handshake by then is reset (a real client needs one
/// round trip; retransmissions of its CONNECT still get through after a reset).
const HALF_OPEN_LIMIT: Duration = Duration::from_secs(3);
/// Peer slots. Only the launching client's address gets through the gate, so few are ever used.
const PEER_LIMIT: usize = 8;

pub enum ControlCommand {
    /// Send the termination message to the session's peer, then disconnect it.
    Terminate {
        connect_data: u32,
        code: u32,
    },
    /// Send a message to the session's peer (reliably, on the generic channel).
    Send {
        connect_data: u32,
        message: HostMessage,
    },
    Shutdown,
}

/// The launched session that is still running, if any (the only one a peer may join).
pub type SessionLookup = Box<dyn Fn() -> Option<Arc<Session>> + Send>;

/// Why a connecting peer was turned away.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    NoSession,
    NotTheLaunchingClient,
    WrongConnectData,
    AlreadyConnected,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::NoSession => "no launched session is waiting for a control stream",
            Refusal::NotTheLaunchingClient => "not from the client that launched the session",
            Refusal::WrongConnectData => "its connect data names another session",
            Refusal::AlreadyConnected => "the session already has its control stream",
        })
    }
}

/// Whether a peer at `from` sending `connect_data` may become `session`'s control stream. Claims
/// the session's one control stream on success.
pub fn admit(session: &Session, from: IpAddr, connect_data: u32) -> Result<(), Refusal> {
    if !is_launching_client(&session.request, from) {
        return Err(Refusal::NotTheLaunchingClient);
    }
    // Before the ANNOUNCE the client's flags are unknown: current clients send the id, so expect it.
    let uses_ids = session
        .announced()
        .is_none_or(|a| a.params.ml_feature_flags & ML_FF_SESSION_ID_V1 != 0);
    if uses_ids && session.connect_data != connect_data {
        return Err(Refusal::WrongConnectData);
    }
    if session.control_claimed.swap(true, Ordering::AcqRel) {
        return Err(Refusal::AlreadyConnected);
    }
    Ok(())
}

/// The control socket as ENet sees it: datagrams from addresses not in `allowed` are dropped
/// unread by ENet (counted), so nobody but the launching client can create peer state.
pub struct GatedSocket {
    inner: UdpSocket,
    /// The launching client of the running session and the addresses of attached peers; set by the
    /// control thread before each service round.
    allowed: Vec<IpAddr>,
    dropped: u64,
}

impl GatedSocket {
    pub fn new(inner: UdpSocket) -> Self {
        GatedSocket {
            inner,
            allowed: Vec::new(),
            dropped: 0,
        }
    }
}

impl rusty_enet::Socket for GatedSocket {
    type Address = SocketAddr;
    type Error = std::io::Error;

    fn init(&mut self, options: rusty_enet::SocketOptions) -> Result<(), std::io::Error> {
        rusty_enet::Socket::init(&mut self.inner, options)
    }

    fn send(&mut self, address: SocketAddr, buffer: &[u8]) -> Result<usize, std::io::Error> {
        rusty_enet::Socket::send(&mut self.inner, address, buffer)
    }

    fn receive(
        &mut self,
        buffer: &mut [u8; MTU_MAX],
    ) -> Result<Option<(SocketAddr, PacketReceived)>, std::io::Error> {
        loop {
            match rusty_enet::Socket::receive(&mut self.inner, buffer)? {
                Some((from, _)) if !self.allowed.contains(&canonical_ip(from.ip())) => {
                    self.dropped = self.dropped.saturating_add(1);
                    if self.dropped.is_power_of_two() {
                        tracing::debug!(%from, dropped = self.dropped, "control datagram from a stranger dropped");
                    }
                }
                other => return Ok(other),
            }
        }
    }
}

pub struct ControlServer {
    socket: Mutex<Option<UdpSocket>>,
    lookup: Mutex<Option<SessionLookup>>,
    commands: Sender<ControlCommand>,
    inbox: Mutex<Option<Receiver<ControlCommand>>>,
}

impl ControlServer {
    pub fn new(socket: UdpSocket, lookup: SessionLookup) -> Self {
        let (commands, inbox) = mpsc::channel();
        ControlServer {
            socket: Mutex::new(Some(socket)),
            lookup: Mutex::new(Some(lookup)),
            commands,
            inbox: Mutex::new(Some(inbox)),
        }
    }

    /// Starts the ENet thread (once).
    pub fn start(&self) -> Result<JoinHandle<()>> {
        let socket = self
            .socket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .context("the control server runs once")?;
        let inbox = self
            .inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .context("the control server runs once")?;
        let host = Host::new(
            GatedSocket::new(socket),
            HostSettings {
                peer_limit: PEER_LIMIT,
                channel_limit: CHANNELS,
                ..HostSettings::default()
            },
        )
        .map_err(|e| anyhow::anyhow!("creating the ENet host: {e:?}"))?;
        let lookup = self
            .lookup
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .context("the control server runs once")?;
        std::thread::Builder::new()
            .name("gs-control".into())
            .spawn(move || {
                Control {
                    host,
                    peers: HashMap::new(),
                    half_open: HashMap::new(),
                    lookup,
                }
                .run(&inbox)
            })
            .context("starting the control thread")
    }

    pub fn command(&self, command: ControlCommand) {
        // A stopped thread has nobody left to tell.
        let _ = self.commands.send(command);
    }

    /// Where a session's injector sends its pads' feedback: each one that GameStream can carry
    /// goes to the client as its control message.
    pub fn feedback_sender(&self, connect_data: u32) -> impl FnMut(Feedback) + Send + 'static {
        let commands = self.commands.clone();
        move |feedback| {
            if let Some(message) = feedback_message(&feedback) {
                let _ = commands.send(ControlCommand::Send {
                    connect_data,
                    message,
                });
            }
        }
    }

    pub fn shutdown(&self) {
        self.command(ControlCommand::Shutdown);
    }
}

struct PeerSession {
    session: Arc<Session>,
    cipher: HostControl,
    last_heard: Instant,
    pads: PadBridge,
}

struct Control {
    host: Host<GatedSocket>,
    peers: HashMap<PeerID, PeerSession>,
    /// Peers in the middle of the ENet handshake and since when.
    half_open: HashMap<PeerID, Instant>,
    lookup: SessionLookup,
}

impl Control {
    fn run(mut self, inbox: &Receiver<ControlCommand>) {
        loop {
            loop {
                match inbox.try_recv() {
                    Ok(ControlCommand::Terminate { connect_data, code }) => {
                        self.terminate(connect_data, code)
                    }
                    Ok(ControlCommand::Send {
                        connect_data,
                        message,
                    }) => self.send(connect_data, &message),
                    Ok(ControlCommand::Shutdown) | Err(mpsc::TryRecvError::Disconnected) => {
                        self.host.flush();
                        return;
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            self.open_gate();
            loop {
                match self.host.service() {
                    Ok(Some(event)) => {
                        let event = event.no_ref();
                        self.on_event(event)
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!("ENet socket: {e}");
                        break;
                    }
                }
            }
            self.expire_silent();
            self.reset_half_open();
            self.wait_readable();
        }
    }

    fn on_event(&mut self, event: EventNoRef) {
        match event {
            EventNoRef::Connect { peer: id, data } => {
                self.half_open.remove(&id);
                let address = self.host.get_peer(id).and_then(|p| p.address());
                let admitted = match ((self.lookup)(), address) {
                    (Some(session), Some(address)) => admit(&session, address.ip(), data)
                        .map(|()| session)
                        .map_err(|why| why.to_string()),
                    (None, _) => Err(Refusal::NoSession.to_string()),
                    (_, None) => Err("the peer has no address".into()),
                };
                let matched = admitted.and_then(|session| {
                    HostControl::new(&session.request.rikey)
                        .map(|cipher| (session, cipher))
                        .map_err(|e| format!("control cipher: {e}"))
                });
                let (session, cipher) = match matched {
                    Ok(matched) => matched,
                    Err(why) => {
                        tracing::info!(?address, data, "ENet peer refused: {why}");
                        if let Some(peer) = self.host.get_peer_mut(id) {
                            peer.disconnect_now(0);
                        }
                        return;
                    }
                };
                tracing::info!(session = %session.id, ?address, "GameStream control stream connected");
                session.control_connected.store(true, Ordering::Relaxed);
                // A client that asked for HDR learns at once whether the stream is HDR.
                let hdr_mode = session.announced().and_then(|a| a.hdr_mode());
                let (session_id, connect_data) = (session.id.clone(), session.connect_data);
                self.peers.insert(
                    id,
                    PeerSession {
                        session,
                        cipher,
                        last_heard: Instant::now(),
                        pads: PadBridge::new(),
                    },
                );
                if let Some(message) = hdr_mode {
                    tracing::info!(session = %session_id, ?message, "HDR mode sent");
                    self.send(connect_data, &message);
                }
            }
            EventNoRef::Disconnect { peer: id, .. } => {
                if let Some(p) = self.peers.remove(&id) {
                    p.session.lose("the client disconnected");
                }
            }
            EventNoRef::Receive {
                peer: id,
                channel_id,
                packet,
            } => {
                let Some(p) = self.peers.get_mut(&id) else {
                    return;
                };
                p.last_heard = Instant::now();
                match p.cipher.open(packet.data()) {
                    Ok(message) => {
                        let replies = on_message(&p.session, &mut p.pads, message);
                        let connect_data = p.session.connect_data;
                        for reply in replies {
                            self.send(connect_data, &reply);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(session = %p.session.id, channel_id, "control packet dropped: {e}")
                    }
                }
            }
        }
    }

    fn send(&mut self, connect_data: u32, message: &HostMessage) {
        for (id, p) in self
            .peers
            .iter_mut()
            .filter(|(_, p)| p.session.connect_data == connect_data)
        {
            let Some(peer) = self.host.get_peer_mut(*id) else {
                continue;
            };
            match p.cipher.seal(message) {
                Ok(bytes) => {
                    if let Err(e) = peer.send(0, &Packet::reliable(bytes)) {
                        tracing::debug!(session = %p.session.id, "control message: {e}");
                    }
                }
                Err(e) => tracing::warn!("sealing a control message: {e}"),
            }
        }
    }

    fn terminate(&mut self, connect_data: u32, code: u32) {
        let ids: Vec<PeerID> = self
            .peers
            .iter()
            .filter(|(_, p)| p.session.connect_data == connect_data)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let Some(mut p) = self.peers.remove(&id) else {
                continue;
            };
            let Some(peer) = self.host.get_peer_mut(id) else {
                continue;
            };
            match p.cipher.seal(&HostMessage::Termination { code }) {
                Ok(bytes) => {
                    if let Err(e) = peer.send(0, &Packet::reliable(bytes)) {
                        tracing::debug!("termination message: {e}");
                    }
                }
                Err(e) => tracing::warn!("sealing the termination message: {e}"),
            }
            // After the queued termination message has gone out.
            peer.disconnect_later(0);
            tracing::info!(session = %p.session.id, "GameStream control stream terminated");
        }
        self.host.flush();
    }

    /// Lets through the running session's launching client and every attached peer (so a peer
    /// whose session just ended can still finish its disconnect).
    fn open_gate(&mut self) {
        let mut allowed: Vec<IpAddr> = self
            .peers
            .keys()
            .filter_map(|id| self.host.get_peer(*id).and_then(|p| p.address()))
            .map(|a| canonical_ip(a.ip()))
            .collect();
        if let Some(session) = (self.lookup)() {
            allowed.push(session.request.client_ip);
        }
        self.host.socket_mut().allowed = allowed;
    }

    /// Resets peers that started the ENet handshake but did not finish it in time.
    fn reset_half_open(&mut self) {
        let now = Instant::now();
        let mut stuck = Vec::new();
        for peer in self.host.peers() {
            let id = peer.id();
            let handshaking = matches!(
                peer.state(),
                PeerState::Connecting
                    | PeerState::AcknowledgingConnect
                    | PeerState::ConnectionPending
                    | PeerState::ConnectionSucceeded
            );
            if !handshaking {
                self.half_open.remove(&id);
                continue;
            }
            let since = *self.half_open.entry(id).or_insert(now);
            if now.duration_since(since) > HALF_OPEN_LIMIT {
                stuck.push((id, peer.address()));
            }
        }
        for (id, address) in stuck {
            tracing::info!(
                ?address,
                "ENet peer reset: handshake not finished within 3 s"
            );
            self.half_open.remove(&id);
            if let Some(peer) = self.host.get_peer_mut(id) {
                peer.reset();
            }
        }
    }

    fn expire_silent(&mut self) {
        let silent: Vec<PeerID> = self
            .peers
            .iter()
            .filter(|(_, p)| p.last_heard.elapsed() > SILENCE_TIMEOUT)
            .map(|(id, _)| *id)
            .collect();
        for id in silent {
            if let Some(p) = self.peers.remove(&id) {
                p.session.lose("the control stream was silent for 10 s");
            }
            if let Some(peer) = self.host.get_peer_mut(id) {
                peer.disconnect_now(0);
            }
        }
    }

    /// Sleeps until a datagram arrives or a tick passes (ENet's own timers run in `service`).
    fn wait_readable(&self) {
        let fd = self.host.socket().inner.as_fd();
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let timeout = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: TICK.as_nanos() as _,
        };
        let _ = rustix::event::poll(&mut fds, Some(&timeout));
    }
}

/// Acts on one message from the client; returns what to answer it with.
fn on_message(session: &Session, pads: &mut PadBridge, message: ClientMessage) -> Vec<HostMessage> {
    match message {
        ClientMessage::RequestIdr => {
            tracing::debug!(session = %session.id, "IDR requested");
            session
                .video
                .keyframe_requested
                .store(true, Ordering::Relaxed);
        }
        // Reference-frame invalidation is not advertised; a client that sends it anyway gets the
        // safe answer, a keyframe.
        ClientMessage::InvalidateReferenceFrames { first, last } => {
            tracing::debug!(session = %session.id, first, last, "reference frames lost: keyframe");
            session
                .video
                .keyframe_requested
                .store(true, Ordering::Relaxed);
        }
        ClientMessage::Input(event) => {
            if let Some(translated) = super::input_bridge::translate(&event) {
                session.send_input(translated);
                return Vec::new();
            }
            let mut translated = Vec::new();
            pads.translate(&event, &mut translated);
            if translated.is_empty() {
                tracing::trace!(session = %session.id, ?event, "input kind not injected");
            }
            for event in translated {
                session.send_input(event);
            }
            return PadBridge::requests(&event);
        }
        ClientMessage::StartB
        | ClientMessage::PeriodicPing
        | ClientMessage::FrameFecStatus(_)
        | ClientMessage::LtrAck { .. }
        | ClientMessage::Unknown { .. } => {}
    }
    Vec::new()
}

#[cfg(test)]
mod tests;
