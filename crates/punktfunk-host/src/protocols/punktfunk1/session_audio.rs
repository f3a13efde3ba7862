//! A session's audio, set up from what its Hello asked for (`caps` AUDIO / MIC): the virtual sink
//! and the sender for the host's audio, the virtual microphone for the client's.

use super::audio_sender as sender;
use crate::platform::audio::AudioSink;
use crate::platform::audio::opus_encoder::OpusEncoder;
use crate::platform::audio::pipewire_sink::VirtualSink;
use crate::platform::audio::virtual_mic::VirtualMic;
use crate::protocols::punktfunk1::data_plane::{DataPlane, SessionControl};
use anyhow::Result;
use punktfunk_core::audio::layout::Layout;
use punktfunk_core::audio::{FRAME_MS, SAMPLE_RATE};
use punktfunk_core::control::{Hello, caps};
use punktfunk_core::crypto::SessionKeys;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;

#[derive(Default)]
pub struct SessionAudio {
    sink: Option<VirtualSink>,
    /// The sink's node name and channels (the sink itself moves into the sender on start).
    sink_name: Option<String>,
    channels: u8,
    mic: Option<Arc<VirtualMic>>,
    sender: Option<JoinHandle<()>>,
}

impl SessionAudio {
    /// Creates the nodes the client asked for. Blocking (PipeWire round trips). Audio is optional:
    /// what cannot be set up is logged and left out (the Welcome then says 0 channels).
    pub fn open(hello: &Hello, session: &str) -> SessionAudio {
        let mut audio = SessionAudio::default();
        if hello.caps & caps::AUDIO != 0 {
            let layout = Layout::from_channels(hello.audio_channels)
                .filter(|l| *l != Layout::Mono)
                .unwrap_or_else(|| {
                    tracing::info!(
                        asked = hello.audio_channels,
                        "no such audio layout; sending stereo"
                    );
                    Layout::Stereo
                });
            let name = format!("punktfunk-sink-{session}");
            let description = format!("punktfunk: {}", hello.client_name);
            match VirtualSink::open(&name, &description, layout) {
                Ok(sink) => {
                    audio.sink_name = Some(sink.name().to_owned());
                    audio.channels = layout.channels();
                    audio.sink = Some(sink);
                }
                Err(e) => tracing::warn!("no audio for this session: {e:#}"),
            }
        }
        if hello.caps & caps::MIC != 0 {
            let name = format!("punktfunk-mic-{session}");
            let description = format!("punktfunk microphone: {}", hello.client_name);
            match VirtualMic::open(&name, &description) {
                Ok(mic) => audio.mic = Some(Arc::new(mic)),
                Err(e) => tracing::warn!("no microphone for this session: {e:#}"),
            }
        }
        if audio.sink_name.is_some() || audio.mic.is_some() {
            // Machine-readable, next to READY and SESSIONS: scripts and tests play into / record
            // from these nodes.
            crate::services::status_line::status_line!(
                "AUDIO session={session} sink={} source={}",
                audio.sink_name.as_deref().unwrap_or("-"),
                audio.mic.as_ref().map_or("-", |m| m.name())
            );
        }
        audio
    }

    /// Channels of the host's stream (Welcome), 0 = none.
    pub fn channels(&self) -> u8 {
        self.channels
    }

    /// Channels of the microphone accepted (Welcome), 0 = none.
    pub fn mic_channels(&self) -> u8 {
        u8::from(self.mic.is_some())
    }

    /// Environment for apps launched into this session: their audio goes to its sink.
    pub fn app_env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        if let Some(sink) = &self.sink_name {
            env.insert("PULSE_SINK".into(), sink.clone());
            env.insert("PIPEWIRE_NODE".into(), sink.clone());
        }
        env
    }

    /// Starts the streams: microphone datagrams are accepted from now on, and the host's audio
    /// goes out once the client's data address is known.
    pub fn start(
        &mut self,
        data: &DataPlane,
        session_id: u32,
        keys: &SessionKeys,
        control: Arc<SessionControl>,
    ) -> Result<()> {
        if let Some(mic) = &self.mic {
            let mic = mic.clone();
            data.attach_mic(
                session_id,
                &keys.client_to_host,
                Box::new(move |index, payload| mic.push_packet(index, payload)),
            )?;
        }
        if let Some(sink) = self.sink.take() {
            let encoder = OpusEncoder::new(self.channels, SAMPLE_RATE, FRAME_MS, None)?;
            self.sender = Some(sender::spawn(
                data.socket(),
                control,
                session_id,
                &keys.host_to_client,
                Box::new(sink),
                encoder,
            )?);
        }
        Ok(())
    }
}

impl Drop for SessionAudio {
    /// The sender stops with the session's `control.stop`; this waits for it (and the sink it owns).
    fn drop(&mut self) {
        if let Some(t) = self.sender.take() {
            let _ = t.join();
        }
    }
}
