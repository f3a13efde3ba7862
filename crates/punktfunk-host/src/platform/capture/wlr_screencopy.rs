//! Capture through `zwlr_screencopy_manager_v1` (sway and other wlroots compositors).
//!
//! Per frame: `capture_output` → the compositor describes the buffer it wants (`buffer`, and on
//! v3 `buffer_done`) → we hand it a wl_shm buffer backed by a memfd → `copy` (first frame) or
//! `copy_with_damage` (later frames: the compositor answers only once something changed and then
//! only writes the changed regions, which it lists in `damage` events) → `ready` with the
//! presentation time. The memfd keeps the previous content, so after a damaged copy we read only
//! the changed rows. dmabuf (v3 `linux_dmabuf`) is noted but not used yet: shm works everywhere,
//! and these machines have no GPU.

use super::{CaptureOptions, CaptureStats, CapturedFrame, Capturer, PixelFormat, Rect};
use crate::platform::wayland::{Outputs, dispatch_until};
use anyhow::{Context, Result};
use rustix::fs::MemfdFlags;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};
use wayland_client::globals::registry_queue_init;
use wayland_client::protocol::{wl_buffer, wl_output, wl_shm, wl_shm_pool};
use wayland_client::{Connection, Dispatch, EventQueue, Proxy, QueueHandle, WEnum, delegate_noop};
use wayland_protocols_wlr::screencopy::v1::client::{
    zwlr_screencopy_frame_v1::{self, ZwlrScreencopyFrameV1},
    zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1,
};

/// The compositor answers `capture_output` with the buffer description within one round trip;
/// this only guards against a wedged compositor.
const BUFFER_INFO_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BufferParams {
    format: wl_shm::Format,
    width: u32,
    height: u32,
    stride: u32,
}

/// Events of the frame in flight.
#[derive(Default)]
struct FrameEvents {
    shm: Option<BufferParams>,
    /// A non-shm format the compositor offered.
    unsupported_shm_format: Option<u32>,
    dmabuf_offered: bool,
    buffer_done: bool,
    y_invert: bool,
    damage: Vec<Rect>,
    ready: Option<Duration>,
    failed: bool,
}

#[derive(Default)]
struct State {
    outputs: Outputs,
    frame: FrameEvents,
}

impl AsMut<Outputs> for State {
    fn as_mut(&mut self) -> &mut Outputs {
        &mut self.outputs
    }
}

crate::delegate_outputs!(State);

/// A wl_shm buffer in a memfd, reused while the compositor keeps asking for the same layout.
struct ShmBuffer {
    file: File,
    pool: wl_shm_pool::WlShmPool,
    buffer: wl_buffer::WlBuffer,
    params: BufferParams,
}

impl Drop for ShmBuffer {
    fn drop(&mut self) {
        self.buffer.destroy();
        self.pool.destroy();
    }
}

/// A frame request in flight: the next call continues waiting for it.
struct InFlight {
    frame: ZwlrScreencopyFrameV1,
    with_damage: bool,
}

pub struct WlrScreencopy {
    conn: Connection,
    queue: EventQueue<State>,
    state: State,
    manager: ZwlrScreencopyManagerV1,
    shm: wl_shm::WlShm,
    output: wl_output::WlOutput,
    output_name: String,
    options: CaptureOptions,
    buffer: Option<ShmBuffer>,
    in_flight: Option<InFlight>,
    /// `frame.data` holds a complete image matching `buffer` (so damaged copies can build on it).
    have_full: bool,
    /// A `copy_with_damage` was sent, so the compositor tracks damage for this connection.
    damage_started: bool,
    frame: CapturedFrame,
    stats: CaptureStats,
    dmabuf_offered: bool,
}

