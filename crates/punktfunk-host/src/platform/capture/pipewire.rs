//! Capture from a PipeWire video node (Mutter's `RecordVirtual` stream; KWin and gamescope
//! publish theirs the same way).
//!
//! PipeWire objects are not `Send`, so each capturer runs its own PipeWire main loop on a thread
//! of its own. That thread negotiates the format — 32-bit BGRx/BGRA/RGBx/RGBA at exactly the
//! display's size (for a virtual monitor the consumer's size decides the monitor's size) — maps
//! the shm/memfd buffers and copies each new frame into a shared slot; [`Capturer::next_frame`]
//! takes the newest one (older ones are dropped: video is drop-oldest).

use super::{CaptureStats, CapturedFrame, Capturer, PixelFormat};
use ::pipewire as pw;
use anyhow::{Context, Result};
use pw::spa;
use spa::param::video::VideoFormat;
use spa::pod::Pod;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long negotiation may take before `connect` gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the PipeWire thread hands to the capturer.
#[derive(Default)]
struct Slot {
    /// The newest frame not yet taken.
    latest: Option<CapturedFrame>,
    /// A pixel buffer the capturer gave back, reused for the next copy.
    spare: Vec<u8>,
    /// The negotiated (format, width, height).
    negotiated: Option<(PixelFormat, u32, u32)>,
    /// Why the stream stopped, if it did.
    error: Option<String>,
    stats: CaptureStats,
    /// Frames dropped because a newer one arrived before the previous was taken.
    overwritten: u64,
}

