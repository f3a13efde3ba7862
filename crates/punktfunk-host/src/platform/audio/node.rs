//! One PipeWire audio node of our own, run on its own thread: a stream whose `media.class` makes it
//! a device-like node — `Audio/Sink` (apps play into it; we get their mix) or `Audio/Source` (apps
//! record from it; we produce the samples). F32 interleaved at 48 kHz in the layout's channel
//! positions; the node asks for a 5 ms quantum so the graph adds as little latency as it can.

use ::pipewire as pw;
use anyhow::{Context, Result};
use punktfunk_core::audio::layout::{Layout, Position};
use punktfunk_core::audio::{FRAME_SAMPLES, SAMPLE_RATE};
use pw::spa;
use spa::pod::Pod;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

const START_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// Apps play into it; the process callback receives what they play.
    Sink,
    /// Apps record from it; the process callback fills what they record.
    Source,
}

#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub description: String,
    pub kind: NodeKind,
    pub layout: Layout,
}

/// Called on the PipeWire thread with interleaved samples: the captured block for a sink, the
/// block to fill (zeroed) for a source.
pub type Process = Box<dyn FnMut(&mut [f32]) + Send>;

/// A running node; dropping it removes the node and joins its thread.
pub struct PwNode {
    quit: Option<pw::channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    pub name: String,
}

