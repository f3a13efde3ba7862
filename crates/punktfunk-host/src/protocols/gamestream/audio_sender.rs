//! Audio on UDP base+11: the session's own PipeWire sink (silence when no PipeWire session is
//! reachable, so clients still see a live stream), Opus at a constant bitrate in packets of the
//! ANNOUNCE's duration, packetized by the core (`AudioPacketizer`: RTP, RS(4,2), AES-CBC) and sent on
//! the packet clock once the client's audio ping says where to.

use super::stream_params::Announced;
use super::stream_session::Session;
use super::video_sender::wait_for_ping;
use crate::platform::audio::AudioSource;
use crate::platform::audio::opus_encoder::OpusEncoder;
use crate::platform::audio::pipewire_sink::VirtualSink;
use crate::services::clock::now_us;
use crate::services::ticker::Ticker;
use anyhow::{Context, Result};
use punktfunk_core::audio::layout::Layout;
use punktfunk_core::audio::{FRAME_SAMPLES, SAMPLE_RATE};
use punktfunk_core::gamestream::audio::{AudioEncryption, AudioPacketizer};
use punktfunk_core::gamestream::sdp::ENC_AUDIO;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

const PING_WAIT: Duration = Duration::from_secs(10);

pub fn spawn(
    session: Arc<Session>,
    socket: UdpSocket,
    announced: Arc<Announced>,
) -> Result<JoinHandle<Option<Box<dyn AudioSource>>>> {
    std::thread::Builder::new()
        .name("gs-audio".into())
        .spawn(move || {
            let mut source = None;
            // Audio is not worth ending the session over: video and input go on without it.
            if let Err(e) = run(&session, &socket, &announced, &mut source) {
                tracing::warn!(session = %session.id, "audio sender: {e:#}");
            }
            // Back to the session: a parked app keeps playing into its sink.
            source
        })
        .context("starting the audio sender")
}

/// Silence at the packet clock, for hosts without a PipeWire session.
struct Silence {
    channels: u8,
}

impl AudioSource for Silence {
    fn channels(&self) -> u8 {
        self.channels
    }

    fn read_packet(&mut self, out: &mut [f32]) -> u64 {
        out.fill(0.0);
        now_us()
    }

    fn describe(&self) -> String {
        format!("silence ({} channels)", self.channels)
    }
}

fn open_source(session: &Session, channels: u8) -> Box<dyn AudioSource> {
    // A resumed stream takes over the sink its app already plays into, if the layout still fits.
    if let Some(parked) = session.take_resumed_audio() {
        if parked.channels() == channels {
            return parked;
        }
        drop(parked);
    }
    let layout = Layout::from_channels(channels).unwrap_or(Layout::Stereo);
    let name = session.audio_name.clone();
    let description = format!("Moonlight: {}", session.request.client_name);
    match VirtualSink::open(&name, &description, layout) {
        Ok(sink) => Box::new(sink),
        Err(e) => {
            tracing::info!(session = %session.id, "no PipeWire sink ({e:#}); streaming silence");
            Box::new(Silence { channels })
        }
    }
}

/// Streams until the session stops; leaves the audio source it opened in `opened`.
fn run(
    session: &Session,
    socket: &UdpSocket,
    announced: &Announced,
    opened: &mut Option<Box<dyn AudioSource>>,
) -> Result<()> {
    let params = &announced.params;
    let layout = params
        .audio
        .layout(announced.host_header.as_deref())
        .context("no Opus layout for the announced channel count")?;
    let packet_ms = u32::from(params.audio.packet_duration_ms).clamp(5, 10);
    // The split the DESCRIBE's surround-params told the client to decode.
    let mut encoder = OpusEncoder::with_streams(
        layout.channels,
        Some(&layout.multistream()),
        SAMPLE_RATE,
        packet_ms,
        Some(layout.bitrate / 1000),
    )?;
    let encryption = (params.encryption & ENC_AUDIO != 0).then_some(AudioEncryption {
        key: session.request.rikey,
        key_id: session.request.rikeyid,
    });
    let encrypted = encryption.is_some();
    let mut packetizer = AudioPacketizer::new(packet_ms, encryption)?;
    let source = opened.insert(open_source(session, layout.channels));
    let Some(client) = wait_for_ping(socket, session, PING_WAIT)? else {
        tracing::info!(session = %session.id, "no audio ping; no audio for this session");
        return Ok(());
    };
    socket.set_nonblocking(true)?;
    tracing::info!(
        session = %session.id, %client, source = %source.describe(), channels = layout.channels,
        packet_ms, bitrate = layout.bitrate, encrypted, "GameStream audio starts"
    );
    let channels = usize::from(layout.channels);
    let reads = (packet_ms / punktfunk_core::audio::FRAME_MS).max(1) as usize;
    let mut pcm = vec![0f32; FRAME_SAMPLES * channels * reads];
    let mut opus = vec![0u8; 1400];
    let mut drain = [0u8; 64];
    let interval = Duration::from_millis(u64::from(packet_ms));
    let mut ticker = Ticker::new(interval, 20);
    let mut packets = 0u64;
    while !session.stop.load(Ordering::Relaxed) {
        ticker.wait();
        while socket.recv_from(&mut drain).is_ok() {}
        for chunk in pcm.chunks_mut(FRAME_SAMPLES * channels) {
            source.read_packet(chunk);
        }
        let len = encoder.encode(&pcm, &mut opus)?;
        for datagram in packetizer.packetize(opus.get(..len).unwrap_or_default())? {
            match socket.send_to(&datagram, client) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e).context("sending audio"),
            }
        }
        packets += 1;
    }
    tracing::info!(session = %session.id, packets, "GameStream audio over");
    Ok(())
}
