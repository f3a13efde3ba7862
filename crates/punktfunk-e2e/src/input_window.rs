//! A Wayland test window that records the input it receives: a fullscreen xdg toplevel on the
//! output of a given size, which turns key events into text through the keymap the compositor
//! sent it (real libxkbcommon, as any application would) and records pointer positions at each
//! button press in surface coordinates.

use rustix::fs::MemfdFlags;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wayland_client::globals::{GlobalListContents, registry_queue_init};
use wayland_client::protocol::{
    wl_buffer, wl_compositor, wl_keyboard, wl_output, wl_pointer, wl_registry, wl_seat, wl_shm,
    wl_shm_pool, wl_surface,
};
use wayland_client::{Connection, Dispatch, QueueHandle, WEnum, delegate_noop};
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};
use xkbcommon::xkb;

/// What the window saw.
#[derive(Default, Debug, Clone)]
pub struct Seen {
    /// Text decoded from key presses.
    pub text: String,
    /// Pointer position (surface coordinates) at each button press, with the button code.
    pub clicks: Vec<(f64, f64, u32)>,
    pub keyboard_focus: bool,
    pub keymaps: u32,
}

#[derive(Default)]
struct State {
    outputs: Vec<(wl_output::WlOutput, Option<(i32, i32)>)>,
    configured: Option<u32>,
    size: (i32, i32),
    pointer: (f64, f64),
    xkb: Option<xkb::State>,
    seen: Arc<Mutex<Seen>>,
}

pub struct InputWindow {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), String>>>,
    pub seen: Arc<Mutex<Seen>>,
}

impl InputWindow {
    /// Opens the window fullscreen on the output whose mode is `width`×`height`; returns once it
    /// is shown at that size.
    pub fn open(socket: &Path, width: i32, height: i32) -> Result<Self, String> {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (socket, s2, stop2): (PathBuf, _, _) = (socket.to_owned(), seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || run(&socket, (width, height), s2, &stop2, tx));
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(()) => Ok(InputWindow {
                stop,
                thread: Some(thread),
                seen,
            }),
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                Err(match thread.join() {
                    Ok(Err(e)) => e,
                    _ => "test window did not open within 10 s".into(),
                })
            }
        }
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for InputWindow {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    socket: &Path,
    want: (i32, i32),
    seen: Arc<Mutex<Seen>>,
    stop: &AtomicBool,
    opened: std::sync::mpsc::Sender<()>,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let conn = Connection::from_socket(UnixStream::connect(socket).map_err(|e| err(&e))?)
        .map_err(|e| err(&e))?;
    let (globals, mut queue) = registry_queue_init::<State>(&conn).map_err(|e| err(&e))?;
    let qh = queue.handle();
    let compositor: wl_compositor::WlCompositor =
        globals.bind(&qh, 4..=5, ()).map_err(|e| err(&e))?;
    let shm: wl_shm::WlShm = globals.bind(&qh, 1..=1, ()).map_err(|e| err(&e))?;
    let wm: xdg_wm_base::XdgWmBase = globals.bind(&qh, 1..=3, ()).map_err(|e| err(&e))?;
    let seat: wl_seat::WlSeat = globals.bind(&qh, 5..=7, ()).map_err(|e| err(&e))?;
    let mut state = State {
        seen,
        ..State::default()
    };
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
    queue.roundtrip(&mut state).map_err(|e| err(&e))?;
    let target = state
        .outputs
        .iter()
        .find(|(_, m)| *m == Some(want))
        .map(|(o, _)| o.clone())
        .ok_or_else(|| format!("no output of {want:?}"))?;
    let _pointer = seat.get_pointer(&qh, ());
    let _keyboard = seat.get_keyboard(&qh, ());

    let surface = compositor.create_surface(&qh, ());
    let xdg = wm.get_xdg_surface(&surface, &qh, ());
    let toplevel = xdg.get_toplevel(&qh, ());
    toplevel.set_title("punktfunk input test".into());
    toplevel.set_fullscreen(Some(&target));
    surface.commit();

    let (w, h) = want;
    let len = (w * h * 4) as usize;
    let fd = rustix::fs::memfd_create("input-window", MemfdFlags::CLOEXEC).map_err(|e| err(&e))?;
    rustix::fs::ftruncate(&fd, len as u64).map_err(|e| err(&e))?;
    let pool = shm.create_pool(fd.as_fd(), len as i32, &qh, ());
    let buffer = pool.create_buffer(0, w, h, w * 4, wl_shm::Format::Xrgb8888, &qh, ());
    let mut announced = false;
    // A compositor that kills the client may say why in a protocol error; show it with the EPIPE.
    let why = |e: &dyn std::fmt::Display| match conn.protocol_error() {
        Some(p) => format!("{e}: protocol error {p}"),
        None => e.to_string(),
    };
    while !stop.load(Ordering::Relaxed) {
        queue.flush().map_err(|e| format!("flush: {}", why(&e)))?;
        if let Some(guard) = queue.prepare_read() {
            let fd = guard.connection_fd();
            let mut fds = [rustix::event::PollFd::new(
                &fd,
                rustix::event::PollFlags::IN,
            )];
            let timeout = rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 20_000_000,
            };
            if rustix::event::poll(&mut fds, Some(&timeout)).unwrap_or(0) > 0 {
                let _ = guard.read();
            }
        }
        queue
            .dispatch_pending(&mut state)
            .map_err(|e| format!("dispatch: {}", why(&e)))?;
        if let Some(serial) = state.configured.take() {
            xdg.ack_configure(serial);
            surface.attach(Some(&buffer), 0, 0);
            surface.damage_buffer(0, 0, w, h);
            surface.commit();
            if !announced && state.size == want {
                announced = true;
                let _ = opened.send(());
            }
        }
    }
    toplevel.destroy();
    xdg.destroy();
    surface.destroy();
    let _ = conn.flush();
    Ok(())
}

