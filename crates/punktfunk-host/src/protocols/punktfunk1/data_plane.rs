//! The punktfunk/1 data plane on native threads: one shared UDP socket, a receiver thread that learns
//! each session's client address from its authenticated registration datagrams, and per session the
//! shared frame pipeline (`stream::pipeline`) with the punktfunk/1 [`VideoFramer`].

use super::video_framer::VideoFramer;
use crate::stream::{DatagramOutput, PacedSender, VideoSource};
use anyhow::{Context, Result};
use punktfunk_core::audio::packet::AudioPayload;
use punktfunk_core::crypto::{DirectionKey, Opener, SessionKeys};
use punktfunk_core::packetize::{FecConfig, Packetizer, PacketizerConfig};
use punktfunk_core::wire::{PacketHeader, StreamKind};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use super::session_control::SessionControl;

/// DSCP AF41 (interactive video) in the IP TOS byte.
const TOS_AF41: u32 = 0x88;

struct Registration {
    opener: Opener,
    control: Arc<SessionControl>,
    /// The client's microphone stream, when the session has one (its own key, so its own opener).
    mic: Option<MicInput>,
}

/// Receives one opened microphone frame: its index and audio payload.
pub type MicFeed = Box<dyn Fn(u32, AudioPayload<'_>) + Send>;

struct MicInput {
    opener: Opener,
    feed: MicFeed,
}

/// The shared data socket and the table of sessions it serves.
pub struct DataPlane {
    socket: Arc<UdpSocket>,
    /// Sends video from the shared socket (segmentation offload where the kernel has it).
    sender: PacedSender,
    sessions: Arc<Mutex<HashMap<u32, Registration>>>,
    stop: Arc<AtomicBool>,
    receiver: Option<JoinHandle<()>>,
}

fn enlarge(socket: &UdpSocket) -> Result<()> {
    let s = socket2::SockRef::from(socket);
    // Best effort: the kernel caps these at net.core.[rw]mem_max.
    let _ = s.set_send_buffer_size(8 << 20);
    let _ = s.set_recv_buffer_size(8 << 20);
    if socket.local_addr()?.is_ipv4() {
        let _ = s.set_tos_v4(TOS_AF41);
    } else {
        let _ = s.set_tclass_v6(TOS_AF41);
    }
    Ok(())
}

impl DataPlane {
    pub fn bind(addr: SocketAddr) -> Result<DataPlane> {
        let socket =
            UdpSocket::bind(addr).with_context(|| format!("binding the data port {addr}"))?;
        enlarge(&socket)?;
        let socket = Arc::new(socket);
        let sender = PacedSender::new(socket.clone())?;
        // Blocking sends (back-pressure instead of drops) and a timed receive.
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        match sender.max_segments() {
            1 => tracing::info!(
                "data plane: no UDP segmentation offload here; one send per datagram"
            ),
            n => tracing::info!(
                segments = n,
                "data plane: UDP GSO, up to {n} datagrams per send"
            ),
        }
        let fec = FecConfig::default();
        tracing::info!(
            max_data_per_block = fec.max_data_per_block,
            gf8_max_data = fec.gf8_max_data,
            "data plane: {}",
            punktfunk_core::fec::gf8_kernel::active_kernel().describe()
        );
        let sessions: Arc<Mutex<HashMap<u32, Registration>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let receiver = {
            let (socket, sessions, stop) = (socket.clone(), sessions.clone(), stop.clone());
            std::thread::Builder::new()
                .name("pkf1-data-rx".into())
                .spawn(move || receive_loop(&socket, &sessions, &stop))?
        };
        Ok(DataPlane {
            socket,
            sender,
            sessions,
            stop,
            receiver: Some(receiver),
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    /// Registers a session so its client can announce its data address (before the Welcome goes
    /// out: the client registers as soon as it has the session id).
    pub fn register(
        &self,
        session_id: u32,
        keys: &SessionKeys,
        control: Arc<SessionControl>,
    ) -> Result<()> {
        let opener = Opener::new(&keys.client_to_host, session_id)?;
        self.lock().insert(
            session_id,
            Registration {
                opener,
                control,
                mic: None,
            },
        );
        Ok(())
    }

    /// Accepts the session's microphone stream (stream kind audio, client → host, under `key`) and
    /// hands every opened frame to `feed`.
    pub fn attach_mic(&self, session_id: u32, key: &DirectionKey, feed: MicFeed) -> Result<()> {
        let opener = Opener::new(key, session_id)?;
        if let Some(reg) = self.lock().get_mut(&session_id) {
            reg.mic = Some(MicInput { opener, feed });
        }
        Ok(())
    }

    /// The data socket, for senders beside the video frame loop (audio).
    pub fn socket(&self) -> Arc<UdpSocket> {
        self.socket.clone()
    }

    /// Starts a registered session's video: the frame pipeline on its own thread, which owns the
    /// source (and with it the client's display) until the session stops.
    pub fn start_sender(
        &self,
        session_id: u32,
        keys: &SessionKeys,
        mut source: VideoSource,
        max_datagram: usize,
        control: Arc<SessionControl>,
    ) -> Result<JoinHandle<()>> {
        let mut config = PacketizerConfig::new(StreamKind::Video, session_id);
        config.max_datagram = max_datagram;
        config.fec = FecConfig {
            parity_percent: control.parity_percent.load(Ordering::Relaxed) as u16,
            ..FecConfig::default()
        };
        let packetizer = Packetizer::new(config, &keys.host_to_client)?;
        let sender = self.sender.clone();
        Ok(std::thread::Builder::new()
            .name(format!("pkf1-tx-{session_id:08x}"))
            .spawn(move || {
                let mut framer = VideoFramer::new(packetizer, control.clone());
                let result = crate::stream::pipeline::run(
                    &mut source,
                    &mut DatagramOutput::new(&mut framer, &sender),
                    &control.video,
                    &control.stop,
                );
                if let Err(e) = result {
                    tracing::error!("video failed: {e:#}; ending session");
                    control.stop.store(true, Ordering::Relaxed);
                }
            })?)
    }

    /// Forgets a session: its datagrams are no longer accepted.
    pub fn end_session(&self, session_id: u32) {
        self.lock().remove(&session_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Registration>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.receiver.take() {
            let _ = t.join();
        }
    }
}

/// Accepts authenticated datagrams from clients; today these are registrations/keepalives that tell
/// the host where to send. Everything else is counted and dropped.
fn receive_loop(
    socket: &UdpSocket,
    sessions: &Mutex<HashMap<u32, Registration>>,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; 65_536];
    let mut rejected = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "data socket receive error");
                continue;
            }
        };
        let datagram = &mut buf[..len];
        let Ok(header) = PacketHeader::decode(datagram) else {
            rejected += 1;
            if rejected.is_power_of_two() {
                tracing::debug!(rejected, %from, "dropping malformed datagrams on the data port");
            }
            continue;
        };
        let mut table = sessions.lock().unwrap_or_else(|p| p.into_inner());
        let Some(reg) = table.get_mut(&header.session_id) else {
            continue;
        };
        if header.kind == StreamKind::Audio {
            receive_mic(reg, datagram, from);
            continue;
        }
        match reg.opener.open(datagram) {
            Ok((h, _)) if h.kind == StreamKind::Probe => {
                let mut addr = reg
                    .control
                    .client_addr
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if *addr != Some(from) {
                    tracing::info!(session = format!("{:08x}", h.session_id), %from, "client data address");
                    *addr = Some(from);
                }
            }
            Ok(_) => {}
            Err(reason) => tracing::trace!(%reason, %from, "rejected data-plane datagram"),
        }
    }
}

/// A microphone datagram: opened with the mic stream's key and fed to the virtual microphone.
fn receive_mic(reg: &mut Registration, datagram: &mut [u8], from: SocketAddr) {
    let Some(mic) = &mut reg.mic else {
        tracing::trace!(%from, "audio datagram for a session without a microphone");
        return;
    };
    match mic.opener.open(datagram) {
        Ok((h, plaintext)) => match punktfunk_core::audio::framing::audio_frame(&h, plaintext) {
            Ok(payload) => (mic.feed)(h.frame_index, payload),
            Err(e) => tracing::trace!(%from, "bad microphone frame: {e}"),
        },
        Err(reason) => tracing::trace!(%reason, %from, "rejected microphone datagram"),
    }
}