struct Shared {
    slot: Mutex<Slot>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A capturer of one PipeWire node.
pub struct PipeWireCapture {
    shared: Arc<Shared>,
    quit: Option<pw::channel::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    current: Option<CapturedFrame>,
    node_id: u32,
    socket: PathBuf,
}

impl PipeWireCapture {
    /// Connects to the PipeWire daemon at `socket` and consumes node `node_id` at exactly
    /// `width`×`height`. Returns once the format is negotiated.
    pub fn connect(socket: &Path, node_id: u32, width: u32, height: u32) -> Result<Self> {
        let stream = UnixStream::connect(socket)
            .with_context(|| format!("connecting to PipeWire at {}", socket.display()))?;
        let fd: OwnedFd = stream.into();
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::default()),
            ready: Condvar::new(),
        });
        let (quit_tx, quit_rx) = pw::channel::channel::<()>();
        let shared2 = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("pipewire-node-{node_id}"))
            .spawn(move || {
                if let Err(e) = run(fd, node_id, width, height, &shared2, quit_rx) {
                    let mut slot = shared2.lock();
                    slot.error = Some(format!("{e:#}"));
                    shared2.ready.notify_all();
                }
            })
            .context("starting the PipeWire thread")?;
        let mut me = Self {
            shared,
            quit: Some(quit_tx),
            thread: Some(thread),
            current: None,
            node_id,
            socket: socket.to_owned(),
        };
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let mut slot = me.shared.lock();
        loop {
            if let Some(e) = &slot.error {
                let e = e.clone();
                drop(slot);
                me.stop();
                anyhow::bail!("PipeWire node {node_id}: {e}");
            }
            if let Some((format, w, h)) = slot.negotiated {
                if (w, h) != (width, height) {
                    drop(slot);
                    me.stop();
                    anyhow::bail!(
                        "PipeWire node {node_id} negotiated {w}x{h}, not the requested \
                         {width}x{height}"
                    );
                }
                tracing::info!(
                    node_id,
                    ?format,
                    width,
                    height,
                    "PipeWire stream negotiated"
                );
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                drop(slot);
                me.stop();
                anyhow::bail!(
                    "PipeWire node {node_id}: no format negotiated within {CONNECT_TIMEOUT:?}"
                );
            }
            slot = me
                .shared
                .ready
                .wait_timeout(slot, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(slot);
        Ok(me)
    }

    /// Frames the PipeWire thread replaced before they were taken (the caller was slower than
    /// the compositor).
    pub fn overwritten(&self) -> u64 {
        self.shared.lock().overwritten
    }

    fn stop(&mut self) {
        if let Some(quit) = self.quit.take() {
            let _ = quit.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for PipeWireCapture {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Capturer for PipeWireCapture {
    fn next_frame(&mut self, timeout: Duration) -> Result<Option<&CapturedFrame>> {
        let deadline = Instant::now() + timeout;
        let mut slot = self.shared.lock();
        loop {
            if let Some(frame) = slot.latest.take() {
                if let Some(old) = self.current.take() {
                    slot.spare = old.data;
                }
                drop(slot);
                self.current = Some(frame);
                return Ok(self.current.as_ref());
            }
            if let Some(e) = &slot.error {
                anyhow::bail!("PipeWire node {}: {e}", self.node_id);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                slot.stats.unchanged += 1;
                return Ok(None);
            }
            slot = self
                .shared
                .ready
                .wait_timeout(slot, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn stats(&self) -> CaptureStats {
        self.shared.lock().stats
    }

    fn describe(&self) -> String {
        let slot = self.shared.lock();
        let fmt = slot
            .negotiated
            .map_or("?".into(), |(f, w, h)| format!("{w}x{h} {f:?}"));
        format!(
            "PipeWire node {} at {} ({fmt}, shm)",
            self.node_id,
            self.socket.display()
        )
    }
}

/// The per-stream state the PipeWire callbacks see.
struct StreamData {
    shared: Arc<Shared>,
    format: Option<(PixelFormat, u32, u32)>,
}

fn to_pixel_format(f: VideoFormat) -> Option<PixelFormat> {
    Some(match f {
        VideoFormat::BGRx => PixelFormat::Bgrx,
        VideoFormat::BGRA => PixelFormat::Bgra,
        VideoFormat::RGBx => PixelFormat::Rgbx,
        VideoFormat::RGBA => PixelFormat::Rgba,
        _ => return None,
    })
}

/// CLOCK_MONOTONIC now.
fn monotonic_now() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The EnumFormat we offer: raw 32-bit RGB layouts at exactly `width`×`height`.
fn format_pod(width: u32, height: u32) -> Result<Vec<u8>> {
    use spa::param::format::{FormatProperties, MediaSubtype, MediaType};
    let obj = spa::pod::object!(
        spa::utils::SpaTypes::ObjectParamFormat,
        spa::param::ParamType::EnumFormat,
        spa::pod::property!(FormatProperties::MediaType, Id, MediaType::Video),
        spa::pod::property!(FormatProperties::MediaSubtype, Id, MediaSubtype::Raw),
        spa::pod::property!(
            FormatProperties::VideoFormat,
            Choice,
            Enum,
            Id,
            VideoFormat::BGRx,
            VideoFormat::BGRx,
            VideoFormat::BGRA,
            VideoFormat::RGBx,
            VideoFormat::RGBA
        ),
        spa::pod::property!(
            FormatProperties::VideoSize,
            Rectangle,
            spa::utils::Rectangle { width, height }
        ),
        spa::pod::property!(
            FormatProperties::VideoFramerate,
            Choice,
            Range,
            Fraction,
            spa::utils::Fraction { num: 60, denom: 1 },
            spa::utils::Fraction { num: 0, denom: 1 },
            spa::utils::Fraction {
                num: 1000,
                denom: 1
            }
        ),
    );
    Ok(spa::pod::serialize::PodSerializer::serialize(
        std::io::Cursor::new(Vec::new()),
        &spa::pod::Value::Object(obj),
    )
    .map_err(|e| anyhow::anyhow!("serialising the format pod: {e:?}"))?
    .0
    .into_inner())
}

/// The PipeWire thread: connect, negotiate, copy frames until told to quit.
fn run(
    fd: OwnedFd,
    node_id: u32,
    width: u32,
    height: u32,
    shared: &Arc<Shared>,
    quit: pw::channel::Receiver<()>,
) -> Result<()> {
    pw::init();
    let mainloop = pw::main_loop::MainLoopRc::new(None).context("PipeWire main loop")?;
    let context = pw::context::ContextRc::new(&mainloop, None).context("PipeWire context")?;
    let core = context
        .connect_fd_rc(fd, None)
        .context("connecting the PipeWire core")?;

    let ml = mainloop.clone();
    let _quit = quit.attach(mainloop.loop_(), move |()| ml.quit());

    let err_shared = shared.clone();
    let ml = mainloop.clone();
    let _core_listener = core
        .add_listener_local()
        .error(move |id, _seq, res, message| {
            let mut slot = err_shared.lock();
            slot.error = Some(format!(
                "PipeWire core error on object {id}: {message} ({res})"
            ));
            err_shared.ready.notify_all();
            ml.quit();
        })
        .register();

    let stream = pw::stream::StreamRc::new(
        core,
        "punktfunk-capture",
        pw::properties::properties! {
            *pw::keys::MEDIA_TYPE => "Video",
            *pw::keys::MEDIA_CATEGORY => "Capture",
            *pw::keys::MEDIA_ROLE => "Screen",
            // The node by its id, which is what the compositor announces. Not `target.object`:
            // the session manager (WirePlumber 0.4) reads a number there as an `object.serial`,
            // which equals the id only for the first node of a fresh PipeWire. Ids are reused,
            // serials are not, so the second Mutter virtual monitor got a stale serial ("no node
            // available") or another node.
            "node.target" => node_id.to_string(),
        },
    )
    .context("creating the PipeWire stream")?;

    let data = StreamData {
        shared: shared.clone(),
        format: None,
    };
    let _listener = stream
        .add_local_listener_with_user_data(data)
        .state_changed(|_, data, old, new| {
            tracing::debug!(?old, ?new, "PipeWire stream state");
            if let pw::stream::StreamState::Error(e) = new {
                let mut slot = data.shared.lock();
                slot.error = Some(format!("stream error: {e}"));
                data.shared.ready.notify_all();
            }
        })
        .param_changed(|_, data, id, param| {
            let Some(param) = param else { return };
            if id != spa::param::ParamType::Format.as_raw() {
                return;
            }
            let mut info = spa::param::video::VideoInfoRaw::default();
            if info.parse(param).is_err() {
                return;
            }
            let size = info.size();
            let mut slot = data.shared.lock();
            match to_pixel_format(info.format()) {
                Some(f) => {
                    data.format = Some((f, size.width, size.height));
                    slot.negotiated = data.format;
                }
                None => {
                    slot.error = Some(format!(
                        "negotiated unsupported pixel format {:?}",
                        info.format()
                    ));
                }
            }
            data.shared.ready.notify_all();
        })
        .process(|stream, data| {
            let Some((format, width, height)) = data.format else {
                return;
            };
            let Some(mut buffer) = stream.dequeue_buffer() else {
                return;
            };
            let pts = buffer
                .find_meta::<spa::buffer::meta::MetaHeader>()
                .map(|h| h.pts())
                .filter(|&p| p > 0);
            let datas = buffer.datas_mut();
            let Some(d) = datas.first_mut() else { return };
            let chunk = d.chunk();
            let (offset, size) = (chunk.offset() as usize, chunk.size() as usize);
            let stride = match chunk.stride() {
                s if s > 0 => s as u32,
                _ => width * 4,
            };
            let need = stride as usize * height as usize;
            if size == 0 || size < need {
                return; // no new pixels (e.g. a cursor-only update)
            }
            let Some(bytes) = d.data() else { return };
            let Some(src) = bytes.get(offset..offset + need) else {
                return;
            };
            let t = Instant::now();
            let mut slot = data.shared.lock();
            let mut pixels = std::mem::take(&mut slot.spare);
            if let Some(old) = slot.latest.take() {
                slot.overwritten += 1;
                pixels = old.data;
            }
            drop(slot);
            pixels.clear();
            pixels.extend_from_slice(src);
            let read = t.elapsed();
            let frame = CapturedFrame {
                format,
                width,
                height,
                stride,
                data: pixels,
                timestamp: pts.map_or_else(monotonic_now, |p| Duration::from_nanos(p as u64)),
                damage: None,
            };
            let mut slot = data.shared.lock();
            slot.latest = Some(frame);
            slot.stats.frames += 1;
            slot.stats.full_frames += 1;
            slot.stats.bytes_read += need as u64;
            slot.stats.read_time += read;
            data.shared.ready.notify_all();
        })
        .register()
        .context("registering the PipeWire stream listener")?;

    let pod = format_pod(width, height)?;
    let pod = Pod::from_bytes(&pod).ok_or_else(|| anyhow::anyhow!("invalid format pod"))?;
    stream
        .connect(
            spa::utils::Direction::Input,
            Some(node_id),
            pw::stream::StreamFlags::AUTOCONNECT | pw::stream::StreamFlags::MAP_BUFFERS,
            &mut [pod],
        )
        .with_context(|| format!("connecting to PipeWire node {node_id}"))?;
    mainloop.run();
    let _ = stream.disconnect();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_pod_serialises() {
        let bytes = format_pod(1600, 900).expect("pod");
        assert!(Pod::from_bytes(&bytes).is_some());
    }

    #[test]
    fn maps_formats() {
        assert_eq!(to_pixel_format(VideoFormat::BGRx), Some(PixelFormat::Bgrx));
        assert_eq!(to_pixel_format(VideoFormat::RGBA), Some(PixelFormat::Rgba));
        assert_eq!(to_pixel_format(VideoFormat::I420), None);
    }
}
