//! Frame capture from a virtual display.
//!
//! A [`Capturer`] yields [`CapturedFrame`]s of one display. Backends: wlr-screencopy (sway and
//! other wlroots compositors) today; PipeWire (Mutter, KWin, gamescope) joins behind the same
//! trait. The caller paces calls at the client's rate; with damage tracking a display whose
//! content did not change yields no frame at all (and costs no copy).
//!
//! `serve` uses the capturers; statistics and some accessors are so far only read by tests and
//! `compositor-probe`'s report paths, hence the allowance below.
#![allow(dead_code)]

pub mod pipewire;
pub mod wlr_screencopy;

use anyhow::Result;
use std::path::PathBuf;
use std::time::Duration;

/// Where a display's frames come from (a [`crate::platform::vdisplay::DisplayHandle`] says).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaptureSource {
    /// An output of a wlroots compositor, captured with `zwlr_screencopy_manager_v1`.
    WlrOutput {
        /// Path of the compositor's Wayland socket.
        wayland_socket: PathBuf,
        /// The output's name (wl_output.name), e.g. "HEADLESS-2".
        output: String,
    },
    /// A PipeWire video node (Mutter's RecordVirtual stream, KWin, gamescope).
    PipeWire {
        /// Path of the PipeWire daemon's socket (`$XDG_RUNTIME_DIR/pipewire-0`).
        socket: PathBuf,
        node_id: u32,
        /// The size to negotiate (a virtual monitor takes the size its consumer asks for).
        width: u32,
        height: u32,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct CaptureOptions {
    /// Draw the cursor into the frames (otherwise it would have to be sent separately).
    pub cursor: bool,
    /// Use damage tracking: after the first frame, only changed regions are copied and an
    /// unchanged display yields no frame.
    pub damage: bool,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        Self {
            cursor: true,
            damage: true,
        }
    }
}

/// Pixel layouts, named by byte order in memory (so `Bgrx` is Wayland's/DRM's XRGB8888 on
/// little-endian machines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    Bgra,
    Bgrx,
    Rgba,
    Rgbx,
}

impl PixelFormat {
    pub const fn bytes_per_pixel(self) -> usize {
        4
    }

    /// (red, green, blue) byte offsets within a pixel.
    pub const fn rgb_offsets(self) -> (usize, usize, usize) {
        match self {
            Self::Bgra | Self::Bgrx => (2, 1, 0),
            Self::Rgba | Self::Rgbx => (0, 1, 2),
        }
    }
}

/// A changed rectangle, in frame pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// One captured frame. `data` holds `height` rows of `stride` bytes, top row first.
#[derive(Clone, Debug)]
pub struct CapturedFrame {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub stride: u32,
    pub data: Vec<u8>,
    /// When the compositor presented this content (CLOCK_MONOTONIC), where it says so.
    pub timestamp: Duration,
    /// Regions that changed since the previous frame; `None` means the whole frame.
    pub damage: Option<Vec<Rect>>,
}

impl CapturedFrame {
    /// The (r, g, b) of pixel (x, y), if inside the frame.
    pub fn rgb_at(&self, x: u32, y: u32) -> Option<(u8, u8, u8)> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let at = y as usize * self.stride as usize + x as usize * self.format.bytes_per_pixel();
        let px = self.data.get(at..at + 4)?;
        let (r, g, b) = self.format.rgb_offsets();
        Some((px[r], px[g], px[b]))
    }
}

/// Counters for benchmarks and stats.
#[derive(Clone, Copy, Debug, Default)]
pub struct CaptureStats {
    /// Frames delivered.
    pub frames: u64,
    /// Frames that were full copies (the first, and every one without damage tracking).
    pub full_frames: u64,
    /// Pixel bytes read out of the shared buffer.
    pub bytes_read: u64,
    /// Calls that returned no frame because nothing changed within the timeout.
    pub unchanged: u64,
    /// Time spent reading pixels out of the shared buffer (our share of the copy cost).
    pub read_time: Duration,
}

/// Yields frames of one display.
pub trait Capturer: Send {
    /// Waits up to `timeout` for the next frame. `Ok(None)`: nothing changed in that time (with
    /// damage tracking) — the previous frame is still current. The frame stays valid until the
    /// next call.
    fn next_frame(&mut self, timeout: Duration) -> Result<Option<&CapturedFrame>>;

    fn stats(&self) -> CaptureStats;

    /// A short description for logs, e.g. "wlr-screencopy v3 of HEADLESS-2 (shm)".
    fn describe(&self) -> String;
}

/// Opens a capturer for `source`.
pub fn open(source: &CaptureSource, options: CaptureOptions) -> Result<Box<dyn Capturer>> {
    match source {
        CaptureSource::WlrOutput {
            wayland_socket,
            output,
        } => Ok(Box::new(wlr_screencopy::WlrScreencopy::connect(
            wayland_socket,
            output,
            options,
        )?)),
        CaptureSource::PipeWire {
            socket,
            node_id,
            width,
            height,
        } => Ok(Box::new(pipewire::PipeWireCapture::connect(
            socket, *node_id, *width, *height,
        )?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_at_reads_byte_order() {
        let frame = CapturedFrame {
            format: PixelFormat::Bgrx,
            width: 2,
            height: 1,
            stride: 8,
            data: vec![1, 2, 3, 0, 10, 20, 30, 0],
            timestamp: Duration::ZERO,
            damage: None,
        };
        assert_eq!(frame.rgb_at(0, 0), Some((3, 2, 1)));
        assert_eq!(frame.rgb_at(1, 0), Some((30, 20, 10)));
        assert_eq!(frame.rgb_at(2, 0), None);
        let rgba = CapturedFrame {
            format: PixelFormat::Rgba,
            ..frame
        };
        assert_eq!(rgba.rgb_at(1, 0), Some((10, 20, 30)));
    }
}
