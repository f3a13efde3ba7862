//! Audio on a punktfunk/1 session, client side: receiving the host's stream (open, jitter buffer,
//! decode, analyse, latency) and sending a microphone stream (a test tone, Opus-coded, one datagram
//! per 5 ms packet). [`AudioPacketizer`] and [`audio_frame`] are the framing both ends share: the
//! host's sender and virtual microphone use them too.

use crate::opus::{Decoder, Encoder, EncoderSettings, OpusError};
use crate::probe::audio_analysis::{self, ToneAnalysis};
use punktfunk_core::audio::framing::AudioFramingError;
use punktfunk_core::audio::jitter::{JitterBuffer, JitterConfig, JitterStats, Pull};
use punktfunk_core::audio::layout::Layout;
use punktfunk_core::audio::packet::MAX_OPUS_PACKET;
use punktfunk_core::audio::{FRAME_SAMPLES, SAMPLE_RATE};
use punktfunk_core::control::ClockSync;
use punktfunk_core::crypto::{CryptoError, DirectionKey, Opener};
use serde::Serialize;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use thiserror::Error;

pub use punktfunk_core::audio::framing::FRAME;
/// Most decoded audio a probe keeps for analysis (per session).
const MAX_KEPT_SECONDS: usize = 30;
/// A packet whose RMS is above this counts as sound (the first one marks the tone's arrival).
const SOUND_RMS: f64 = 0.01;
/// Microphone bitrate (mono).
const MIC_BITRATE: i32 = 64_000;

#[derive(Debug, Error)]
pub enum AudioError {
    #[error(transparent)]
    Opus(#[from] OpusError),
    #[error(transparent)]
    Framing(#[from] AudioFramingError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("no channel layout with {0} channels")]
    Layout(u8),
}

pub use punktfunk_core::audio::framing::{AudioPacketizer, audio_frame};

/// What the probe saw of the host's audio.
#[derive(Debug, Clone, Serialize)]
pub struct AudioReport {
    pub channels: u8,
    pub packets_received: u64,
    /// Packets rebuilt from the copy inside the next packet.
    pub recovered_from_redundancy: u64,
    pub concealed: u64,
    pub underruns: u64,
    pub late: u64,
    pub dropped_for_drift: u64,
    pub decode_errors: u64,
    /// Host capture → packet received here (clock-offset corrected), ms: p50 / p95 / max.
    pub network_latency_ms: Option<[f64; 3]>,
    /// Host capture → decoded and due for playout (through the jitter buffer), ms: p50 / p95 / max.
    pub playout_latency_ms: Option<[f64; 3]>,
    /// Client wall clock (µs since the UNIX epoch) when the first packet with sound arrived, and its
    /// capture time converted to the client's clock.
    pub first_sound_arrival_unix_us: Option<u64>,
    pub first_sound_capture_unix_us: Option<u64>,
    /// Per channel, over the decoded audio from the first sound on.
    pub tones: Vec<ToneAnalysis>,
    /// Per channel: its own peak's power over the strongest of the other channels' peaks within it,
    /// dB (how well the channels are kept apart when each carries its own tone); `None` when no
    /// other channel has a tone of its own.
    pub separation_db: Vec<Option<f64>>,
    pub seconds_analysed: f64,
}

/// Receives the host's audio stream.
pub struct AudioReceiver {
    opener: Opener,
    decoder: Decoder,
    jitter: JitterBuffer,
    channels: usize,
    /// Capture time (host clock) of each frame index in the jitter buffer, for playout latency.
    pts: std::collections::HashMap<u32, u64>,
    playout_start: Option<Instant>,
    pulled: u64,
    pcm: Vec<f32>,
    packet_pcm: Vec<f32>,
    first_sound_at: Option<usize>,
    network_us: Vec<i64>,
    playout_us: Vec<i64>,
    first_sound_arrival: Option<u64>,
    first_sound_capture: Option<u64>,
    received: u64,
    decode_errors: u64,
    rejected: u64,
}

impl AudioReceiver {
    pub fn new(channels: u8, session_id: u32, key: &DirectionKey) -> Result<Self, AudioError> {
        let layout = Layout::from_channels(channels).ok_or(AudioError::Layout(channels))?;
        Ok(AudioReceiver {
            opener: Opener::new(key, session_id)?,
            decoder: Decoder::new(layout, SAMPLE_RATE)?,
            jitter: JitterBuffer::new(JitterConfig::default()),
            channels: usize::from(channels),
            pts: std::collections::HashMap::new(),
            playout_start: None,
            pulled: 0,
            pcm: Vec::new(),
            packet_pcm: vec![0.0; FRAME_SAMPLES * usize::from(channels)],
            first_sound_at: None,
            network_us: Vec::new(),
            playout_us: Vec::new(),
            first_sound_arrival: None,
            first_sound_capture: None,
            received: 0,
            decode_errors: 0,
            rejected: 0,
        })
    }

    /// An audio-kind datagram arrived at client wall-clock time `now_us`.
    pub fn on_datagram(&mut self, now_us: u64, datagram: &mut [u8], sync: &ClockSync) {
        let Ok((header, plaintext)) = self.opener.open(datagram) else {
            self.rejected += 1;
            return;
        };
        let payload = match audio_frame(&header, plaintext) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!("bad audio frame: {e}");
                self.rejected += 1;
                return;
            }
        };
        self.received += 1;
        let index = header.frame_index;
        if let Some(capture) = sync.host_to_client_us(header.pts_us) {
            self.network_us.push(now_us as i64 - capture);
            if self.first_sound_arrival.is_none() && self.has_sound(payload.primary) {
                self.first_sound_arrival = Some(now_us);
                self.first_sound_capture = Some(capture.max(0) as u64);
            }
        }
        self.pts.insert(index, header.pts_us);
        self.jitter.insert(index, payload.primary);
        if let Some(previous) = payload.previous {
            self.jitter
                .insert_redundant(index.wrapping_sub(1), previous);
        }
        if self.playout_start.is_none() {
            self.playout_start = Some(Instant::now());
        }
    }

