//! Wayland client helpers shared by the capture backends, the test clients and the KWin
//! backend: tracking a compositor's wl_outputs (name and current mode) and dispatching events
//! until a condition holds.
//!
//! A client state embeds an [`Outputs`], implements `AsMut<Outputs>` and delegates wl_registry and
//! wl_output events to it with [`delegate_outputs!`](crate::delegate_outputs).

use anyhow::{Context, Result};
use rustix::event::{PollFd, PollFlags, Timespec};
use std::time::Instant;
use wayland_client::globals::{GlobalList, GlobalListContents};
use wayland_client::protocol::{wl_output, wl_registry};
use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle, WEnum};

/// One bound wl_output and what it said about itself.
pub struct OutputEntry {
    pub output: wl_output::WlOutput,
    /// wl_output.name (v4+), e.g. "HEADLESS-2".
    pub name: Option<String>,
    /// Size of the current mode.
    pub mode: Option<(i32, i32)>,
}

/// The wl_outputs present when the client connected. Outputs appearing later are not tracked.
#[derive(Default)]
pub struct Outputs {
    pub list: Vec<OutputEntry>,
}

impl Outputs {
    /// Binds every wl_output global of at least version `min_version`, at its version capped to
    /// `max_version`. Returns how many outputs were skipped for being older than `min_version`.
    /// Names and modes arrive with the next round trip.
    pub fn bind<D>(
        &mut self,
        globals: &GlobalList,
        qh: &QueueHandle<D>,
        min_version: u32,
        max_version: u32,
    ) -> usize
    where
        D: Dispatch<wl_output::WlOutput, ()> + 'static,
    {
        let mut skipped = 0;
        globals.contents().with_list(|list| {
            for g in list.iter().filter(|g| g.interface == "wl_output") {
                if g.version < min_version {
                    skipped += 1;
                    continue;
                }
                let output = globals.registry().bind::<wl_output::WlOutput, _, _>(
                    g.name,
                    g.version.min(max_version),
                    qh,
                    (),
                );
                self.list.push(OutputEntry {
                    output,
                    name: None,
                    mode: None,
                });
            }
        });
        skipped
    }

    /// The output named `name`.
    pub fn by_name(&self, name: &str) -> Option<&wl_output::WlOutput> {
        self.list
            .iter()
            .find(|o| o.name.as_deref() == Some(name))
            .map(|o| &o.output)
    }

    /// The output whose current mode is `size`.
    pub fn by_mode(&self, size: (i32, i32)) -> Option<&wl_output::WlOutput> {
        self.list
            .iter()
            .find(|o| o.mode == Some(size))
            .map(|o| &o.output)
    }

    fn handle(&mut self, output: &wl_output::WlOutput, event: wl_output::Event) {
        let Some(entry) = self.list.iter_mut().find(|o| &o.output == output) else {
            return;
        };
        match event {
            wl_output::Event::Name { name } => entry.name = Some(name),
            wl_output::Event::Mode {
                flags: WEnum::Value(flags),
                width,
                height,
                ..
            } if flags.contains(wl_output::Mode::Current) => entry.mode = Some((width, height)),
            _ => {}
        }
    }
}

impl<D> Dispatch<wl_output::WlOutput, (), D> for Outputs
where
    D: Dispatch<wl_output::WlOutput, ()> + AsMut<Outputs>,
{
    fn event(
        state: &mut D,
        output: &wl_output::WlOutput,
        event: wl_output::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<D>,
    ) {
        state.as_mut().handle(output, event);
    }
}

impl<D> Dispatch<wl_registry::WlRegistry, GlobalListContents, D> for Outputs
where
    D: Dispatch<wl_registry::WlRegistry, GlobalListContents>,
{
    fn event(
        _: &mut D,
        _: &wl_registry::WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<D>,
    ) {
        // Globals appearing later are not ours to use; removed outputs surface as failures.
    }
}

/// Delegates a state's wl_registry (with `GlobalListContents`) and wl_output events to its
/// [`Outputs`] (the state implements `AsMut<Outputs>`).
#[macro_export]
macro_rules! delegate_outputs {
    ($state:ty) => {
        wayland_client::delegate_dispatch!($state: [
            wayland_client::protocol::wl_registry::WlRegistry:
                wayland_client::globals::GlobalListContents
        ] => $crate::platform::wayland::Outputs);
        wayland_client::delegate_dispatch!($state: [
            wayland_client::protocol::wl_output::WlOutput: ()
        ] => $crate::platform::wayland::Outputs);
    };
}

/// Dispatches events of `queue` until `done` holds or `deadline` passes; returns whether `done`
/// held.
pub fn dispatch_until<S>(
    queue: &mut EventQueue<S>,
    state: &mut S,
    deadline: Instant,
    done: impl Fn(&S) -> bool,
) -> Result<bool> {
    loop {
        queue.dispatch_pending(state).context("Wayland dispatch")?;
        if done(state) {
            return Ok(true);
        }
        queue.flush().context("Wayland flush")?;
        let Some(guard) = queue.prepare_read() else {
            continue; // events already queued: dispatch them first
        };
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        let left = deadline - now;
        let timeout = Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        let fd = guard.connection_fd();
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(e).context("polling the Wayland socket"),
        }
        match guard.read() {
            Ok(_) => {}
            Err(wayland_client::backend::WaylandError::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context("reading from the Wayland socket"),
        }
    }
}