impl WlrScreencopy {
    /// Connects to the compositor at `wayland_socket` and prepares to capture `output`.
    pub fn connect(wayland_socket: &Path, output: &str, options: CaptureOptions) -> Result<Self> {
        let stream = UnixStream::connect(wayland_socket).with_context(|| {
            format!("connecting to Wayland socket {}", wayland_socket.display())
        })?;
        let conn = Connection::from_socket(stream).context("Wayland handshake")?;
        let (globals, mut queue) =
            registry_queue_init::<State>(&conn).context("reading the Wayland globals")?;
        let qh = queue.handle();
        let manager: ZwlrScreencopyManagerV1 = globals.bind(&qh, 1..=3, ()).map_err(|e| {
            anyhow::anyhow!("the compositor has no usable zwlr_screencopy_manager_v1 ({e})")
        })?;
        let shm: wl_shm::WlShm = globals
            .bind(&qh, 1..=1, ())
            .map_err(|e| anyhow::anyhow!("the compositor has no wl_shm ({e})"))?;
        let mut state = State::default();
        let old_outputs = state.outputs.bind(&globals, &qh, 4, 4);
        queue
            .roundtrip(&mut state)
            .context("Wayland round trip for output names")?;
        let output_proxy = state.outputs.by_name(output).cloned().ok_or_else(|| {
            let names: Vec<&str> = state
                .outputs
                .list
                .iter()
                .filter_map(|o| o.name.as_deref())
                .collect();
            anyhow::anyhow!(
                "no output {output:?} on {} (outputs: {names:?}{})",
                wayland_socket.display(),
                if old_outputs > 0 {
                    format!("; {old_outputs} wl_output(s) older than v4 have no name")
                } else {
                    String::new()
                }
            )
        })?;
        Ok(Self {
            conn,
            queue,
            state,
            manager,
            shm,
            output: output_proxy,
            output_name: output.to_owned(),
            options,
            buffer: None,
            in_flight: None,
            have_full: false,
            damage_started: false,
            frame: CapturedFrame {
                format: PixelFormat::Bgrx,
                width: 0,
                height: 0,
                stride: 0,
                data: Vec::new(),
                timestamp: Duration::ZERO,
                damage: None,
            },
            stats: CaptureStats::default(),
            dmabuf_offered: false,
        })
    }

    /// Whether the compositor offered dmabuf buffers (screencopy v3) for this output.
    pub fn dmabuf_offered(&self) -> bool {
        self.dmabuf_offered
    }

    /// The bound screencopy protocol version.
    pub fn protocol_version(&self) -> u32 {
        self.manager.version()
    }

    fn dispatch_until(&mut self, deadline: Instant, done: impl Fn(&State) -> bool) -> Result<bool> {
        dispatch_until(&mut self.queue, &mut self.state, deadline, done)
    }

    /// Requests a frame and hands the compositor a buffer for it.
    fn start_frame(&mut self) -> Result<()> {
        let qh = self.queue.handle();
        self.state.frame = FrameEvents::default();
        let frame =
            self.manager
                .capture_output(i32::from(self.options.cursor), &self.output, &qh, ());
        let v3 = self.manager.version() >= 3;
        let got_info = self.dispatch_until(Instant::now() + BUFFER_INFO_TIMEOUT, |s| {
            s.frame.failed
                || (s.frame.shm.is_some() || s.frame.unsupported_shm_format.is_some())
                    && (!v3 || s.frame.buffer_done)
        })?;
        let ev = &self.state.frame;
        self.dmabuf_offered |= ev.dmabuf_offered;
        let params = match (got_info, ev.failed, ev.shm, ev.unsupported_shm_format) {
            (false, ..) => {
                frame.destroy();
                anyhow::bail!(
                    "compositor did not describe a buffer for {} within {BUFFER_INFO_TIMEOUT:?}",
                    self.output_name
                )
            }
            (_, true, ..) => {
                frame.destroy();
                anyhow::bail!("compositor refused to capture {}", self.output_name)
            }
            (_, _, Some(params), _) => params,
            (_, _, None, other) => {
                frame.destroy();
                anyhow::bail!(
                    "compositor offers no shm format we read for {} (wl_shm format {other:?}; dmabuf \
                     offered: {})",
                    self.output_name,
                    ev.dmabuf_offered
                )
            }
        };
        if self.buffer.as_ref().map(|b| b.params) != Some(params) {
            self.buffer = None;
            self.have_full = false;
            self.buffer = Some(self.make_buffer(params, &qh)?);
        }
        // The compositor's damage tracker for us starts out fully damaged, so the very first
        // copy may already use damage (it is a full frame anyway). Later, a fresh buffer (new
        // mode, failed copy) needs a full copy, which only `copy` guarantees.
        let with_damage = self.options.damage && (self.have_full || !self.damage_started);
        self.damage_started |= with_damage;
        // The buffer was just set above.
        let Some(buffer) = self.buffer.as_ref() else {
            anyhow::bail!("internal: no shm buffer")
        };
        if with_damage {
            frame.copy_with_damage(&buffer.buffer);
        } else {
            frame.copy(&buffer.buffer);
        }
        self.in_flight = Some(InFlight { frame, with_damage });
        Ok(())
    }

