//! Test helpers: tiny Wayland clients that put known content on a display of a compositor.
//!
//! - [`Animator`] animates a 64×64 square in the top-left corner of one output (a wlr-layer-shell
//!   overlay surface), redrawing on every frame callback. It gives capture tests a display that
//!   changes every refresh, as a game would.
//! - [`SolidWindow`] is one xdg-shell toplevel, fullscreen on the output whose current mode is a
//!   given size, painted one solid colour — or alternating between two colours on every frame
//!   callback, for capture benchmarks. It puts known content on a display of a compositor without
//!   layer-shell (Mutter, KWin).

use super::Rgb;
use crate::platform::wayland::{Outputs, dispatch_until};
use anyhow::{Context, Result};
use rustix::fs::MemfdFlags;
use std::fs::File;
use std::ops::RangeInclusive;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wayland_client::globals::{GlobalList, registry_queue_init};
use wayland_client::protocol::{
    wl_buffer, wl_callback, wl_compositor, wl_shm, wl_shm_pool, wl_surface,
};
use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle, delegate_noop};
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};
use wayland_protocols_wlr::layer_shell::v1::client::{
    zwlr_layer_shell_v1::{self, ZwlrLayerShellV1},
    zwlr_layer_surface_v1::{self, ZwlrLayerSurfaceV1},
};

/// Side of the animator's square.
const SIZE: u32 = 64;

#[derive(Default)]
struct State {
    outputs: Outputs,
    configured: Option<u32>,
    /// Size from the last xdg_toplevel configure.
    size: (i32, i32),
    closed: bool,
    frame_done: bool,
    /// Per buffer: whether the compositor released it.
    released: Vec<bool>,
}