impl PwNode {
    /// Creates the node and returns once PipeWire accepted it (or why not).
    pub fn start(spec: NodeSpec, process: Process) -> Result<PwNode> {
        let (quit_tx, quit_rx) = pw::channel::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let name = spec.name.clone();
        let thread = std::thread::Builder::new()
            .name(format!("pw-{}", spec.name))
            .spawn(move || {
                let failed = ready_tx.clone();
                if let Err(e) = run(&spec, process, quit_rx, ready_tx) {
                    let _ = failed.send(Err(format!("{e:#}")));
                }
            })
            .context("starting the PipeWire audio thread")?;
        let mut node = PwNode {
            quit: Some(quit_tx),
            thread: Some(thread),
            name,
        };
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(())) => Ok(node),
            Ok(Err(e)) => {
                node.stop();
                anyhow::bail!("PipeWire node {}: {e}", node.name)
            }
            Err(_) => {
                node.stop();
                anyhow::bail!(
                    "PipeWire node {} was not ready within {START_TIMEOUT:?} (is PipeWire running? \
                     PIPEWIRE_RUNTIME_DIR / XDG_RUNTIME_DIR)",
                    node.name
                )
            }
        }
    }

    fn stop(&mut self) {
        if let Some(q) = self.quit.take() {
            let _ = q.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PwNode {
    fn drop(&mut self) {
        self.stop();
    }
}

fn position(p: Position) -> u32 {
    use spa::sys::*;
    match p {
        Position::Mono => SPA_AUDIO_CHANNEL_MONO,
        Position::FrontLeft => SPA_AUDIO_CHANNEL_FL,
        Position::FrontRight => SPA_AUDIO_CHANNEL_FR,
        Position::FrontCenter => SPA_AUDIO_CHANNEL_FC,
        Position::Lfe => SPA_AUDIO_CHANNEL_LFE,
        Position::RearLeft => SPA_AUDIO_CHANNEL_RL,
        Position::RearRight => SPA_AUDIO_CHANNEL_RR,
        Position::SideLeft => SPA_AUDIO_CHANNEL_SL,
        Position::SideRight => SPA_AUDIO_CHANNEL_SR,
    }
}

/// The `audio.position` property value, e.g. `FL,FR`.
fn position_names(layout: Layout) -> String {
    layout
        .positions()
        .iter()
        .map(|p| match p {
            Position::Mono => "MONO",
            Position::FrontLeft => "FL",
            Position::FrontRight => "FR",
            Position::FrontCenter => "FC",
            Position::Lfe => "LFE",
            Position::RearLeft => "RL",
            Position::RearRight => "RR",
            Position::SideLeft => "SL",
            Position::SideRight => "SR",
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn format_pod(layout: Layout) -> Result<Vec<u8>> {
    let mut info = spa::param::audio::AudioInfoRaw::new();
    info.set_format(spa::param::audio::AudioFormat::F32LE);
    info.set_rate(SAMPLE_RATE);
    info.set_channels(u32::from(layout.channels()));
    let mut positions = [0u32; spa::sys::SPA_AUDIO_MAX_CHANNELS as usize];
    for (slot, p) in positions.iter_mut().zip(layout.positions()) {
        *slot = position(*p);
    }
    info.set_position(positions);
    let obj = spa::pod::Object {
        type_: spa::utils::SpaTypes::ObjectParamFormat.as_raw(),
        id: spa::param::ParamType::EnumFormat.as_raw(),
        properties: info.into(),
    };
    Ok(spa::pod::serialize::PodSerializer::serialize(
        std::io::Cursor::new(Vec::new()),
        &spa::pod::Value::Object(obj),
    )
    .context("serialising the audio format")?
    .0
    .into_inner())
}

struct StreamData {
    process: Process,
    channels: usize,
    scratch: Vec<f32>,
}

fn run(
    spec: &NodeSpec,
    process: Process,
    quit: pw::channel::Receiver<()>,
    ready: mpsc::Sender<Result<(), String>>,
) -> Result<()> {
    pw::init();
    let mainloop = pw::main_loop::MainLoopRc::new(None).context("PipeWire main loop")?;
    let context = pw::context::ContextRc::new(&mainloop, None).context("PipeWire context")?;
    // The PipeWire `serve` chose (the session's or its private one), else the default lookup.
    let core = match super::host_pipewire::connect_fd()? {
        Some(fd) => context.connect_fd_rc(fd, None),
        None => context.connect_rc(None),
    }
    .context("connecting to PipeWire")?;
    let ml = mainloop.clone();
    let _quit = quit.attach(mainloop.loop_(), move |()| ml.quit());
    let ml = mainloop.clone();
    let core_ready = ready.clone();
    let _core_listener = core
        .add_listener_local()
        .error(move |id, _seq, res, message| {
            let _ = core_ready.send(Err(format!(
                "PipeWire core error on object {id}: {message} ({res})"
            )));
            ml.quit();
        })
        .register();

    let (class, direction) = match spec.kind {
        NodeKind::Sink => ("Audio/Sink", spa::utils::Direction::Input),
        NodeKind::Source => ("Audio/Source", spa::utils::Direction::Output),
    };
    let stream = pw::stream::StreamRc::new(
        core,
        &spec.name,
        pw::properties::properties! {
            *pw::keys::MEDIA_TYPE => "Audio",
            *pw::keys::MEDIA_CLASS => class,
            *pw::keys::NODE_NAME => spec.name.as_str(),
            *pw::keys::NODE_DESCRIPTION => spec.description.as_str(),
            *pw::keys::NODE_LATENCY => format!("{FRAME_SAMPLES}/{SAMPLE_RATE}"),
            *pw::keys::AUDIO_CHANNELS => spec.layout.channels().to_string(),
            "audio.position" => position_names(spec.layout),
        },
    )
    .context("creating the PipeWire stream")?;

    let data = StreamData {
        process,
        channels: usize::from(spec.layout.channels()),
        scratch: Vec::new(),
    };
    let kind = spec.kind;
    let state_ready = ready.clone();
    let _listener = stream
        .add_local_listener_with_user_data(data)
        .state_changed(move |_, _, old, new| {
            tracing::debug!(?old, ?new, "PipeWire audio node state");
            match new {
                pw::stream::StreamState::Paused | pw::stream::StreamState::Streaming => {
                    let _ = state_ready.send(Ok(()));
                }
                pw::stream::StreamState::Error(e) => {
                    let _ = state_ready.send(Err(format!("stream error: {e}")));
                }
                _ => {}
            }
        })
        .process(move |stream, data| match kind {
            NodeKind::Sink => capture(stream, data),
            NodeKind::Source => produce(stream, data),
        })
        .register()
        .context("registering the PipeWire stream listener")?;

    let pod = format_pod(spec.layout)?;
    let pod = Pod::from_bytes(&pod).context("invalid audio format pod")?;
    stream
        .connect(
            direction,
            None,
            pw::stream::StreamFlags::MAP_BUFFERS | pw::stream::StreamFlags::RT_PROCESS,
            &mut [pod],
        )
        .context("connecting the PipeWire audio stream")?;
    mainloop.run();
    let _ = stream.disconnect();
    Ok(())
}

/// Sink: hand what the apps played to the callback.
fn capture(stream: &pw::stream::Stream, data: &mut StreamData) {
    let Some(mut buffer) = stream.dequeue_buffer() else {
        return;
    };
    let Some(d) = buffer.datas_mut().first_mut() else {
        return;
    };
    let (offset, size) = (d.chunk().offset() as usize, d.chunk().size() as usize);
    let Some(bytes) = d.data() else { return };
    let Some(bytes) = bytes.get(offset..offset.saturating_add(size)) else {
        return;
    };
    data.scratch.clear();
    data.scratch.extend(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
    );
    (data.process)(&mut data.scratch);
}

/// Source: fill as many frames as the graph asked for.
fn produce(stream: &pw::stream::Stream, data: &mut StreamData) {
    let Some(mut buffer) = stream.dequeue_buffer() else {
        return;
    };
    let requested = buffer.requested() as usize;
    let stride = 4 * data.channels;
    let Some(d) = buffer.datas_mut().first_mut() else {
        return;
    };
    let Some(bytes) = d.data() else { return };
    let room = bytes.len() / stride;
    let frames = if requested > 0 {
        requested.min(room)
    } else {
        FRAME_SAMPLES.min(room)
    };
    data.scratch.clear();
    data.scratch.resize(frames * data.channels, 0.0);
    (data.process)(&mut data.scratch);
    for (dst, s) in bytes.chunks_exact_mut(4).zip(&data.scratch) {
        dst.copy_from_slice(&s.to_le_bytes());
    }
    let chunk = d.chunk_mut();
    *chunk.offset_mut() = 0;
    *chunk.stride_mut() = stride as i32;
    *chunk.size_mut() = (frames * stride) as u32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_pods_serialise_for_every_layout() {
        for layout in [
            Layout::Mono,
            Layout::Stereo,
            Layout::Surround51,
            Layout::Surround71,
        ] {
            let bytes = format_pod(layout).expect("pod");
            assert!(Pod::from_bytes(&bytes).is_some());
        }
        assert_eq!(position_names(Layout::Surround51), "FL,FR,FC,LFE,RL,RR");
    }
}
