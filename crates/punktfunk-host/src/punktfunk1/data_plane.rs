//! The punktfunk/1 data plane on native threads: one shared UDP socket, a receiver thread that learns
//! each session's client address from its authenticated registration datagrams, and one sender thread
//! per session that runs the frame loop (source → packetize/FEC/seal → pace → send), each stage timed.

use crate::source::FrameSource;
use crate::ticker::Ticker;
use anyhow::{Context, Result};
use punktfunk_core::audio::packet::AudioPayload;
use punktfunk_core::crypto::{DirectionKey, Opener, SessionKeys};
use punktfunk_core::packetize::{
    DatagramBatch, FecConfig, FrameInput, Packetizer, PacketizerConfig,
};
use punktfunk_core::wire::{PacketHeader, StreamKind};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// DSCP AF41 (interactive video) in the IP TOS byte.
const TOS_AF41: u32 = 0x88;
/// Longest a frame's packets are spread over, as a fraction of the frame interval.
const PACING_FRACTION: f64 = 0.5;
/// Frames are paced at this multiple of the stream's bitrate (so an average frame takes a third of its
/// interval to leave), but never slower than [`PACING_FLOOR_BPS`]: pacing smooths bursts into router
/// queues without adding more latency than the link needs.
const PACING_BITRATE_MULTIPLE: f64 = 3.0;
const PACING_FLOOR_BPS: f64 = 500e6;
/// Largest payload of one segmentation-offload send (the UDP length field's limit, less headers).
const MAX_GSO_PAYLOAD: usize = 65_000;
/// Bursts a frame's packets are paced in.
const PACING_BURSTS: usize = 8;

/// What the control plane changes while a session runs; the sender reads it once per frame.
pub struct SessionControl {
    pub bitrate_kbps: AtomicU32,
    pub parity_percent: AtomicU32,
    pub keyframe_requested: AtomicBool,
    pub stop: AtomicBool,
    /// Client data address, learned from its registration datagrams.
    pub client_addr: Mutex<Option<SocketAddr>>,
    pub frames_sent: AtomicU64,
    pub datagrams_sent: AtomicU64,
}

