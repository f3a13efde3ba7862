//! Virtual displays on KWin (Plasma 5.27+): `zkde_screencast_unstable_v1.stream_virtual_output`
//! creates an output of the requested size and a PipeWire node streaming it.
//!
//! KWin 5.27 implements `createVirtualOutput` only on its DRM backend, so on `--virtual` (no GPU)
//! `stream_virtual_output` fails with "Could not find output"; the backend then streams the
//! private KWin's own output with `stream_output` when it has the requested size. Its PipeWire
//! node links and starts, but KWin 5.27 delivered no buffers here.
//!
//! Only a private KWin is supported so far (`kwin_wayland --virtual` in our own D-Bus session
//! with PipeWire, see [`MutterSession::start_kwin`]): a desktop KWin only grants the screencast
//! protocol to clients it trusts (their .desktop file lists `X-KDE-Wayland-Interfaces`), which a
//! bare binary is not.

use super::mutter_session::MutterSession;
use super::{Capabilities, CompositorInfo, CompositorKind, DisplayHandle, Mode, VirtualDisplay};
use crate::platform::capture::CaptureSource;
use crate::platform::wayland::{Outputs, dispatch_until};
use anyhow::{Context, Result};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wayland_client::globals::registry_queue_init;
use wayland_client::{Connection, Dispatch, EventQueue, Proxy, QueueHandle};
use wayland_protocols_plasma::screencast::v1::client::{
    zkde_screencast_stream_unstable_v1::{self, ZkdeScreencastStreamUnstableV1},
    zkde_screencast_unstable_v1::{self, ZkdeScreencastUnstableV1},
};

const STREAM_TIMEOUT: Duration = Duration::from_secs(10);
static OUTPUT_SERIAL: AtomicU32 = AtomicU32::new(0);

/// What KWin said about one stream.
#[derive(Clone, Debug, PartialEq, Eq)]
enum StreamEvent {
    Created(u32),
    Failed(String),
    Closed,
}

#[derive(Default)]
struct State {
    /// Events per stream, by the stream's protocol id.
    events: Vec<(u32, StreamEvent)>,
    /// KWin's outputs with their current mode size.
    outputs: Outputs,
}

impl AsMut<Outputs> for State {
    fn as_mut(&mut self) -> &mut Outputs {
        &mut self.outputs
    }
}

crate::delegate_outputs!(State);

struct Inner {
    queue: EventQueue<State>,
    state: State,
    screencast: ZkdeScreencastUnstableV1,
}

struct Shared {
    inner: Mutex<Inner>,
    conn: Connection,
    pipewire_socket: PathBuf,
    version: String,
    protocol_version: u32,
    /// Declared last: stopped after the Wayland connection closes.
    private: Option<MutterSession>,
}

/// The KWin backend.
pub struct KwinBackend {
    shared: Arc<Shared>,
}

impl KwinBackend {
    /// Starts a private `kwin_wayland --virtual` and binds its screencast protocol.
    pub fn start_private() -> Result<Self> {
        let session = MutterSession::start_kwin()?;
        let socket = session.wayland_socket();
        let conn = Connection::from_socket(
            UnixStream::connect(&socket)
                .with_context(|| format!("connecting to KWin at {}", socket.display()))?,
        )?;
        let (globals, mut queue) = registry_queue_init::<State>(&conn)?;
        let qh = queue.handle();
        let mut state = State::default();
        state.outputs.bind(&globals, &qh, 1, 2);
        queue.roundtrip(&mut state)?;
        let screencast: ZkdeScreencastUnstableV1 = globals.bind(&qh, 2..=4, ()).context(
            "KWin does not offer zkde_screencast_unstable_v1 v2+ (stream_virtual_output) to us",
        )?;
        let protocol_version = screencast.version();
        let version = kwin_version(&session.runtime_dir().join("bin/kwin_wayland"));
        tracing::info!(%version, protocol_version, "KWin backend ready");
        Ok(Self {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    queue,
                    state,
                    screencast,
                }),
                conn,
                pipewire_socket: session.pipewire_socket(),
                version,
                protocol_version,
                private: Some(session),
            }),
        })
    }
}

impl KwinBackend {
    /// The last lines of the private KWin's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.shared
            .private
            .as_ref()
            .map(|s| s.log_tail("compositor", lines))
            .unwrap_or_default()
    }

    /// KWin's Wayland socket.
    pub fn wayland_socket(&self) -> PathBuf {
        self.shared
            .private
            .as_ref()
            .map(MutterSession::wayland_socket)
            .unwrap_or_default()
    }
}

/// `kwin_wayland --version`, e.g. "kwin 5.27.5".
fn kwin_version(program: &std::path::Path) -> String {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "kwin (version unknown)".into())
}

impl VirtualDisplay for KwinBackend {
    fn info(&self) -> CompositorInfo {
        CompositorInfo {
            kind: CompositorKind::Kwin,
            version: format!(
                "{} (zkde_screencast_unstable_v1 v{})",
                self.shared.version, self.shared.protocol_version
            ),
            private: self.shared.private.is_some(),
            capabilities: Capabilities {
                custom_modes: true,
                removes_outputs: true,
                capture: vec![
                    "PipeWire (zkde_screencast stream_virtual_output, else stream_output)".into(),
                ],
                notes: vec![
                    "only a private kwin_wayland --virtual is supported".into(),
                    "KWin 5.27 makes virtual outputs only on its DRM backend: on --virtual, \
                     stream_virtual_output fails (\"Could not find output\"), so only a display \
                     of the private KWin's own size (1280x720) can be streamed"
                        .into(),
                    "KWin 5.27 --virtual here: the stream_output node links and starts, but \
                     KWin delivers no buffers (none in 5 s, with a window redrawing at ~60 fps)"
                        .into(),
                ],
            },
        }
    }