/// A client running on its own thread until stopped or dropped.
struct ClientThread {
    frames: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl ClientThread {
    /// Runs `run(stop, frames, started)` on a new thread and returns once it sends `started`.
    /// `failed` names the failure ("animator did not start").
    fn spawn(
        failed: &str,
        run: impl FnOnce(&AtomicBool, &AtomicU64, mpsc::Sender<()>) -> Result<()> + Send + 'static,
    ) -> Result<Self> {
        let frames = Arc::new(AtomicU64::new(0));
        let frames2 = frames.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || run(&stop2, &frames2, tx));
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(()) => Ok(Self {
                frames,
                stop,
                thread: Some(thread),
            }),
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                match thread.join() {
                    Ok(Err(e)) => Err(e.context(failed.to_owned())),
                    _ => anyhow::bail!("{failed} within 10 s"),
                }
            }
        }
    }

    fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Stops the thread and waits for it; `None` if it panicked (or was already stopped).
    fn stop(&mut self) -> Option<Result<()>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for ClientThread {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A running animation; stop it with [`Animator::stop`].
pub struct Animator {
    client: ClientThread,
}

impl Animator {
    /// Starts animating on `output` and returns once the first frame is on screen.
    pub fn start(wayland_socket: &Path, output: &str) -> Result<Self> {
        let socket: PathBuf = wayland_socket.to_owned();
        let output = output.to_owned();
        let client = ClientThread::spawn("animator did not start", move |stop, frames, tx| {
            run_animator(&socket, &output, stop, frames, tx)
        })?;
        Ok(Self { client })
    }

    /// Stops the animation; returns how many frames it drew.
    pub fn stop(mut self) -> Result<u64> {
        match self.client.stop() {
            Some(r) => r.map(|()| self.client.frames()),
            None => anyhow::bail!("animator thread panicked"),
        }
    }
}

/// A fullscreen solid-colour window; dropping it closes the window.
pub struct SolidWindow {
    client: ClientThread,
}

impl SolidWindow {
    /// Opens the window fullscreen on the output of size `width`×`height` and returns once a
    /// buffer of that size is committed.
    pub fn open(wayland_socket: &Path, width: u32, height: u32, colour: Rgb) -> Result<Self> {
        Self::start(wayland_socket, width, height, vec![colour])
    }

    /// Like [`SolidWindow::open`], but shows the colours in turn, one per frame callback.
    pub fn animated(
        wayland_socket: &Path,
        width: u32,
        height: u32,
        colours: [Rgb; 2],
    ) -> Result<Self> {
        Self::start(wayland_socket, width, height, colours.to_vec())
    }

    /// Frames drawn so far.
    pub fn frames(&self) -> u64 {
        self.client.frames()
    }

    fn start(wayland_socket: &Path, width: u32, height: u32, colours: Vec<Rgb>) -> Result<Self> {
        let socket: PathBuf = wayland_socket.to_owned();
        let client = ClientThread::spawn("test window did not open", move |stop, frames, tx| {
            run_window(&socket, (width, height), &colours, stop, frames, tx)
        })?;
        Ok(Self { client })
    }
}

/// A connected client: its globals bound so far, with outputs bound and described.
struct Client {
    conn: Connection,
    globals: GlobalList,
    queue: EventQueue<State>,
    state: State,
    compositor: wl_compositor::WlCompositor,
    shm: wl_shm::WlShm,
}

impl Client {
    /// Connects, binds wl_compositor (`compositor` versions), wl_shm and the wl_outputs of at
    /// least `outputs.start()` (at most `outputs.end()`), and waits for the outputs' description.
    fn connect(
        socket: &Path,
        compositor: RangeInclusive<u32>,
        outputs: RangeInclusive<u32>,
    ) -> Result<Self> {
        let conn = Connection::from_socket(UnixStream::connect(socket)?)?;
        let (globals, mut queue) = registry_queue_init::<State>(&conn)?;
        let qh = queue.handle();
        let compositor: wl_compositor::WlCompositor = globals.bind(&qh, compositor, ())?;
        let shm: wl_shm::WlShm = globals.bind(&qh, 1..=1, ())?;
        let mut state = State::default();
        state
            .outputs
            .bind(&globals, &qh, *outputs.start(), *outputs.end());
        queue.roundtrip(&mut state)?;
        Ok(Self {
            conn,
            globals,
            queue,
            state,
            compositor,
            shm,
        })
    }

    fn dispatch_until(&mut self, deadline: Instant, done: impl Fn(&State) -> bool) -> Result<bool> {
        dispatch_until(&mut self.queue, &mut self.state, deadline, done)
    }
}

/// `count` XRGB8888 wl_shm buffers of one size in one memfd.
struct ShmBuffers {
    file: File,
    pool: wl_shm_pool::WlShmPool,
    buffers: Vec<wl_buffer::WlBuffer>,
    /// Bytes per buffer.
    len: usize,
}

impl ShmBuffers {
    fn new(client: &mut Client, name: &str, count: usize, width: u32, height: u32) -> Result<Self> {
        let qh = client.queue.handle();
        let stride = width * 4;
        let len = (stride * height) as usize;
        let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&fd, (len * count) as u64)?;
        let pool = client
            .shm
            .create_pool(fd.as_fd(), (len * count) as i32, &qh, ());
        let buffers = (0..count)
            .map(|i| {
                pool.create_buffer(
                    (i * len) as i32,
                    width as i32,
                    height as i32,
                    stride as i32,
                    wl_shm::Format::Xrgb8888,
                    &qh,
                    i,
                )
            })
            .collect();
        client.state.released = vec![true; count];
        Ok(Self {
            file: File::from(fd),
            pool,
            buffers,
            len,
        })
    }

    /// Paints buffer `i` with one pixel value (bytes in memory order).
    fn fill(&self, i: usize, pixel: [u8; 4], scratch: &mut Vec<u8>) -> Result<()> {
        scratch.resize(self.len, 0);
        for px in scratch.chunks_exact_mut(4) {
            px.copy_from_slice(&pixel);
        }
        self.file.write_all_at(scratch, (i * self.len) as u64)?;
        Ok(())
    }

    fn destroy(self) {
        for b in self.buffers {
            b.destroy();
        }
        self.pool.destroy();
    }
}