    fn make_buffer(&self, params: BufferParams, qh: &QueueHandle<State>) -> Result<ShmBuffer> {
        let size = u64::from(params.stride) * u64::from(params.height);
        let size_i32 = i32::try_from(size)
            .map_err(|_| anyhow::anyhow!("frame buffer of {size} bytes is too large for wl_shm"))?;
        let fd = rustix::fs::memfd_create("punktfunk-screencopy", MemfdFlags::CLOEXEC)
            .context("memfd_create")?;
        rustix::fs::ftruncate(&fd, size).context("sizing the memfd")?;
        let pool = self.shm.create_pool(fd.as_fd(), size_i32, qh, ());
        let buffer = pool.create_buffer(
            0,
            params.width as i32,
            params.height as i32,
            params.stride as i32,
            params.format,
            qh,
            (),
        );
        Ok(ShmBuffer {
            file: File::from(fd),
            pool,
            buffer,
            params,
        })
    }

    /// Copies the finished frame out of the memfd into `self.frame`.
    fn read_frame(&mut self, with_damage: bool) -> Result<()> {
        let Some(buffer) = self.buffer.as_ref() else {
            anyhow::bail!("internal: frame finished without a buffer")
        };
        let p = buffer.params;
        let ev = &mut self.state.frame;
        let stride = p.stride as usize;
        let len = stride * p.height as usize;
        let format = pixel_format(p.format)?;
        let partial = with_damage && self.have_full && !ev.y_invert;
        let rows = if partial {
            damaged_rows(&ev.damage, p.height)
        } else {
            Some((0, p.height))
        };
        let started = Instant::now();
        self.frame.data.resize(len, 0);
        if let Some((first, end)) = rows {
            let range = first as usize * stride..end as usize * stride;
            buffer
                .file
                .read_exact_at(&mut self.frame.data[range.clone()], range.start as u64)
                .context("reading the frame from the shm buffer")?;
            self.stats.bytes_read += range.len() as u64;
        }
        if ev.y_invert {
            flip_rows(&mut self.frame.data, stride);
        }
        self.stats.read_time += started.elapsed();
        self.frame.format = format;
        self.frame.width = p.width;
        self.frame.height = p.height;
        self.frame.stride = p.stride;
        self.frame.timestamp = ev.ready.unwrap_or_default();
        self.frame.damage = partial.then(|| std::mem::take(&mut ev.damage));
        if !partial {
            self.stats.full_frames += 1;
        }
        self.stats.frames += 1;
        self.have_full = true;
        Ok(())
    }
}

impl Capturer for WlrScreencopy {
    fn next_frame(&mut self, timeout: Duration) -> Result<Option<&CapturedFrame>> {
        let deadline = Instant::now() + timeout;
        // A copy can fail when the output changes mode under it: then start over once.
        for _attempt in 0..2 {
            if self.in_flight.is_none() {
                self.start_frame()?;
            }
            let finished =
                self.dispatch_until(deadline, |s| s.frame.ready.is_some() || s.frame.failed)?;
            if !finished {
                self.stats.unchanged += 1;
                return Ok(None);
            }
            let Some(InFlight { frame, with_damage }) = self.in_flight.take() else {
                anyhow::bail!("internal: no frame in flight")
            };
            frame.destroy();
            if self.state.frame.failed {
                tracing::debug!(output = %self.output_name, "screencopy failed; retrying with a new buffer");
                self.buffer = None;
                self.have_full = false;
                continue;
            }
            self.read_frame(with_damage)?;
            return Ok(Some(&self.frame));
        }
        anyhow::bail!(
            "compositor failed to copy {} twice in a row",
            self.output_name
        )
    }

    fn stats(&self) -> CaptureStats {
        self.stats
    }

    fn describe(&self) -> String {
        format!(
            "wlr-screencopy v{} of {} (shm{}{})",
            self.manager.version(),
            self.output_name,
            if self.options.damage {
                ", damage tracking"
            } else {
                ""
            },
            if self.dmabuf_offered {
                "; dmabuf offered, unused"
            } else {
                ""
            }
        )
    }
}

impl Drop for WlrScreencopy {
    fn drop(&mut self) {
        if let Some(f) = self.in_flight.take() {
            f.frame.destroy();
        }
        self.buffer = None;
        for o in &self.state.outputs.list {
            if o.output.version() >= 3 {
                o.output.release();
            }
        }
        self.manager.destroy();
        let _ = self.conn.flush();
    }
}

