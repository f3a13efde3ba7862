//! The control stream: ENet (`rusty_enet`, the wire format of Moonlight's ENet fork) on UDP base+10,
//! on its own thread. A peer belongs to the session whose `X-SS-Connect-Data` it sends as connect
//! data (never matched by address); every packet is the encrypted control envelope (core
//! `HostControl`). IDR and reference-invalidation requests become keyframe requests; input goes to
//! the session's injector (controllers through a [`PadBridge`] per peer), and the pads' feedback
//! (rumble, lights, trigger effects) comes back as control messages; any event from the peer resets
//! its 10 s silence timeout; a disconnect or timeout ends the stream. The host sends the
//! termination message when a session ends for any other reason.

use super::pad_bridge::{PadBridge, feedback_message};
use super::stream::Session;
use anyhow::{Context, Result};
use punktfunk_core::control::input::Feedback;
use punktfunk_core::gamestream::control::{ClientMessage, HostControl, HostMessage};
use rusty_enet::{EventNoRef, Host, HostSettings, Packet, PeerID};
use std::collections::HashMap;
use std::net::UdpSocket;
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

/// Finds the session an ENet connect data value names.
pub type SessionLookup = Box<dyn Fn(u32) -> Option<Arc<Session>> + Send>;

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
            socket,
            HostSettings {
                peer_limit: 8,
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
    host: Host<UdpSocket>,
    peers: HashMap<PeerID, PeerSession>,
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
            self.wait_readable();
        }
    }

    fn on_event(&mut self, event: EventNoRef) {
        match event {
            EventNoRef::Connect { peer: id, data } => {
                let address = self.host.get_peer(id).and_then(|p| p.address());
                let matched = (self.lookup)(data).and_then(|session| {
                    match HostControl::new(&session.request.rikey) {
                        Ok(cipher) => Some((session, cipher)),
                        Err(e) => {
                            tracing::warn!("control cipher: {e}");
                            None
                        }
                    }
                });
                let Some((session, cipher)) = matched else {
                    tracing::info!(?address, data, "ENet connect matches no launched session");
                    if let Some(peer) = self.host.get_peer_mut(id) {
                        peer.disconnect_now(0);
                    }
                    return;
                };
                tracing::info!(session = %session.id, ?address, "GameStream control stream connected");
                session.control_connected.store(true, Ordering::Relaxed);
                self.peers.insert(
                    id,
                    PeerSession {
                        session,
                        cipher,
                        last_heard: Instant::now(),
                        pads: PadBridge::new(),
                    },
                );
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
        let fd = self.host.socket().as_fd();
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
            session.keyframe.store(true, Ordering::Relaxed);
        }
        // Reference-frame invalidation is not advertised; a client that sends it anyway gets the
        // safe answer, a keyframe.
        ClientMessage::InvalidateReferenceFrames { first, last } => {
            tracing::debug!(session = %session.id, first, last, "reference frames lost: keyframe");
            session.keyframe.store(true, Ordering::Relaxed);
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
#[path = "control_server_tests.rs"]
mod tests;