fn run_animator(
    socket: &Path,
    output: &str,
    stop: &AtomicBool,
    frames: &AtomicU64,
    started: mpsc::Sender<()>,
) -> Result<()> {
    let mut c = Client::connect(socket, 4..=4, 4..=4)?;
    let qh = c.queue.handle();
    let layer_shell: ZwlrLayerShellV1 = c
        .globals
        .bind(&qh, 1..=4, ())
        .context("compositor lacks zwlr_layer_shell_v1")?;
    let target = c
        .state
        .outputs
        .by_name(output)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("animator: no output {output}"))?;

    let surface = c.compositor.create_surface(&qh, ());
    let layer = layer_shell.get_layer_surface(
        &surface,
        Some(&target),
        zwlr_layer_shell_v1::Layer::Overlay,
        "punktfunk-test-animator".into(),
        &qh,
        (),
    );
    layer.set_anchor(zwlr_layer_surface_v1::Anchor::Top | zwlr_layer_surface_v1::Anchor::Left);
    layer.set_size(SIZE, SIZE);
    surface.commit();
    let deadline = Instant::now() + Duration::from_secs(5);
    anyhow::ensure!(
        c.dispatch_until(deadline, |s| s.configured.is_some() || s.closed)?,
        "animator: no configure"
    );
    anyhow::ensure!(!c.state.closed, "animator: layer surface closed");
    if let Some(serial) = c.state.configured.take() {
        layer.ack_configure(serial);
    }

    let shm = ShmBuffers::new(&mut c, "punktfunk-animator", 2, SIZE, SIZE)?;
    let mut count = 0u64;
    let mut pixels = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let Some(i) = c.state.released.iter().position(|r| *r) else {
            let deadline = Instant::now() + Duration::from_secs(1);
            c.dispatch_until(deadline, |s| s.released.contains(&true))?;
            continue;
        };
        // A colour that changes every frame: cycle the hue-ish channels.
        let v = (count % 256) as u8;
        shm.fill(i, [v, 255 - v, v / 2, 255], &mut pixels)?;
        c.state.released[i] = false;
        c.state.frame_done = false;
        surface.attach(Some(&shm.buffers[i]), 0, 0);
        surface.damage_buffer(0, 0, SIZE as i32, SIZE as i32);
        surface.frame(&qh, ());
        surface.commit();
        count += 1;
        frames.store(count, Ordering::Relaxed);
        if count == 1 {
            let _ = started.send(());
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        c.dispatch_until(deadline, |s| s.frame_done || s.closed)?;
        anyhow::ensure!(!c.state.closed, "animator: layer surface closed");
    }
    layer.destroy();
    surface.destroy();
    shm.destroy();
    c.conn.flush()?;
    Ok(())
}

