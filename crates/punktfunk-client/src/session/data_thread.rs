//! The native data-plane thread: registers with the host's data port, feeds the receiver from a
//! plain UDP socket, and hands feedback and keyframe requests to the control task without ever
//! blocking on it (`try_send` only).

use super::clock::WallClock;
use super::error::{SessionError, other};
use super::receiver::{DataStats, FrameChecks, StreamReceiver};
use crate::audio::{AudioReceiver, MicSender};
use punktfunk_core::control::Codec;
use punktfunk_core::control::{ClockSample, Feedback};
use punktfunk_core::crypto::SessionKeys;
use punktfunk_core::packetize::{
    DatagramBatch, FecConfig, FrameInput, Packetizer, PacketizerConfig,
};
use punktfunk_core::wire::{PacketHeader, StreamKind};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::mpsc::{Receiver as StdReceiver, TryRecvError};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How often the receiver reports to the host.
pub const FEEDBACK_INTERVAL: Duration = Duration::from_millis(100);
/// Registration interval until the first video datagram arrives, and afterwards (NAT keep-alive).
pub const REGISTER_INTERVAL: Duration = Duration::from_millis(200);
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// Socket read timeout of the data thread (bounds how late timers fire).
const READ_TIMEOUT: Duration = Duration::from_millis(5);
/// Receive buffer the data socket asks for.
const RECV_BUFFER: usize = 8 << 20;
pub(super) const REGISTER_PAYLOAD: &[u8] = b"register";

/// Control task → data thread.
pub(super) enum ToData {
    Clock(ClockSample),
    /// `Start` went out: register again at once, in case the host only accepts registrations after it.
    Started,
}

/// Data thread → control task.
#[derive(Debug)]
pub(super) enum FromData {
    /// The first registration datagram went out: time to send `Start`.
    Registered,
    Feedback(Feedback),
    KeyframeRequest(u32),
    Failed(String),
}

pub(super) struct DataParams {
    pub(super) host_data: SocketAddr,
    pub(super) session_id: u32,
    pub(super) keys: SessionKeys,
    pub(super) max_datagram: u16,
    pub(super) clock: WallClock,
    pub(super) start: Instant,
    pub(super) codec: Codec,
    pub(super) expect_stamps: bool,
    pub(super) keep_last_picture: bool,
    pub(super) size: (u32, u32),
    pub(super) audio: DataAudio,
}

/// The audio streams a session negotiated: the host's (received here) and the microphone (sent).
pub(super) struct DataAudio {
    /// Host audio channels and that stream's keys.
    receive: Option<(u8, SessionKeys)>,
    /// Microphone tone (Hz) and that stream's keys.
    mic: Option<(f64, SessionKeys)>,
}

impl DataAudio {
    pub(super) fn negotiate(
        opts: &super::options::SessionOptions,
        welcome: &punktfunk_core::control::Welcome,
        secret: &[u8],
    ) -> Result<DataAudio, SessionError> {
        let keys = || {
            SessionKeys::derive_stream(secret, welcome.session_id, StreamKind::Audio)
                .map_err(|e| other("audio keys", e))
        };
        let receive = match (opts.audio_channels, welcome.audio_channels) {
            (0, _) => None,
            (_, 0) => {
                tracing::warn!("the host sends no audio");
                None
            }
            (_, n) => Some((n, keys()?)),
        };
        let mic = match (opts.mic_tone_hz, welcome.mic_channels) {
            (None, _) => None,
            (Some(_), 0) => {
                tracing::warn!("the host takes no microphone");
                None
            }
            (Some(hz), _) => Some((hz, keys()?)),
        };
        Ok(DataAudio { receive, mic })
    }
}

fn bind_data_socket(host: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(host), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = socket.set_recv_buffer_size(RECV_BUFFER) {
        tracing::warn!("could not enlarge the data socket's receive buffer: {e}");
    }
    let local: SocketAddr = if host.is_ipv6() {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    socket.bind(&local.into())?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(READ_TIMEOUT))?;
    let granted = socket2::SockRef::from(&socket)
        .recv_buffer_size()
        .unwrap_or(0);
    // Linux reports twice the size it was asked for, capped by net.core.rmem_max.
    if granted < RECV_BUFFER {
        tracing::warn!(
            granted,
            "data socket receive buffer is smaller than the 8 MiB asked for; raise net.core.rmem_max"
        );
    }
    tracing::debug!(local = ?socket.local_addr().ok(), granted, "data socket bound");
    Ok(socket)
}