/// Polls `cond` on the window's record until it holds or `timeout` passes.
pub fn wait_for(window: &InputWindow, timeout: Duration, cond: impl Fn(&Seen) -> bool) -> Seen {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = window.seen();
        if cond(&seen) || Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Dispatch<wl_keyboard::WlKeyboard, ()> for State {
    fn event(
        state: &mut Self,
        _: &wl_keyboard::WlKeyboard,
        event: wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_keyboard::Event::Keymap { fd, size, .. } => {
                let context = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
                let mut bytes = vec![0u8; size as usize];
                let file = std::fs::File::from(fd);
                use std::os::unix::fs::FileExt;
                if file.read_exact_at(&mut bytes, 0).is_ok() {
                    while bytes.last() == Some(&0) {
                        bytes.pop();
                    }
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    let keymap = xkb::Keymap::new_from_string(
                        &context,
                        text,
                        xkb::KEYMAP_FORMAT_TEXT_V1,
                        xkb::KEYMAP_COMPILE_NO_FLAGS,
                    );
                    state.xkb = keymap.map(|k| xkb::State::new(&k));
                    state.seen.lock().unwrap().keymaps += 1;
                }
            }
            wl_keyboard::Event::Enter { .. } => state.seen.lock().unwrap().keyboard_focus = true,
            wl_keyboard::Event::Leave { .. } => state.seen.lock().unwrap().keyboard_focus = false,
            wl_keyboard::Event::Key {
                key,
                state: WEnum::Value(key_state),
                ..
            } => {
                let Some(xkb_state) = state.xkb.as_mut() else {
                    return;
                };
                let code = xkb::Keycode::new(key + 8);
                if key_state == wl_keyboard::KeyState::Pressed {
                    let text = xkb_state.key_get_utf8(code);
                    state.seen.lock().unwrap().text.push_str(&text);
                }
            }
            wl_keyboard::Event::Modifiers {
                mods_depressed,
                mods_latched,
                mods_locked,
                group,
                ..
            } => {
                if let Some(s) = state.xkb.as_mut() {
                    s.update_mask(mods_depressed, mods_latched, mods_locked, 0, 0, group);
                }
            }
            _ => {}
        }
    }
}

impl Dispatch<wl_pointer::WlPointer, ()> for State {
    fn event(
        state: &mut Self,
        _: &wl_pointer::WlPointer,
        event: wl_pointer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_pointer::Event::Enter {
                surface_x,
                surface_y,
                ..
            }
            | wl_pointer::Event::Motion {
                surface_x,
                surface_y,
                ..
            } => state.pointer = (surface_x, surface_y),
            wl_pointer::Event::Button {
                button,
                state: WEnum::Value(wl_pointer::ButtonState::Pressed),
                ..
            } => {
                let (x, y) = state.pointer;
                state.seen.lock().unwrap().clicks.push((x, y, button));
            }
            _ => {}
        }
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
            flags: WEnum::Value(flags),
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
        if let xdg_toplevel::Event::Configure { width, height, .. } = event {
            state.size = (width, height);
        }
    }
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

delegate_noop!(State: wl_compositor::WlCompositor);
delegate_noop!(State: ignore wl_shm::WlShm);
delegate_noop!(State: wl_shm_pool::WlShmPool);
delegate_noop!(State: ignore wl_buffer::WlBuffer);
delegate_noop!(State: ignore wl_surface::WlSurface);
delegate_noop!(State: ignore wl_seat::WlSeat);