    /// Decodes a packet on a scratch decoder to see whether it carries sound (decoder state must not
    /// be disturbed, and this runs only until the first sound).
    fn has_sound(&self, packet: &[u8]) -> bool {
        let layout = Layout::from_channels(self.channels as u8).unwrap_or(Layout::Stereo);
        let Ok(mut probe) = Decoder::new(layout, SAMPLE_RATE) else {
            return false;
        };
        let mut out = vec![0.0; FRAME_SAMPLES * self.channels];
        match probe.decode(Some(packet), &mut out) {
            Ok(n) => rms(&out[..n * self.channels]) > SOUND_RMS,
            Err(_) => false,
        }
    }

    /// Plays out every packet due by `now` (one per 5 ms since the first packet arrived).
    pub fn on_tick(&mut self, now: Instant, now_us: u64, sync: &ClockSync) {
        let Some(start) = self.playout_start else {
            return;
        };
        let due = (now.saturating_duration_since(start).as_micros() / FRAME.as_micros()) as u64;
        while self.pulled < due {
            self.pulled += 1;
            let pull = self.jitter.pull();
            let decoded = match &pull {
                Pull::Packet(p) => self.decoder.decode(Some(p), &mut self.packet_pcm),
                Pull::Conceal => self.decoder.decode(None, &mut self.packet_pcm),
                Pull::Silence => {
                    self.packet_pcm.fill(0.0);
                    Ok(FRAME_SAMPLES)
                }
            };
            let frames = match decoded {
                Ok(n) => n,
                Err(_) => {
                    self.decode_errors += 1;
                    self.packet_pcm.fill(0.0);
                    FRAME_SAMPLES
                }
            };
            if let Pull::Packet(_) = pull
                && let Some(index) = self.played_index()
                && let Some(pts) = self.pts.remove(&index)
                && let Some(capture) = sync.host_to_client_us(pts)
            {
                self.playout_us.push(now_us as i64 - capture);
            }
            let samples = &self.packet_pcm[..frames * self.channels];
            if self.first_sound_at.is_none() && rms(samples) > SOUND_RMS {
                self.first_sound_at = Some(self.pcm.len());
            }
            if self.first_sound_at.is_some()
                && self.pcm.len() < MAX_KEPT_SECONDS * SAMPLE_RATE as usize * self.channels
            {
                self.pcm.extend_from_slice(samples);
            }
        }
        if self.pts.len() > 4096 {
            self.pts.clear();
        }
    }

    /// The frame index the jitter buffer just played: one behind its play position.
    fn played_index(&self) -> Option<u32> {
        self.jitter.next_index().map(|n| n.wrapping_sub(1))
    }

    pub fn report(&self) -> AudioReport {
        let stats: JitterStats = self.jitter.stats();
        // Skip the first 100 ms of sound: the tone's onset is not a steady tone.
        let skip = (SAMPLE_RATE as usize / 10) * self.channels;
        let steady = self.pcm.get(skip..).unwrap_or(&[]);
        let channels: Vec<Vec<f32>> = (0..self.channels)
            .map(|c| audio_analysis::channel(steady, self.channels, c))
            .collect();
        let tones: Vec<ToneAnalysis> = channels
            .iter()
            .map(|x| audio_analysis::analyse(x, SAMPLE_RATE))
            .collect();
        let separation_db = channels
            .iter()
            .zip(&tones)
            .map(|(x, own)| {
                let others: Vec<f64> = tones
                    .iter()
                    .map(|t| t.peak_hz)
                    .filter(|f| *f > 0.0 && (f - own.peak_hz).abs() > 20.0)
                    .collect();
                (!others.is_empty())
                    .then(|| audio_analysis::separation_db(x, SAMPLE_RATE, own.peak_hz, &others))
            })
            .collect();
        AudioReport {
            channels: self.channels as u8,
            packets_received: self.received,
            recovered_from_redundancy: stats.recovered_from_redundancy,
            concealed: stats.concealed,
            underruns: stats.underruns,
            late: stats.late,
            dropped_for_drift: stats.dropped_for_drift,
            decode_errors: self.decode_errors,
            network_latency_ms: spread_ms(&self.network_us),
            playout_latency_ms: spread_ms(&self.playout_us),
            first_sound_arrival_unix_us: self.first_sound_arrival,
            first_sound_capture_unix_us: self.first_sound_capture,
            tones,
            separation_db,
            seconds_analysed: self.pcm.len() as f64 / self.channels as f64 / f64::from(SAMPLE_RATE),
        }
    }
}

