//! Test helper: a tiny Wayland client that animates a 64×64 square in the top-left corner of one
//! output (a wlr-layer-shell overlay surface), redrawing on every frame callback. It gives capture
//! tests a display that changes every refresh, as a game would.

use super::wlr_screencopy::dispatch_until;
use anyhow::{Context, Result};
use rustix::fs::MemfdFlags;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wayland_client::globals::{GlobalListContents, registry_queue_init};
use wayland_client::protocol::{
    wl_buffer, wl_callback, wl_compositor, wl_output, wl_registry, wl_shm, wl_shm_pool, wl_surface,
};
use wayland_client::{Connection, Dispatch, QueueHandle, delegate_noop};
use wayland_protocols_wlr::layer_shell::v1::client::{
    zwlr_layer_shell_v1::{self, ZwlrLayerShellV1},
    zwlr_layer_surface_v1::{self, ZwlrLayerSurfaceV1},
};

const SIZE: u32 = 64;

#[derive(Default)]
struct State {
    outputs: Vec<(wl_output::WlOutput, Option<String>)>,
    configured: Option<u32>,
    closed: bool,
    frame_done: bool,
    released: [bool; 2],
}

/// A running animation; stop it with [`Animator::stop`].
pub struct Animator {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<u64>>>,
}

impl Animator {
    /// Starts animating on `output` and returns once the first frame is on screen.
    pub fn start(wayland_socket: &Path, output: &str) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let socket: PathBuf = wayland_socket.to_owned();
        let output = output.to_owned();
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || run(&socket, &output, &stop2, tx));
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(()) => Ok(Self {
                stop,
                thread: Some(thread),
            }),
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                let result = thread.join();
                match result {
                    Ok(Err(e)) => Err(e.context("animator did not start")),
                    _ => anyhow::bail!("animator did not start within 10 s"),
                }
            }
        }
    }

    /// Stops the animation; returns how many frames it drew.
    pub fn stop(mut self) -> Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => anyhow::bail!("animator thread panicked"),
        }
    }
}

impl Drop for Animator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(socket: &Path, output: &str, stop: &AtomicBool, started: mpsc::Sender<()>) -> Result<u64> {
    let conn = Connection::from_socket(UnixStream::connect(socket)?)?;
    let (globals, mut queue) = registry_queue_init::<State>(&conn)?;
    let qh = queue.handle();
    let compositor: wl_compositor::WlCompositor = globals.bind(&qh, 4..=4, ())?;
    let shm: wl_shm::WlShm = globals.bind(&qh, 1..=1, ())?;
    let layer_shell: ZwlrLayerShellV1 = globals
        .bind(&qh, 1..=4, ())
        .context("compositor lacks zwlr_layer_shell_v1")?;
    let mut state = State::default();
    globals.contents().with_list(|list| {
        for g in list
            .iter()
            .filter(|g| g.interface == "wl_output" && g.version >= 4)
        {
            let o = globals
                .registry()
                .bind::<wl_output::WlOutput, _, _>(g.name, 4, &qh, ());
            state.outputs.push((o, None));
        }
    });
    queue.roundtrip(&mut state)?;
    let target = state
        .outputs
        .iter()
        .find(|(_, n)| n.as_deref() == Some(output))
        .map(|(o, _)| o.clone())
        .ok_or_else(|| anyhow::anyhow!("animator: no output {output}"))?;

    let surface = compositor.create_surface(&qh, ());
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
        dispatch_until(&mut queue, &mut state, deadline, |s| s.configured.is_some()
            || s.closed)?,
        "animator: no configure"
    );
    anyhow::ensure!(!state.closed, "animator: layer surface closed");
    if let Some(serial) = state.configured.take() {
        layer.ack_configure(serial);
    }

    let stride = SIZE * 4;
    let one = (stride * SIZE) as usize;
    let fd = rustix::fs::memfd_create("punktfunk-animator", MemfdFlags::CLOEXEC)?;
    rustix::fs::ftruncate(&fd, (one * 2) as u64)?;
    let pool = shm.create_pool(fd.as_fd(), (one * 2) as i32, &qh, ());
    let buffers: Vec<wl_buffer::WlBuffer> = (0..2)
        .map(|i| {
            pool.create_buffer(
                (i * one) as i32,
                SIZE as i32,
                SIZE as i32,
                stride as i32,
                wl_shm::Format::Xrgb8888,
                &qh,
                i,
            )
        })
        .collect();
    let file = File::from(fd);
    state.released = [true, true];
    let mut frames = 0u64;
    let mut pixels = vec![0u8; one];
    while !stop.load(Ordering::Relaxed) {
        let Some(i) = state.released.iter().position(|r| *r) else {
            let deadline = Instant::now() + Duration::from_secs(1);
            dispatch_until(&mut queue, &mut state, deadline, |s| {
                s.released.contains(&true)
            })?;
            continue;
        };
        // A colour that changes every frame: cycle the hue-ish channels.
        let v = (frames % 256) as u8;
        for px in pixels.chunks_exact_mut(4) {
            px.copy_from_slice(&[v, 255 - v, v / 2, 255]);
        }
        file.write_all_at(&pixels, (i * one) as u64)?;
        state.released[i] = false;
        state.frame_done = false;
        surface.attach(Some(&buffers[i]), 0, 0);
        surface.damage_buffer(0, 0, SIZE as i32, SIZE as i32);
        surface.frame(&qh, ());
        surface.commit();
        frames += 1;
        if frames == 1 {
            let _ = started.send(());
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        dispatch_until(&mut queue, &mut state, deadline, |s| {
            s.frame_done || s.closed
        })?;
        anyhow::ensure!(!state.closed, "animator: layer surface closed");
    }
    layer.destroy();
    surface.destroy();
    for b in buffers {
        b.destroy();
    }
    pool.destroy();
    conn.flush()?;
    Ok(frames)
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
        if let wl_output::Event::Name { name } = event
            && let Some(entry) = state.outputs.iter_mut().find(|(o, _)| o == output)
        {
            entry.1 = Some(name);
        }
    }
}

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