    fn create(&self, mode: Mode, label: &str) -> Result<Box<dyn DisplayHandle>> {
        let mut inner = self.shared.inner.lock().unwrap_or_else(|e| e.into_inner());
        let inner = &mut *inner;
        let qh = inner.queue.handle();
        let name = format!(
            "punktfunk-{}",
            OUTPUT_SERIAL.fetch_add(1, Ordering::Relaxed)
        );
        let pointer = zkde_screencast_unstable_v1::Pointer::Embedded.into();
        let stream = inner.screencast.stream_virtual_output(
            name.clone(),
            mode.width as i32,
            mode.height as i32,
            1.0,
            pointer,
            &qh,
            (),
        );
        let (mut stream, mut event) = (stream.clone(), wait_stream(inner, &stream)?);
        if let Some(StreamEvent::Failed(e)) = &event {
            // KWin 5.27 creates virtual outputs only on its DRM backend
            // (OutputBackend::createVirtualOutput is null on --virtual), so this fails with
            // "Could not find output" here. The virtual backend's own output is the fallback
            // when it already has the requested size.
            stream.close();
            let want = (mode.width as i32, mode.height as i32);
            let Some(output) = inner.state.outputs.by_mode(want).cloned() else {
                anyhow::bail!(
                    "KWin refused stream_virtual_output {name} ({mode}): {e} (KWin 5.27 makes \
                     virtual outputs only on its DRM backend), and none of its outputs is \
                     {}x{} for stream_output",
                    mode.width,
                    mode.height
                );
            };
            tracing::info!(error = %e, "stream_virtual_output failed; streaming KWin's own output");
            stream = inner.screencast.stream_output(&output, pointer, &qh, ());
            event = wait_stream(inner, &stream)?;
        }
        let node_id = match event {
            Some(StreamEvent::Created(node)) => node,
            Some(StreamEvent::Failed(e)) => {
                stream.close();
                anyhow::bail!("KWin refused to stream {name} ({mode}): {e}")
            }
            Some(StreamEvent::Closed) => {
                anyhow::bail!("KWin closed the virtual output stream {name} at once")
            }
            None => {
                stream.close();
                anyhow::bail!(
                    "KWin neither created nor failed the stream {name} ({mode}) within \
                     {STREAM_TIMEOUT:?}"
                )
            }
        };
        tracing::info!(label, %mode, %name, node_id, "KWin virtual output created");
        Ok(Box::new(KwinDisplay {
            shared: self.shared.clone(),
            stream: Some(stream),
            name,
            mode,
            node_id,
        }))
    }
}

/// One virtual output; closing its stream removes it.
pub struct KwinDisplay {
    shared: Arc<Shared>,
    stream: Option<ZkdeScreencastStreamUnstableV1>,
    name: String,
    mode: Mode,
    node_id: u32,
}

impl KwinDisplay {
    fn release(&mut self) -> Result<()> {
        if let Some(stream) = self.stream.take() {
            stream.close();
            self.shared.conn.flush().context("Wayland flush")?;
        }
        Ok(())
    }
}

impl DisplayHandle for KwinDisplay {
    fn name(&self) -> &str {
        &self.name
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn set_mode(&mut self, mode: Mode) -> Result<()> {
        anyhow::bail!(
            "KWin virtual outputs have a fixed size: destroy {} and create a {mode} display",
            self.name
        )
    }

    fn app_env(&self) -> std::collections::BTreeMap<String, String> {
        MutterSession::app_env_or_inherited(self.shared.private.as_ref())
    }

    fn capture_source(&self) -> CaptureSource {
        CaptureSource::PipeWire {
            socket: self.shared.pipewire_socket.clone(),
            node_id: self.node_id,
            width: self.mode.width,
            height: self.mode.height,
        }
    }

    fn destroy(mut self: Box<Self>) -> Result<()> {
        self.release()
    }
}

impl Drop for KwinDisplay {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            tracing::warn!("releasing KWin output {}: {e:#}", self.name);
        }
    }
}

/// Waits for KWin's first event about `stream` (None: nothing within STREAM_TIMEOUT).
fn wait_stream(
    inner: &mut Inner,
    stream: &ZkdeScreencastStreamUnstableV1,
) -> Result<Option<StreamEvent>> {
    let id = stream.id().protocol_id();
    let deadline = Instant::now() + STREAM_TIMEOUT;
    dispatch_until(&mut inner.queue, &mut inner.state, deadline, |s| {
        s.events.iter().any(|(i, _)| *i == id)
    })?;
    Ok(inner
        .state
        .events
        .iter()
        .position(|(i, _)| *i == id)
        .map(|at| inner.state.events.remove(at).1))
}

impl Dispatch<ZkdeScreencastUnstableV1, ()> for State {
    fn event(
        _: &mut Self,
        _: &ZkdeScreencastUnstableV1,
        _: zkde_screencast_unstable_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<ZkdeScreencastStreamUnstableV1, ()> for State {
    fn event(
        state: &mut Self,
        stream: &ZkdeScreencastStreamUnstableV1,
        event: zkde_screencast_stream_unstable_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let ev = match event {
            zkde_screencast_stream_unstable_v1::Event::Created { node } => {
                StreamEvent::Created(node)
            }
            zkde_screencast_stream_unstable_v1::Event::Failed { error } => {
                StreamEvent::Failed(error)
            }
            zkde_screencast_stream_unstable_v1::Event::Closed => StreamEvent::Closed,
            _ => return,
        };
        state.events.push((stream.id().protocol_id(), ev));
    }
}