fn rms(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// p50 / p95 / max in ms.
fn spread_ms(us: &[i64]) -> Option<[f64; 3]> {
    let mut sorted = us.to_vec();
    sorted.sort_unstable();
    let p = |q| crate::session::percentile(&sorted, q).map(|v| v as f64 / 1000.0);
    Some([p(50.0)?, p(95.0)?, p(100.0)?])
}

/// Sends a sine tone as the client's microphone: mono Opus, one datagram per 5 ms, paced by the
/// wall clock (late ticks send the packets that fell due, so the stream keeps real time).
pub struct MicSender {
    encoder: Encoder,
    packetizer: AudioPacketizer,
    hz: f64,
    sample: u64,
    next_due: Instant,
    pcm: Vec<f32>,
    packet: Vec<u8>,
    pub packets_sent: u64,
}

impl MicSender {
    pub fn new(
        hz: f64,
        session_id: u32,
        key: &DirectionKey,
        start: Instant,
    ) -> Result<Self, AudioError> {
        let encoder = Encoder::new(
            Layout::Mono,
            SAMPLE_RATE,
            EncoderSettings {
                frame_samples: FRAME_SAMPLES,
                bitrate_bps: MIC_BITRATE,
                cbr: false,
            },
        )?;
        Ok(MicSender {
            encoder,
            packetizer: AudioPacketizer::new(session_id, key)?,
            hz,
            sample: 0,
            next_due: start,
            pcm: vec![0.0; FRAME_SAMPLES],
            packet: vec![0; MAX_OPUS_PACKET],
            packets_sent: 0,
        })
    }

    /// Sends every packet due by `now`; `pts_us` maps an instant to the client's wall clock.
    pub fn on_tick(
        &mut self,
        now: Instant,
        socket: &UdpSocket,
        dest: SocketAddr,
        pts_us: impl Fn(Instant) -> u64,
    ) -> Result<(), AudioError> {
        if now.saturating_duration_since(self.next_due) > Duration::from_millis(200) {
            // A long stall: start again from now rather than bursting the backlog.
            self.next_due = now;
        }
        while self.next_due <= now {
            let rate = f64::from(SAMPLE_RATE);
            for (i, s) in self.pcm.iter_mut().enumerate() {
                let t = (self.sample + i as u64) as f64 / rate;
                *s = (0.5 * (std::f64::consts::TAU * self.hz * t).sin()) as f32;
            }
            self.sample += FRAME_SAMPLES as u64;
            let n = self.encoder.encode(&self.pcm, &mut self.packet)?;
            let batch = self
                .packetizer
                .packetize(&self.packet[..n], pts_us(self.next_due))?;
            for datagram in batch.iter() {
                if let Err(e) = socket.send_to(datagram, dest) {
                    tracing::debug!("microphone datagram to {dest}: {e}");
                }
            }
            self.packets_sent += 1;
            self.next_due += FRAME;
        }
        Ok(())
    }
}

impl AudioReport {
    /// The audio lines of the probe's text report.
    pub fn write_text(&self, s: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            s,
            "audio: {} channels, {} packets ({} rebuilt from redundancy, {} concealed, {} late), {} underruns, {} drift drops, {:.2} s analysed",
            self.channels,
            self.packets_received,
            self.recovered_from_redundancy,
            self.concealed,
            self.late,
            self.underruns,
            self.dropped_for_drift,
            self.seconds_analysed
        );
        let ms = |v: &Option<[f64; 3]>| match v {
            Some([p50, p95, max]) => format!("p50 {p50:.2} ms, p95 {p95:.2} ms, max {max:.2} ms"),
            None => "not measured (no clock sync)".into(),
        };
        let _ = writeln!(
            s,
            "audio latency (host capture → received): {}",
            ms(&self.network_latency_ms)
        );
        let _ = writeln!(
            s,
            "audio latency (host capture → decoded, due for playout): {}",
            ms(&self.playout_latency_ms)
        );
        for (c, t) in self.tones.iter().enumerate() {
            let _ = writeln!(
                s,
                "audio channel {c}: peak {:.1} Hz, SNR {:.1} dB, RMS {:.3}{}",
                t.peak_hz,
                t.snr_db,
                t.rms,
                match self.separation_db.get(c).copied().flatten() {
                    Some(db) => format!(", {db:.1} dB above the other channels' tones"),
                    None => String::new(),
                }
            );
        }
    }
}
