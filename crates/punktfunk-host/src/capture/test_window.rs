//! Test helper: a tiny Wayland client with one xdg-shell toplevel, fullscreen on the output whose
//! current mode is a given size, painted one solid colour — or alternating between two colours on
//! every frame callback, for capture benchmarks. It puts known content on a display of a compositor
//! without layer-shell (Mutter, KWin).

use super::wlr_screencopy::dispatch_until;
use crate::vdisplay::Rgb;
use anyhow::{Context, Result};
use rustix::fs::MemfdFlags;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wayland_client::globals::{GlobalListContents, registry_queue_init};
use wayland_client::protocol::{
    wl_buffer, wl_callback, wl_compositor, wl_output, wl_registry, wl_shm, wl_shm_pool, wl_surface,
};
use wayland_client::{Connection, Dispatch, QueueHandle, delegate_noop};
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};

#[derive(Default)]
struct State {
    /// (output, current mode size)
    outputs: Vec<(wl_output::WlOutput, Option<(i32, i32)>)>,
    configured: Option<u32>,
    size: (i32, i32),
    closed: bool,
    frame_done: bool,
}

/// A fullscreen solid-colour window; dropping it closes the window.
pub struct SolidWindow {
    frames: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
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
        self.frames.load(Ordering::Relaxed)
    }

    fn start(wayland_socket: &Path, width: u32, height: u32, colours: Vec<Rgb>) -> Result<Self> {
        let frames = Arc::new(AtomicU64::new(0));
        let frames2 = frames.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let socket: PathBuf = wayland_socket.to_owned();
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            run(&socket, (width, height), &colours, &stop2, &frames2, tx)
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(()) => Ok(Self {
                frames,
                stop,
                thread: Some(thread),
            }),
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                match thread.join() {
                    Ok(Err(e)) => Err(e.context("test window did not open")),
                    _ => anyhow::bail!("test window did not open within 10 s"),
                }
            }
        }
    }
}

impl Drop for SolidWindow {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    socket: &Path,
    (width, height): (u32, u32),
    colours: &[Rgb],
    stop: &AtomicBool,
    frames: &AtomicU64,
    opened: mpsc::Sender<()>,
) -> Result<()> {
    let conn = Connection::from_socket(UnixStream::connect(socket)?)?;
    let (globals, mut queue) = registry_queue_init::<State>(&conn)?;
    let qh = queue.handle();
    let compositor: wl_compositor::WlCompositor = globals.bind(&qh, 4..=5, ())?;
    let shm: wl_shm::WlShm = globals.bind(&qh, 1..=1, ())?;
    let wm: xdg_wm_base::XdgWmBase = globals
        .bind(&qh, 1..=3, ())
        .context("compositor lacks xdg_wm_base")?;
    let mut state = State::default();
    globals.contents().with_list(|list| {
        for g in list.iter().filter(|g| g.interface == "wl_output") {
            let o = globals.registry().bind::<wl_output::WlOutput, _, _>(
                g.name,
                g.version.min(2),
                &qh,
                (),
            );
            state.outputs.push((o, None));
        }
    });
    queue.roundtrip(&mut state)?;
    let want = (width as i32, height as i32);
    let target = state
        .outputs
        .iter()
        .find(|(_, m)| *m == Some(want))
        .map(|(o, _)| o.clone())
        .ok_or_else(|| {
            let modes: Vec<_> = state.outputs.iter().map(|(_, m)| *m).collect();
            anyhow::anyhow!("no output of {width}x{height} (outputs: {modes:?})")
        })?;

    let surface = compositor.create_surface(&qh, ());
    let xdg = wm.get_xdg_surface(&surface, &qh, ());
    let toplevel = xdg.get_toplevel(&qh, ());
    toplevel.set_title("punktfunk test window".into());
    toplevel.set_fullscreen(Some(&target));
    surface.commit();

    let stride = width * 4;
    let len = (stride * height) as usize;
    let fd = rustix::fs::memfd_create("punktfunk-test-window", MemfdFlags::CLOEXEC)?;
    rustix::fs::ftruncate(&fd, (len * colours.len()) as u64)?;
    let file = File::from(fd);
    let mut pixels = vec![0u8; len];
    for (i, colour) in colours.iter().enumerate() {
        for px in pixels.chunks_exact_mut(4) {
            px.copy_from_slice(&[colour.2, colour.1, colour.0, 255]);
        }
        file.write_all_at(&pixels, (i * len) as u64)?;
    }
    let pool = shm.create_pool(file.as_fd(), (len * colours.len()) as i32, &qh, ());
    let buffers: Vec<wl_buffer::WlBuffer> = (0..colours.len())
        .map(|i| {
            pool.create_buffer(
                (i * len) as i32,
                width as i32,
                height as i32,
                stride as i32,
                wl_shm::Format::Xrgb8888,
                &qh,
                (),
            )
        })
        .collect();

    let animate = colours.len() > 1;
    let mut announced = false;
    let mut next = 0usize;
    let draw = |state: &mut State, next: &mut usize| {
        surface.attach(Some(&buffers[*next % buffers.len()]), 0, 0);
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
        dispatch_until(&mut queue, &mut state, deadline, |s| {
            s.configured.is_some() || s.closed || (announced && animate && s.frame_done)
        })?;
        anyhow::ensure!(!state.closed, "test window was closed");
        if let Some(serial) = state.configured.take() {
            xdg.ack_configure(serial);
            draw(&mut state, &mut next);
            conn.flush()?;
            if !announced && state.size == want {
                announced = true;
                let _ = opened.send(());
            }
        } else if announced && animate && state.frame_done {
            draw(&mut state, &mut next);
            conn.flush()?;
        }
    }
    toplevel.destroy();
    xdg.destroy();
    surface.destroy();
    for b in buffers {
        b.destroy();
    }
    pool.destroy();
    conn.flush()?;
    Ok(())
}

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for State {
    fn event(
        _: &mut Self,
        _: &wl_registry::WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<wl_output::WlOutput, ()> for State {
    fn event(
        state: &mut Self,
        output: &wl_output::WlOutput,
        event: wl_output::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_output::Event::Mode {
            flags: wayland_client::WEnum::Value(flags),
            width,
            height,
            ..
        } = event
            && flags.contains(wl_output::Mode::Current)
            && let Some(entry) = state.outputs.iter_mut().find(|(o, _)| o == output)
        {
            entry.1 = Some((width, height));
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

delegate_noop!(State: wl_compositor::WlCompositor);
delegate_noop!(State: ignore wl_shm::WlShm);
delegate_noop!(State: wl_shm_pool::WlShmPool);
delegate_noop!(State: ignore wl_surface::WlSurface);
delegate_noop!(State: ignore wl_buffer::WlBuffer);
