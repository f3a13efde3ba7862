//! Virtual displays on Mutter (GNOME): one `org.gnome.Mutter.ScreenCast` `RecordVirtual` monitor
//! per client, inside a RemoteDesktop session (which input injection will use), frames over
//! PipeWire.
//!
//! Per display: `RemoteDesktop.CreateSession` → its `SessionId` → `ScreenCast.CreateSession`
//! with `remote-desktop-session-id` → `RecordVirtual` (cursor embedded) → a Stream object →
//! `RemoteDesktop.Session.Start` → the stream's `PipeWireStreamAdded(node_id)` signal → a Shift
//! tap and a zero motion, so the session's virtual keyboard and pointer exist before any client
//! of the display binds them (see [`prime_input_devices`]). A virtual
//! monitor has no size of its own: the consumer's format negotiation decides it, so the capture
//! source carries the exact WxH the capturer must offer.
//!
//! Mutter ends every session when the D-Bus connection that created it closes, so the backend
//! keeps one connection for its whole life, and every handle keeps the backend alive.

use super::mutter_session::{MutterSession, SCREENCAST_NAME};
use super::{
    Capabilities, CompositorInfo, CompositorKind, DisplayHandle, Mode, SessionEnv, VirtualDisplay,
};
use crate::platform::capture::CaptureSource;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;
use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::{OwnedObjectPath, Value};

const REMOTE_DESKTOP_NAME: &str = "org.gnome.Mutter.RemoteDesktop";
const REMOTE_DESKTOP_PATH: &str = "/org/gnome/Mutter/RemoteDesktop";
const SCREENCAST_PATH: &str = "/org/gnome/Mutter/ScreenCast";
/// How long Mutter may take to publish the PipeWire node after Start.
const NODE_TIMEOUT: Duration = Duration::from_secs(10);
/// The virtual monitor [`MutterBackend::warm_up`] makes: a common client mode.
const WARM_UP_MODE: Mode = Mode::new(1280, 720, 60);
/// `cursor-mode` values of RecordVirtual.
const CURSOR_EMBEDDED: u32 = 1;
/// evdev KEY_LEFTSHIFT.
const SHIFT_KEYCODE: u16 = crate::platform::inject::keymap::SHIFT;

struct Shared {
    conn: Connection,
    pipewire_socket: PathBuf,
    version: String,
    screencast_api: i32,
    /// Our own Mutter, when we started it. Declared last: stopped after the connection closes.
    private: Option<MutterSession>,
}

/// The Mutter backend. Handles keep it (its D-Bus connection and a private Mutter) alive.
pub struct MutterBackend {
    shared: Arc<Shared>,
}

impl MutterBackend {
    /// Uses the session's Mutter if it owns `org.gnome.Mutter.ScreenCast` on the session bus;
    /// otherwise starts a private headless Mutter.
    pub fn open(env: &SessionEnv) -> Result<Self> {
        match Self::connect_session(env) {
            Ok(b) => Ok(b),
            Err(e) => {
                tracing::info!("no session Mutter ({e:#}); starting a private headless Mutter");
                Self::start_private()
            }
        }
    }

    /// Uses the Mutter of the session bus (DBUS_SESSION_BUS_ADDRESS), with PipeWire at
    /// `$XDG_RUNTIME_DIR/pipewire-0`.
    pub fn connect_session(env: &SessionEnv) -> Result<Self> {
        let runtime = env
            .xdg_runtime_dir
            .clone()
            .ok_or_else(|| anyhow::anyhow!("XDG_RUNTIME_DIR is not set"))?;
        anyhow::ensure!(
            std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
            "DBUS_SESSION_BUS_ADDRESS is not set"
        );
        let conn = Connection::session().context("connecting to the session bus")?;
        let wayland = env.wayland_socket();
        Self::with_connection(conn, runtime.join("pipewire-0"), wayland, None)
    }

    /// Starts a private headless Mutter (with its own bus and PipeWire) and uses it.
    pub fn start_private() -> Result<Self> {
        let session = MutterSession::start()?;
        let conn = zbus::blocking::connection::Builder::address(session.bus_address())
            .and_then(|b| b.build())
            .context("connecting to the private Mutter's bus")?;
        let socket = session.pipewire_socket();
        let wayland = Some(session.wayland_socket());
        let backend = Self::with_connection(conn, socket, wayland, Some(session))?;
        if let Err(e) = backend.warm_up() {
            // Only the first session's start-up is slower without it.
            tracing::warn!("warming up the private Mutter: {e:#}");
        }
        Ok(backend)
    }

