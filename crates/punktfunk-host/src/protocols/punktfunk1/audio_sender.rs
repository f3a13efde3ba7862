//! A session's audio send loop: every 5 ms of wall time, one packet from the [`AudioSource`],
//! Opus-coded, sealed as stream kind audio (with the previous packet inside) and sent to the
//! client's data address. Runs on its own native thread beside the video frame loop.

use crate::platform::audio::AudioSource;
use crate::platform::audio::opus_encoder::OpusEncoder;
use crate::protocols::punktfunk1::data_plane::SessionControl;
use crate::services::ticker::Ticker;
use anyhow::Result;
use punktfunk_core::audio::framing::{AudioPacketizer, FRAME};
use punktfunk_core::audio::packet::MAX_OPUS_PACKET;
use punktfunk_core::crypto::DirectionKey;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

pub fn spawn(
    socket: Arc<UdpSocket>,
    control: Arc<SessionControl>,
    session_id: u32,
    key: &DirectionKey,
    mut source: Box<dyn AudioSource>,
    mut encoder: OpusEncoder,
) -> Result<JoinHandle<()>> {
    anyhow::ensure!(
        usize::from(source.channels()) == encoder.channels(),
        "audio source has {} channels, the encoder {}",
        source.channels(),
        encoder.channels()
    );
    let mut packetizer = AudioPacketizer::new(session_id, key)?;
    tracing::info!(source = %source.describe(), "audio stream starting");
    Ok(std::thread::Builder::new()
        .name(format!("pkf1-audio-{session_id:08x}"))
        .spawn(move || {
            let mut pcm = vec![0f32; encoder.frame_samples() * encoder.channels()];
            let mut packet = vec![0u8; MAX_OPUS_PACKET];
            let mut ticker = Ticker::new(FRAME, 20);
            let (mut sent, mut opus_bytes, mut wire_bytes) = (0u64, 0u64, 0u64);
            while !control.stop.load(Ordering::Relaxed) {
                ticker.wait();
                let pts_us = source.read_packet(&mut pcm);
                let n = match encoder.encode(&pcm, &mut packet) {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::error!("Opus encode failed: {e:#}; audio stops");
                        break;
                    }
                };
                let Some(dest) = *control
                    .client_addr
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                else {
                    continue;
                };
                match packetizer.packetize(&packet[..n], pts_us) {
                    Ok(batch) => {
                        opus_bytes += n as u64;
                        for datagram in batch.iter() {
                            wire_bytes += datagram.len() as u64;
                            // A failed send loses the packet like the network would; the next one
                            // carries a copy.
                            if let Err(e) = socket.send_to(datagram, dest) {
                                tracing::trace!(error = %e, "audio send failed");
                            }
                        }
                        sent += 1;
                    }
                    Err(e) => {
                        tracing::error!("audio packetizing failed: {e}; audio stops");
                        break;
                    }
                }
            }
            let per = |b: u64| b.checked_div(sent).unwrap_or(0);
            tracing::info!(
                packets = sent,
                opus_bytes_per_packet = per(opus_bytes),
                datagram_bytes_per_packet = per(wire_bytes),
                "audio stream stopped"
            );
        })?)
}