fn run_window(
    socket: &Path,
    (width, height): (u32, u32),
    colours: &[Rgb],
    stop: &AtomicBool,
    frames: &AtomicU64,
    opened: mpsc::Sender<()>,
) -> Result<()> {
    let mut c = Client::connect(socket, 4..=5, 1..=2)?;
    let qh = c.queue.handle();
    let wm: xdg_wm_base::XdgWmBase = c
        .globals
        .bind(&qh, 1..=3, ())
        .context("compositor lacks xdg_wm_base")?;
    let want = (width as i32, height as i32);
    let target = c.state.outputs.by_mode(want).cloned().ok_or_else(|| {
        let modes: Vec<_> = c.state.outputs.list.iter().map(|o| o.mode).collect();
        anyhow::anyhow!("no output of {width}x{height} (outputs: {modes:?})")
    })?;

    let surface = c.compositor.create_surface(&qh, ());
    let xdg = wm.get_xdg_surface(&surface, &qh, ());
    let toplevel = xdg.get_toplevel(&qh, ());
    toplevel.set_title("punktfunk test window".into());
    toplevel.set_fullscreen(Some(&target));
    surface.commit();

    let shm = ShmBuffers::new(
        &mut c,
        "punktfunk-test-window",
        colours.len(),
        width,
        height,
    )?;
    let mut pixels = Vec::new();
    for (i, colour) in colours.iter().enumerate() {
        shm.fill(i, [colour.2, colour.1, colour.0, 255], &mut pixels)?;
    }
    drop(pixels);

    let animate = colours.len() > 1;
    let mut announced = false;
    let mut next = 0usize;
    let draw = |state: &mut State, next: &mut usize| {
        surface.attach(Some(&shm.buffers[*next % shm.buffers.len()]), 0, 0);
        surface.damage_buffer(0, 0, width as i32, height as i32);
        if animate {
            state.frame_done = false;
            surface.frame(&qh, ());
        }
        surface.commit();
        *next += 1;
        frames.fetch_add(1, Ordering::Relaxed);
    };
    while !stop.load(Ordering::Relaxed) {
        let deadline = Instant::now() + Duration::from_millis(50);
        c.dispatch_until(deadline, |s| {
            s.configured.is_some() || s.closed || (announced && animate && s.frame_done)
        })?;
        anyhow::ensure!(!c.state.closed, "test window was closed");
        if let Some(serial) = c.state.configured.take() {
            xdg.ack_configure(serial);
            draw(&mut c.state, &mut next);
            c.conn.flush()?;
            if !announced && c.state.size == want {
                announced = true;
                let _ = opened.send(());
            }
        } else if announced && animate && c.state.frame_done {
            draw(&mut c.state, &mut next);
            c.conn.flush()?;
        }
    }
    toplevel.destroy();
    xdg.destroy();
    surface.destroy();
    shm.destroy();
    c.conn.flush()?;
    Ok(())
}

impl AsMut<Outputs> for State {
    fn as_mut(&mut self) -> &mut Outputs {
        &mut self.outputs
    }
}

crate::delegate_outputs!(State);

impl Dispatch<ZwlrLayerSurfaceV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &ZwlrLayerSurfaceV1,
        event: zwlr_layer_surface_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            zwlr_layer_surface_v1::Event::Configure { serial, .. } => {
                state.configured = Some(serial)
            }
            zwlr_layer_surface_v1::Event::Closed => state.closed = true,
            _ => {}
        }
    }
}

impl Dispatch<xdg_wm_base::XdgWmBase, ()> for State {
    fn event(
        _: &mut Self,
        wm: &xdg_wm_base::XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm.pong(serial);
        }
    }
}

impl Dispatch<xdg_surface::XdgSurface, ()> for State {
    fn event(
        state: &mut Self,
        _: &xdg_surface::XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            state.configured = Some(serial);
        }
    }
}

impl Dispatch<xdg_toplevel::XdgToplevel, ()> for State {
    fn event(
        state: &mut Self,
        _: &xdg_toplevel::XdgToplevel,
        event: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            xdg_toplevel::Event::Configure { width, height, .. } => state.size = (width, height),
            xdg_toplevel::Event::Close => state.closed = true,
            _ => {}
        }
    }
}

impl Dispatch<wl_callback::WlCallback, ()> for State {
    fn event(
        state: &mut Self,
        _: &wl_callback::WlCallback,
        event: wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_callback::Event::Done { .. } = event {
            state.frame_done = true;
        }
    }
}

impl Dispatch<wl_buffer::WlBuffer, usize> for State {
    fn event(
        state: &mut Self,
        _: &wl_buffer::WlBuffer,
        event: wl_buffer::Event,
        index: &usize,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_buffer::Event::Release = event
            && let Some(r) = state.released.get_mut(*index)
        {
            *r = true;
        }
    }
}

delegate_noop!(State: wl_compositor::WlCompositor);
delegate_noop!(State: ignore wl_shm::WlShm);
delegate_noop!(State: wl_shm_pool::WlShmPool);
delegate_noop!(State: ignore wl_surface::WlSurface);
delegate_noop!(State: ZwlrLayerShellV1);