    /// Makes, captures and releases one virtual monitor. Mutter's first screencast of a virtual
    /// monitor takes 2–3× as long to its first frame as later ones (≈ 0.3–0.9 s against
    /// 0.1–0.4 s on a loaded 2-core box): paid here, at start-up, instead of by the first
    /// client. Only for our own Mutter: on a user's desktop a monitor would blink in and out.
    fn warm_up(&self) -> Result<()> {
        let t = std::time::Instant::now();
        let display = self.create(WARM_UP_MODE, "warm-up")?;
        let mut capturer = crate::platform::capture::open(
            &display.capture_source(),
            crate::platform::capture::CaptureOptions::default(),
        )?;
        let deadline = t + NODE_TIMEOUT;
        while capturer.next_frame(Duration::from_millis(100))?.is_none() {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "no frame within {NODE_TIMEOUT:?}"
            );
        }
        drop(capturer);
        display.destroy()?;
        tracing::info!(took = ?t.elapsed(), "private Mutter warmed up");
        Ok(())
    }

    fn with_connection(
        conn: Connection,
        pipewire_socket: PathBuf,
        wayland_socket: Option<PathBuf>,
        private: Option<MutterSession>,
    ) -> Result<Self> {
        let dbus = zbus::blocking::fdo::DBusProxy::new(&conn)?;
        let owned = dbus
            .name_has_owner(zbus::names::BusName::try_from(SCREENCAST_NAME)?)
            .unwrap_or(false);
        anyhow::ensure!(owned, "nobody owns {SCREENCAST_NAME} on the bus");
        let screencast = Proxy::new(&conn, SCREENCAST_NAME, SCREENCAST_PATH, SCREENCAST_NAME)?;
        let screencast_api: i32 = screencast.get_property("Version").unwrap_or(0);
        let version = mutter_version();
        // The Wayland socket is logged so tests (and users) can put windows on the displays.
        let wayland = wayland_socket
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), |w| w.display().to_string());
        tracing::info!(%version, screencast_api, pipewire = %pipewire_socket.display(),
            %wayland,
            private = private.is_some(), "Mutter backend ready");
        Ok(Self {
            shared: Arc::new(Shared {
                conn,
                pipewire_socket,
                version,
                screencast_api,
                private,
            }),
        })
    }

    /// The private Mutter, when we started it.
    pub fn private_session(&self) -> Option<&MutterSession> {
        self.shared.private.as_ref()
    }

    /// The D-Bus connection that owns the sessions (input injection uses it too).
    pub fn connection(&self) -> &Connection {
        &self.shared.conn
    }
}

/// `mutter --version`'s first line, e.g. "mutter 43.8".
fn mutter_version() -> String {
    std::process::Command::new("mutter")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "mutter (version unknown)".into())
}

impl VirtualDisplay for MutterBackend {
    fn info(&self) -> CompositorInfo {
        CompositorInfo {
            kind: CompositorKind::Mutter,
            version: format!(
                "{} (ScreenCast API v{})",
                self.shared.version, self.shared.screencast_api
            ),
            private: self.shared.private.is_some(),
            capabilities: Capabilities {
                custom_modes: true,
                removes_outputs: true,
                capture: vec!["PipeWire (RecordVirtual, shm/memfd)".into()],
                notes: vec![
                    "virtual monitors are sized by the capturer's format negotiation".into(),
                    "input: org.gnome.Mutter.RemoteDesktop session linked to each display".into(),
                    "without gnome-shell, Mutter's default plugin paints each monitor a random solid \
                     colour; this backend cannot choose it"
                        .into(),
                ],
            },
        }
    }