fn pixel_format(format: wl_shm::Format) -> Result<PixelFormat> {
    Ok(match format {
        wl_shm::Format::Argb8888 => PixelFormat::Bgra,
        wl_shm::Format::Xrgb8888 => PixelFormat::Bgrx,
        wl_shm::Format::Abgr8888 => PixelFormat::Rgba,
        wl_shm::Format::Xbgr8888 => PixelFormat::Rgbx,
        other => anyhow::bail!("unsupported wl_shm format {other:?}"),
    })
}

/// The rows [first, end) covering all damage rectangles, clamped to the frame; `None` if empty.
fn damaged_rows(damage: &[Rect], height: u32) -> Option<(u32, u32)> {
    let first = damage.iter().map(|r| r.y).min()?;
    let end = damage
        .iter()
        .map(|r| r.y.saturating_add(r.height))
        .max()?
        .min(height);
    (first < end).then_some((first, end))
}

fn flip_rows(data: &mut [u8], stride: usize) {
    if stride == 0 {
        return;
    }
    let rows = data.len() / stride;
    for i in 0..rows / 2 {
        let (top, bottom) = data.split_at_mut((rows - 1 - i) * stride);
        top[i * stride..(i + 1) * stride].swap_with_slice(&mut bottom[..stride]);
    }
}

/// The Wayland globals a compositor advertises (interface, version), for `compositor-probe`.
pub fn list_globals(wayland_socket: &Path) -> Result<Vec<(String, u32)>> {
    let stream = UnixStream::connect(wayland_socket)
        .with_context(|| format!("connecting to Wayland socket {}", wayland_socket.display()))?;
    let conn = Connection::from_socket(stream).context("Wayland handshake")?;
    let (globals, _queue) = registry_queue_init::<State>(&conn).context("reading the globals")?;
    Ok(globals.contents().with_list(|list| {
        list.iter()
            .map(|g| (g.interface.clone(), g.version))
            .collect()
    }))
}

impl Dispatch<ZwlrScreencopyFrameV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &ZwlrScreencopyFrameV1,
        event: zwlr_screencopy_frame_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwlr_screencopy_frame_v1::Event;
        let f = &mut state.frame;
        match event {
            Event::Buffer {
                format,
                width,
                height,
                stride,
            } => match format {
                WEnum::Value(format) if pixel_format(format).is_ok() => {
                    f.shm = Some(BufferParams {
                        format,
                        width,
                        height,
                        stride,
                    });
                }
                WEnum::Value(other) => f.unsupported_shm_format = Some(other as u32),
                WEnum::Unknown(raw) => f.unsupported_shm_format = Some(raw),
            },
            Event::LinuxDmabuf { .. } => f.dmabuf_offered = true,
            Event::BufferDone => f.buffer_done = true,
            Event::Flags {
                flags: WEnum::Value(flags),
            } => f.y_invert = flags.contains(zwlr_screencopy_frame_v1::Flags::YInvert),
            Event::Damage {
                x,
                y,
                width,
                height,
            } => f.damage.push(Rect {
                x,
                y,
                width,
                height,
            }),
            Event::Ready {
                tv_sec_hi,
                tv_sec_lo,
                tv_nsec,
            } => {
                let secs = (u64::from(tv_sec_hi) << 32) | u64::from(tv_sec_lo);
                f.ready = Some(Duration::new(secs, tv_nsec.min(999_999_999)));
            }
            Event::Failed => f.failed = true,
            _ => {}
        }
    }
}

delegate_noop!(State: ZwlrScreencopyManagerV1);
delegate_noop!(State: ignore wl_shm::WlShm);
delegate_noop!(State: wl_shm_pool::WlShmPool);
delegate_noop!(State: ignore wl_buffer::WlBuffer);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_rows_union() {
        let r = |y, h| Rect {
            x: 0,
            y,
            width: 1,
            height: h,
        };
        assert_eq!(damaged_rows(&[], 100), None);
        assert_eq!(damaged_rows(&[r(10, 5), r(40, 2)], 100), Some((10, 42)));
        assert_eq!(damaged_rows(&[r(90, 50)], 100), Some((90, 100)));
        assert_eq!(damaged_rows(&[r(100, 5)], 100), None);
    }

    #[test]
    fn flips_rows() {
        let mut d = vec![1, 1, 2, 2, 3, 3];
        flip_rows(&mut d, 2);
        assert_eq!(d, vec![3, 3, 2, 2, 1, 1]);
    }
}
