//! A client's own virtual display, captured and encoded: the real frame path. The display is created
//! at exactly the client's mode when the session starts and released when the source is dropped.

use super::FrameSource;
use super::stream_encoder::StreamEncoder;
use crate::capture::{self, CaptureOptions, Capturer, PixelFormat as CapturedFormat};
use crate::vdisplay::{DisplayHandle, Mode, VirtualDisplay};
use anyhow::{Context, Result};
use punktfunk_media::{PixelFormat, RawFrame, VideoCodec};
use std::time::Duration;

pub struct DisplaySource {
    display: Option<Box<dyn DisplayHandle>>,
    capturer: Box<dyn Capturer>,
    encoder: StreamEncoder,
    /// The latest picture: unchanged displays (damage tracking) are sent again from here.
    picture: Vec<u8>,
    stride: usize,
    format: PixelFormat,
    /// How long to wait for new content before re-sending the last picture.
    wait: Duration,
    mode: Mode,
    /// Which compositor made the display (for status reports).
    compositor: String,
    /// Wall-clock capture time of `picture`, when the compositor said when it presented it.
    picture_captured_us: Option<u64>,
    /// Whether the last `next_frame` re-sent an old picture (its capture time is then "now").
    resent: bool,
}

fn media_format(format: CapturedFormat) -> PixelFormat {
    match format {
        CapturedFormat::Bgra | CapturedFormat::Bgrx => PixelFormat::Bgrx,
        CapturedFormat::Rgba | CapturedFormat::Rgbx => PixelFormat::Rgbx,
    }
}

impl DisplaySource {
    /// Creates the client's display on `backend`, starts capturing it and opens an encoder.
    pub fn open(
        backend: &dyn VirtualDisplay,
        codec: VideoCodec,
        mode: Mode,
        bitrate_kbps: u32,
        label: &str,
    ) -> Result<Self> {
        punktfunk_media::init()?;
        let output = backend
            .create(mode, label)
            .with_context(|| format!("creating a {mode} display"))?;
        let capturer = capture::open(&output.capture_source(), CaptureOptions::default())
            .with_context(|| format!("capturing {}", output.name()))?;
        let encoder = StreamEncoder::open(
            codec,
            mode.width,
            mode.height,
            mode.refresh_mhz,
            bitrate_kbps,
        )?;
        tracing::info!(output = output.name(), %mode, encoder = encoder.name(), "display source ready");
        let interval = Duration::from_secs_f64(1000.0 / f64::from(mode.refresh_mhz.max(1000)));
        Ok(DisplaySource {
            display: Some(output),
            capturer,
            encoder,
            picture: Vec::new(),
            stride: 0,
            format: PixelFormat::Bgrx,
            wait: interval / 2,
            mode,
            compositor: backend.info().kind.to_string(),
            picture_captured_us: None,
            resent: false,
        })
    }

    /// Takes a newer picture if the compositor has one within `timeout`.
    fn refresh(&mut self, timeout: Duration) -> Result<()> {
        self.resent = true;
        if let Some(frame) = self.capturer.next_frame(timeout)? {
            self.resent = false;
            self.picture_captured_us = wall_clock_of_monotonic(frame.timestamp);
            self.picture.clear();
            self.picture.extend_from_slice(&frame.data);
            self.stride = frame.stride as usize;
            self.format = media_format(frame.format);
        }
        Ok(())
    }
}

impl FrameSource for DisplaySource {
    fn restart_encoder(&mut self, codec: VideoCodec, bitrate_kbps: u32) -> anyhow::Result<()> {
        self.encoder.restart(codec, bitrate_kbps)
    }

    fn describe(&self) -> String {
        let name = self.display.as_ref().map_or("?", |d| d.name());
        format!(
            "display {name} via {} and {}",
            self.capturer.describe(),
            self.encoder.name()
        )
    }

    fn next_frame(
        &mut self,
        _number: u64,
        capture_us: u64,
        keyframe: bool,
        bitrate_kbps: u32,
        out: &mut Vec<u8>,
    ) -> Result<bool> {
        // The first picture may take a refresh or two to render; later ones only replace the last.
        let timeout = if self.picture.is_empty() {
            Duration::from_secs(2)
        } else {
            self.wait
        };
        self.refresh(timeout)?;
        anyhow::ensure!(
            !self.picture.is_empty(),
            "the compositor delivered no first frame within 2 s"
        );
        let frame = RawFrame {
            format: self.format,
            width: self.mode.width,
            height: self.mode.height,
            stride: self.stride,
            data: &self.picture,
            pts_us: capture_us,
        };
        self.encoder.encode(&frame, keyframe, bitrate_kbps, out)
    }

    fn last_capture_us(&self) -> Option<u64> {
        // A re-sent picture shows the screen as it is now; a new one as the compositor presented it.
        if self.resent {
            None
        } else {
            self.picture_captured_us
        }
    }

    fn display(&self) -> Option<crate::sessions::DisplayInfo> {
        let display = self.display.as_ref()?;
        let mode = display.mode();
        Some(crate::sessions::DisplayInfo {
            compositor: self.compositor.clone(),
            output: display.name().to_string(),
            width: mode.width,
            height: mode.height,
            refresh_mhz: mode.refresh_mhz,
            env: {
                // The display's compositor and the host's PipeWire (apps' sound reaches the sinks).
                let mut env = display.app_env();
                env.extend(crate::audio::host_pipewire::app_env());
                env
            },
        })
    }

    fn input_sink(&self) -> Option<Result<Box<dyn crate::inject::InputSink>>> {
        Some(self.display.as_ref()?.input_sink())
    }
}

/// Converts a compositor presentation time (CLOCK_MONOTONIC; zero = unknown) to wall-clock µs, the
/// clock packets carry. `None` for unknown or implausible times (in the future, or over 1 s old).
fn wall_clock_of_monotonic(presented: Duration) -> Option<u64> {
    if presented.is_zero() {
        return None;
    }
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let now = Duration::new(now.tv_sec as u64, now.tv_nsec as u32);
    let age = now.checked_sub(presented)?;
    if age > Duration::from_secs(1) {
        return None;
    }
    Some(crate::punktfunk1::data_plane::now_us().saturating_sub(age.as_micros() as u64))
}

impl Drop for DisplaySource {
    fn drop(&mut self) {
        if let Some(display) = self.display.take() {
            let name = display.name().to_owned();
            if let Err(e) = display.destroy() {
                tracing::warn!(output = %name, "releasing the display failed: {e:#}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monotonic_now() -> Duration {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
    }

    #[test]
    fn presentation_times_map_to_the_wall_clock() {
        assert_eq!(wall_clock_of_monotonic(Duration::ZERO), None);
        let presented = monotonic_now() - Duration::from_millis(20);
        let wall = wall_clock_of_monotonic(presented).unwrap();
        let age_us = crate::punktfunk1::data_plane::now_us() - wall;
        assert!((19_000..200_000).contains(&age_us), "age {age_us} µs");
        let stale = monotonic_now() - Duration::from_secs(3);
        assert_eq!(wall_clock_of_monotonic(stale), None);
        assert_eq!(
            wall_clock_of_monotonic(monotonic_now() + Duration::from_secs(5)),
            None
        );
    }
}