    fn create(&self, mode: Mode, label: &str) -> Result<Box<dyn DisplayHandle>> {
        let conn = &self.shared.conn;
        let rd = Proxy::new(
            conn,
            REMOTE_DESKTOP_NAME,
            REMOTE_DESKTOP_PATH,
            REMOTE_DESKTOP_NAME,
        )?;
        let rd_path: OwnedObjectPath = rd
            .call("CreateSession", &())
            .context("RemoteDesktop.CreateSession")?;
        let rd_session = Proxy::new(
            conn,
            REMOTE_DESKTOP_NAME,
            rd_path.clone(),
            "org.gnome.Mutter.RemoteDesktop.Session",
        )?;
        // From here on, stopping the RemoteDesktop session releases everything.
        let mut handle = MutterDisplay {
            shared: self.shared.clone(),
            rd_session: rd_path,
            name: String::new(),
            mode,
            node_id: 0,
            stream: OwnedObjectPath::default(),
            released: false,
        };
        let session_id: String = rd_session
            .get_property("SessionId")
            .context("RemoteDesktop.Session.SessionId")?;

        let sc = Proxy::new(conn, SCREENCAST_NAME, SCREENCAST_PATH, SCREENCAST_NAME)?;
        let props = HashMap::from([("remote-desktop-session-id", Value::from(session_id))]);
        let sc_path: OwnedObjectPath = sc
            .call("CreateSession", &(props,))
            .context("ScreenCast.CreateSession")?;
        let sc_session = Proxy::new(
            conn,
            SCREENCAST_NAME,
            sc_path,
            "org.gnome.Mutter.ScreenCast.Session",
        )?;
        let props = HashMap::from([
            ("cursor-mode", Value::from(CURSOR_EMBEDDED)),
            ("is-platform", Value::from(true)),
        ]);
        let stream_path: OwnedObjectPath = sc_session
            .call("RecordVirtual", &(props,))
            .context("ScreenCast.Session.RecordVirtual")?;
        handle.name = format!(
            "virtual-{}",
            stream_path.as_str().rsplit('/').next().unwrap_or("stream")
        );
        handle.stream = stream_path.clone();

        // Subscribe before Start, so the signal cannot be missed.
        let stream = Proxy::new(
            conn,
            SCREENCAST_NAME,
            stream_path,
            "org.gnome.Mutter.ScreenCast.Stream",
        )?;
        let signals = stream
            .receive_signal("PipeWireStreamAdded")
            .context("subscribing to PipeWireStreamAdded")?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("mutter-stream-added".into())
            .spawn(move || {
                if let Some(msg) = signals.into_iter().next() {
                    let _ = tx.send(msg.body().deserialize::<u32>());
                }
            })?;
        rd_session
            .call::<_, _, ()>("Start", &())
            .context("RemoteDesktop.Session.Start")?;
        handle.node_id = match rx.recv_timeout(NODE_TIMEOUT) {
            Ok(Ok(id)) => id,
            Ok(Err(e)) => anyhow::bail!("PipeWireStreamAdded carried no node id: {e}"),
            Err(_) => anyhow::bail!("Mutter published no PipeWire node within {NODE_TIMEOUT:?}"),
        };
        prime_input_devices(&rd_session)?;
        tracing::info!(label, %mode, name = %handle.name, node_id = handle.node_id,
            "Mutter virtual monitor created");
        Ok(Box::new(handle))
    }
}

/// Makes the RemoteDesktop session create its virtual keyboard and pointer now, before any
/// client of the display connects.
///
/// Mutter 43 creates a session's virtual devices only at the first event of their kind, and
/// the Wayland seat has a keyboard or pointer only while such a device exists (a headless Mutter
/// has no other input device). Until then a client's `wl_seat.get_keyboard` finds the keyboard
/// without a keymap and crashes Mutter (NULL keymap file in `meta_anonymous_file_open_fd`), and
/// a `wl_pointer` bound before the pointer existed never receives events. The keyboard's first
/// event is also the one Mutter drops: a Shift tap spends it without visible effect; a zero
/// relative motion creates the pointer without moving it.
fn prime_input_devices(rd_session: &Proxy<'_>) -> Result<()> {
    for down in [true, false] {
        rd_session
            .call::<_, _, ()>("NotifyKeyboardKeycode", &(u32::from(SHIFT_KEYCODE), down))
            .context("RemoteDesktop.Session.NotifyKeyboardKeycode (creating the keyboard)")?;
    }
    rd_session
        .call::<_, _, ()>("NotifyPointerMotionRelative", &(0.0f64, 0.0f64))
        .context("RemoteDesktop.Session.NotifyPointerMotionRelative (creating the pointer)")?;
    Ok(())
}

/// One RecordVirtual monitor. It exists as long as its RemoteDesktop session runs.
pub struct MutterDisplay {
    shared: Arc<Shared>,
    rd_session: OwnedObjectPath,
    name: String,
    mode: Mode,
    node_id: u32,
    /// The ScreenCast stream: what absolute input positions refer to.
    stream: OwnedObjectPath,
    released: bool,
}

impl MutterDisplay {
    /// The PipeWire node of this display.
    pub fn node_id(&self) -> u32 {
        self.node_id
    }

    fn release(&mut self) -> Result<()> {
        if self.released {
            return Ok(());
        }
        self.released = true;
        let session = Proxy::new(
            &self.shared.conn,
            REMOTE_DESKTOP_NAME,
            self.rd_session.clone(),
            "org.gnome.Mutter.RemoteDesktop.Session",
        )?;
        session
            .call::<_, _, ()>("Stop", &())
            .with_context(|| format!("stopping RemoteDesktop session {}", self.rd_session))
    }
}

impl DisplayHandle for MutterDisplay {
    fn name(&self) -> &str {
        &self.name
    }

    fn mode(&self) -> Mode {
        self.mode
    }

    fn set_mode(&mut self, mode: Mode) -> Result<()> {
        anyhow::bail!(
            "Mutter virtual monitors change size only by renegotiating the PipeWire format; \
             this backend does not do that yet: destroy {} and create a {mode} display",
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

    fn input_sink(&self) -> Result<Box<dyn crate::platform::inject::InputSink>> {
        let sink = crate::platform::inject::mutter::MutterInput::new(
            &self.shared.conn,
            self.rd_session.clone(),
            self.stream.clone(),
            self.mode,
        )?;
        Ok(Box::new(sink))
    }
}

impl Drop for MutterDisplay {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            tracing::warn!("releasing Mutter display {}: {e:#}", self.name);
        }
    }
}