/// The data thread: registers with the host, receives until the control task hangs up.
pub(super) fn run_data_plane(
    p: DataParams,
    control: StdReceiver<ToData>,
    events: mpsc::Sender<FromData>,
) -> Result<DataStats, SessionError> {
    let result = data_loop(p, control, &events);
    if let Err(e) = &result {
        let _ = events.try_send(FromData::Failed(e.to_string()));
    }
    result
}

fn data_loop(
    p: DataParams,
    control: StdReceiver<ToData>,
    events: &mpsc::Sender<FromData>,
) -> Result<DataStats, SessionError> {
    let socket = bind_data_socket(p.host_data)?;
    let mut reg_config = PacketizerConfig::new(StreamKind::Probe, p.session_id);
    reg_config.fec = FecConfig::disabled();
    reg_config.max_datagram = usize::from(p.max_datagram);
    let mut registrar = Packetizer::new(reg_config, &p.keys.client_to_host)
        .map_err(|e| other("data-plane key", e))?;
    let mut reg_batch = DatagramBatch::new();
    let mut rx = StreamReceiver::new(
        p.start,
        p.clock,
        &p.keys,
        p.session_id,
        FrameChecks {
            codec: p.codec,
            expect_stamps: p.expect_stamps,
            keep_last_picture: p.keep_last_picture,
            size: p.size,
        },
    )?;
    let mut audio = match &p.audio.receive {
        Some((channels, keys)) => Some(
            AudioReceiver::new(*channels, p.session_id, &keys.host_to_client)
                .map_err(|e| other("audio receiver", e))?,
        ),
        None => None,
    };
    let mut mic = match &p.audio.mic {
        Some((hz, keys)) => Some(
            MicSender::new(*hz, p.session_id, &keys.client_to_host, Instant::now())
                .map_err(|e| other("microphone", e))?,
        ),
        None => None,
    };
    let mut buf = vec![0u8; 65_536];
    let mut registered = false;
    let mut next_register = Instant::now();
    let mut next_feedback = p.start + FEEDBACK_INTERVAL;

    'run: loop {
        loop {
            match control.try_recv() {
                Ok(ToData::Clock(sample)) => rx.sync.add(sample),
                Ok(ToData::Started) if !rx.got_video() => next_register = Instant::now(),
                Ok(ToData::Started) => {}
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => break 'run,
            }
        }
        let now = Instant::now();
        if now >= next_register {
            registrar
                .packetize(
                    FrameInput {
                        data: REGISTER_PAYLOAD,
                        pts_us: p.clock.at_us(now),
                        keyframe: false,
                        recovery_point: false,
                    },
                    &mut reg_batch,
                )
                .map_err(|e| other("registration datagram", e))?;
            for datagram in reg_batch.iter() {
                if let Err(e) = socket.send_to(datagram, p.host_data) {
                    tracing::warn!("registration to {} failed: {e}", p.host_data);
                }
            }
            if !registered {
                registered = true;
                let _ = events.try_send(FromData::Registered);
            }
            let interval = if rx.got_video() {
                KEEPALIVE_INTERVAL
            } else {
                REGISTER_INTERVAL
            };
            next_register = now + interval;
        }
        if now >= next_feedback {
            let feedback = rx.take_feedback(now);
            if events.try_send(FromData::Feedback(feedback)).is_ok() {
                rx.stats.feedback_sent += 1;
            }
            next_feedback = (next_feedback + FEEDBACK_INTERVAL).max(now);
        }
        if let Some(first) = rx.due_keyframe_request(now)
            && events.try_send(FromData::KeyframeRequest(first)).is_ok()
        {
            rx.keyframe_request_sent(now);
        }

        if let Some(mic) = &mut mic
            && registered
            && let Err(e) = mic.on_tick(now, &socket, p.host_data, |t| p.clock.at_us(t))
        {
            tracing::warn!("microphone: {e}");
        }
        match socket.recv_from(&mut buf) {
            Ok((n, _from)) => match (&mut audio, PacketHeader::decode(&buf[..n])) {
                (Some(audio), Ok(h)) if h.kind == StreamKind::Audio => {
                    audio.on_datagram(p.clock.now_us(), &mut buf[..n], &rx.sync)
                }
                _ => rx.on_datagram(Instant::now(), &mut buf[..n]),
            },
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            // ICMP errors from earlier sends surface here on some platforms; they are not fatal.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                tracing::debug!("data socket: {e}");
            }
            Err(e) => return Err(other("data socket receive", e)),
        }
        rx.on_tick(Instant::now());
        if let Some(audio) = &mut audio {
            let now = Instant::now();
            audio.on_tick(now, p.clock.at_us(now), &rx.sync);
        }
    }
    let mut stats = rx.finish();
    stats.audio = audio.map(|a| a.report());
    Ok(stats)
}
