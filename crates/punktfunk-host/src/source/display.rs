//! A client's own virtual display, captured and encoded: the real frame path. The display is created
//! at exactly the client's mode when the session starts and released when the source is dropped.

use super::FrameSource;
use crate::capture::{self, CaptureOptions, Capturer, PixelFormat as CapturedFormat};
use crate::vdisplay::{DisplayHandle, Mode, VirtualDisplay};
use anyhow::{Context, Result};
use punktfunk_media::encode::Encoder;
use punktfunk_media::{ChromaFormat, ColorSpace, EncoderConfig, PixelFormat, RawFrame, VideoCodec};
use std::time::Duration;

pub struct DisplaySource {
    display: Option<Box<dyn DisplayHandle>>,
    capturer: Box<dyn Capturer>,
    encoder: Box<dyn Encoder>,
    /// The latest picture: unchanged displays (damage tracking) are sent again from here.
    picture: Vec<u8>,
    stride: usize,
    format: PixelFormat,
    /// How long to wait for new content before re-sending the last picture.
    wait: Duration,
    bitrate_kbps: u32,
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
        let config = EncoderConfig {
            codec,
            width: mode.width,
            height: mode.height,
            fps_num: mode.refresh_mhz,
            fps_den: 1000,
            bitrate_kbps,
            chroma: ChromaFormat::Yuv420,
            color: ColorSpace::Bt709,
            full_range: false,
            hdr: None,
            intra_refresh: false,
        };
        let encoder = punktfunk_media::encode::open_encoder(&config, None)?;
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
            bitrate_kbps,
        })
    }

    /// Takes a newer picture if the compositor has one within `timeout`.
    fn refresh(&mut self, timeout: Duration) -> Result<()> {
        if let Some(frame) = self.capturer.next_frame(timeout)? {
            self.picture.clear();
            self.picture.extend_from_slice(&frame.data);
            self.stride = frame.stride as usize;
            self.format = media_format(frame.format);
        }
        Ok(())
    }
}

impl FrameSource for DisplaySource {
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
        if bitrate_kbps != self.bitrate_kbps {
            self.encoder.set_bitrate(bitrate_kbps)?;
            self.bitrate_kbps = bitrate_kbps;
        }
        if keyframe {
            self.encoder.request_keyframe();
        }
        let config = self.encoder.config();
        let frame = RawFrame {
            format: self.format,
            width: config.width,
            height: config.height,
            stride: self.stride,
            data: &self.picture,
            pts_us: capture_us,
        };
        let au = self.encoder.encode(&frame)?;
        out.clear();
        out.extend_from_slice(&au.data);
        Ok(au.keyframe)
    }
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