impl SessionControl {
    pub fn new(bitrate_kbps: u32, parity_percent: u16) -> Arc<Self> {
        Arc::new(SessionControl {
            bitrate_kbps: AtomicU32::new(bitrate_kbps),
            parity_percent: AtomicU32::new(u32::from(parity_percent)),
            keyframe_requested: AtomicBool::new(true),
            stop: AtomicBool::new(false),
            client_addr: Mutex::new(None),
            frames_sent: AtomicU64::new(0),
            datagrams_sent: AtomicU64::new(0),
        })
    }
}

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
    /// Segmentation offload state: one `sendmsg` carries up to `max_gso_segments()` datagrams.
    udp: Arc<quinn_udp::UdpSocketState>,
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

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl DataPlane {
    pub fn bind(addr: SocketAddr) -> Result<DataPlane> {
        let socket =
            UdpSocket::bind(addr).with_context(|| format!("binding the data port {addr}"))?;
        enlarge(&socket)?;
        let udp = Arc::new(quinn_udp::UdpSocketState::new((&socket).into())?);
        // quinn-udp switches the socket to non-blocking; the data-plane threads want blocking sends
        // (back-pressure instead of drops) and a timed receive.
        socket.set_nonblocking(false)?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        match udp.max_gso_segments() {
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
        let socket = Arc::new(socket);
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
            udp,
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

    /// Starts a registered session's sender thread.
    pub fn start_sender(
        &self,
        session_id: u32,
        keys: &SessionKeys,
        mut source: Box<dyn FrameSource>,
        fps_mhz: u32,
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
        let sender = Sender {
            socket: self.socket.clone(),
            udp: self.udp.clone(),
        };
        let interval = Duration::from_secs_f64(1000.0 / f64::from(fps_mhz.max(1000)));
        Ok(std::thread::Builder::new()
            .name(format!("pkf1-tx-{session_id:08x}"))
            .spawn(move || {
                frame_loop(&sender, packetizer, source.as_mut(), interval, &control);
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
        Ok((h, plaintext)) => match punktfunk_client::audio::audio_frame(&h, plaintext) {
            Ok(payload) => (mic.feed)(h.frame_index, payload),
            Err(e) => tracing::trace!(%from, "bad microphone frame: {e}"),
        },
        Err(reason) => tracing::trace!(%reason, %from, "rejected microphone datagram"),
    }
}

/// The per-session frame loop: one frame per interval, sent as paced bursts.
fn frame_loop(
    sender: &Sender,
    mut packetizer: Packetizer,
    source: &mut dyn FrameSource,
    interval: Duration,
    control: &SessionControl,
) {
    let mut batch = DatagramBatch::new();
    let mut frame = Vec::new();
    let mut ticker = Ticker::new(interval, 4);
    let mut number = 0u64;
    let mut stage = StageTimes::default();
    while !control.stop.load(Ordering::Relaxed) {
        ticker.wait();
        let Some(dest) = *control
            .client_addr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
        else {
            continue;
        };

        let t0 = Instant::now();
        let keyframe = control.keyframe_requested.swap(false, Ordering::Relaxed);
        let bitrate = control.bitrate_kbps.load(Ordering::Relaxed);
        // The capture time travels in the packets' pts so the client can measure latency.
        let capture_us = now_us();
        let keyframe = match source.next_frame(number, capture_us, keyframe, bitrate, &mut frame) {
            Ok(keyframe) => keyframe,
            Err(e) => {
                tracing::error!("frame source failed: {e:#}; ending session");
                break;
            }
        };
        let capture_us = source.last_capture_us().unwrap_or(capture_us);
        let t1 = Instant::now();
        let parity = control.parity_percent.load(Ordering::Relaxed) as u16;
        if parity != packetizer.config().fec.parity_percent {
            packetizer.set_fec(FecConfig {
                parity_percent: parity,
                ..packetizer.config().fec
            });
        }
        let input = FrameInput {
            data: &frame,
            pts_us: capture_us,
            keyframe,
            recovery_point: false,
        };
        if let Err(e) = packetizer.packetize(input, &mut batch) {
            tracing::error!(error = %e, "packetizing failed; ending session");
            break;
        }
        let t2 = Instant::now();
        let rate = (f64::from(bitrate) * 1000.0 * PACING_BITRATE_MULTIPLE).max(PACING_FLOOR_BPS);
        let span = Duration::from_secs_f64(batch.as_bytes().len() as f64 * 8.0 / rate);
        sender.send_paced(&batch, dest, span.min(interval.mul_f64(PACING_FRACTION)));
        let t3 = Instant::now();
        control.frames_sent.fetch_add(1, Ordering::Relaxed);
        control
            .datagrams_sent
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        stage.add(t1 - t0, t2 - t1, t3 - t2);
        number += 1;
    }
    stage.log();
}

/// One session's handle on the shared socket.
struct Sender {
    socket: Arc<UdpSocket>,
    udp: Arc<quinn_udp::UdpSocketState>,
}

impl Sender {
    /// Sends the batch in [`PACING_BURSTS`] bursts spread over `span`; each burst goes out in as
    /// few GSO sends as the kernel allows.
    fn send_paced(&self, batch: &DatagramBatch, dest: SocketAddr, span: Duration) {
        let len = batch.datagram_len();
        let per_burst = batch.len().div_ceil(PACING_BURSTS).max(1);
        let gap = span / PACING_BURSTS as u32;
        // One GSO send carries at most 64 KiB of payload in all; the kernel refuses larger ones (and
        // quinn-udp reports that refusal as success).
        let per_send = self
            .udp
            .max_gso_segments()
            .min(MAX_GSO_PAYLOAD / len.max(1))
            .max(1);
        let start = Instant::now();
        for (burst, datagrams) in batch.as_bytes().chunks(per_burst * len).enumerate() {
            let due = start + gap * burst as u32;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            for contents in datagrams.chunks(per_send * len) {
                let transmit = quinn_udp::Transmit {
                    destination: dest,
                    ecn: None,
                    contents,
                    segment_size: (contents.len() > len).then_some(len),
                    src_ip: None,
                };
                // A failed send loses these datagrams like the network would; FEC and keyframes recover.
                if let Err(e) = self.udp.send((&*self.socket).into(), &transmit) {
                    tracing::trace!(error = %e, "data-plane send failed");
                }
            }
        }
    }
}

#[derive(Default)]
struct StageTimes {
    frames: u32,
    source: Duration,
    packetize: Duration,
    send: Duration,
}

impl StageTimes {
    fn add(&mut self, source: Duration, packetize: Duration, send: Duration) {
        self.frames += 1;
        self.source += source;
        self.packetize += packetize;
        self.send += send;
        if self.frames == 600 {
            self.log();
            *self = StageTimes::default();
        }
    }
    fn log(&self) {
        if self.frames == 0 {
            return;
        }
        let avg = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(self.frames);
        tracing::debug!(
            frames = self.frames,
            source_us = format!("{:.0}", avg(self.source)),
            packetize_us = format!("{:.0}", avg(self.packetize)),
            send_us = format!("{:.0}", avg(self.send)),
            "frame loop stage times (mean)"
        );
    }
}
