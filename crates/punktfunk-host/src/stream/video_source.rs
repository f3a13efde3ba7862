//! What a session streams: a picture feed and an encoder, and — for the real frame path — the
//! client's own virtual display they belong to. A session owns its `VideoSource` while it streams;
//! a GameStream client that goes away without quitting leaves it parked, display and all, for a
//! resume. The display is released when the source is dropped.

use super::display_feed::DisplayFeed;
use super::encoder::{FrameEncoder, TestFrames, VideoEncoder};
use super::feed::PictureFeed;
use super::pattern_feed::{ClockFeed, PatternFeed};
use crate::platform::capture::{self, CaptureOptions};
use crate::platform::vdisplay::{DisplayHandle, Mode, VirtualDisplay};
use anyhow::{Context, Result};
use punktfunk_media::{ChromaFormat, HdrMetadata, VideoCodec};
use std::time::Duration;

pub struct VideoSource {
    pub(super) feed: Box<dyn PictureFeed>,
    pub(super) encoder: Box<dyn FrameEncoder>,
    refresh_mhz: u32,
    display: Option<Box<dyn DisplayHandle>>,
    /// Which compositor made the display (for status reports).
    compositor: String,
    /// HDR10 metadata the stream carries; `None`: SDR BT.709.
    hdr: Option<HdrMetadata>,
}

impl VideoSource {
    /// Creates the client's display on `backend` at exactly `mode`, starts capturing it and opens
    /// an encoder. The encoder opens while the compositor sets up the new output.
    ///
    /// `client_hdr` says the client displays HDR; the stream is still SDR BT.709 here, because the
    /// compositors this host drives (sway, Mutter) create 8-bit SDR outputs. A compositor whose
    /// virtual output can run in HDR would report it from its capture feed
    /// ([`PictureFeed::hdr`]) before the encoder opens.
    pub fn display(
        backend: &dyn VirtualDisplay,
        codec: VideoCodec,
        chroma: ChromaFormat,
        client_hdr: bool,
        mode: Mode,
        bitrate_kbps: u32,
        label: &str,
    ) -> Result<Self> {
        let (output, encoder) = std::thread::scope(|scope| {
            let (w, h, hz) = (mode.width, mode.height, mode.refresh_mhz);
            let encoder = scope
                .spawn(move || VideoEncoder::open(codec, chroma, None, w, h, hz, bitrate_kbps));
            let output = backend
                .create(mode, label)
                .with_context(|| format!("creating a {mode} display"));
            (output, encoder.join())
        });
        let output = output?;
        let encoder = match encoder {
            Ok(Ok(encoder)) => encoder,
            failed => {
                // The display exists already: give it back before reporting.
                let _ = output.destroy();
                return Err(match failed {
                    Ok(Err(e)) => e,
                    _ => anyhow::anyhow!("opening the encoder panicked"),
                });
            }
        };
        let capturer = capture::open(&output.capture_source(), CaptureOptions::default())
            .with_context(|| format!("capturing {}", output.name()))?;
        tracing::info!(
            output = output.name(), %mode, encoder = encoder.describe(), capture = capturer.describe(),
            "display source ready"
        );
        if client_hdr {
            tracing::info!(
                output = output.name(),
                "the client displays HDR; this compositor's outputs are 8-bit SDR: BT.709"
            );
        }
        Ok(VideoSource {
            feed: Box::new(DisplayFeed::new(capturer)),
            encoder: Box::new(encoder),
            refresh_mhz: mode.refresh_mhz,
            display: Some(output),
            compositor: backend.info().kind.to_string(),
            hdr: None,
        })
    }

    /// The moving test pattern through a real encoder (no display). To a client that displays
    /// HDR (`client_hdr`) in a 10-bit format the pattern is an HDR10 source.
    pub fn pattern(
        codec: VideoCodec,
        chroma: ChromaFormat,
        client_hdr: bool,
        width: u32,
        height: u32,
        refresh_mhz: u32,
        bitrate_kbps: u32,
    ) -> Result<Self> {
        let feed = if client_hdr && chroma.is_ten_bit() {
            PatternFeed::hdr10(width, height, refresh_mhz)
        } else {
            PatternFeed::new(width, height, refresh_mhz)
        };
        let hdr = feed.hdr();
        let encoder =
            VideoEncoder::open(codec, chroma, hdr, width, height, refresh_mhz, bitrate_kbps)?;
        let mut source = Self::from_parts(Box::new(feed), Box::new(encoder), refresh_mhz);
        source.hdr = hdr;
        Ok(source)
    }

    /// Raw test frames on the session's frame clock.
    pub fn test_frames(width: u32, height: u32, refresh_mhz: u32) -> Self {
        Self::from_parts(
            Box::new(ClockFeed::new(refresh_mhz)),
            Box::new(TestFrames::new(width, height, refresh_mhz)),
            refresh_mhz,
        )
    }

    /// A source without a display from a feed and an encoder.
    pub fn from_parts(
        feed: Box<dyn PictureFeed>,
        encoder: Box<dyn FrameEncoder>,
        refresh_mhz: u32,
    ) -> Self {
        VideoSource {
            feed,
            encoder,
            refresh_mhz,
            display: None,
            compositor: String::new(),
            hdr: None,
        }
    }

    /// HDR10 metadata the stream carries (BT.2020 PQ), or `None` for SDR BT.709.
    pub fn hdr(&self) -> Option<HdrMetadata> {
        self.hdr
    }

    /// One frame at the session's refresh rate.
    pub fn frame_interval(&self) -> Duration {
        Duration::from_secs_f64(1000.0 / f64::from(self.refresh_mhz.max(1000)))
    }

    /// Short description for logs.
    pub fn describe(&self) -> String {
        match &self.display {
            Some(display) => format!(
                "display {} via {} and {}",
                display.name(),
                self.feed.describe(),
                self.encoder.describe()
            ),
            None => format!("{} and {}", self.feed.describe(), self.encoder.describe()),
        }
    }

    /// A fresh encoder for a new stream from the same display (see [`FrameEncoder::restart`]).
    pub fn restart_encoder(&mut self, codec: VideoCodec, bitrate_kbps: u32) -> Result<()> {
        self.encoder.restart(codec, bitrate_kbps)
    }

    /// The virtual display this source captures, if it is one.
    pub fn display_info(&self) -> Option<crate::services::session_info::DisplayInfo> {
        let display = self.display.as_ref()?;
        let mode = display.mode();
        Some(crate::services::session_info::DisplayInfo {
            compositor: self.compositor.clone(),
            output: display.name().to_string(),
            width: mode.width,
            height: mode.height,
            refresh_mhz: mode.refresh_mhz,
            env: {
                // The display's compositor and the host's PipeWire (apps' sound reaches the sinks).
                let mut env = display.app_env();
                env.extend(crate::platform::audio::host_pipewire::app_env());
                env
            },
        })
    }

    /// An input sink for the display this source captures (`None` for test sources).
    pub fn input_sink(&self) -> Option<Result<Box<dyn crate::platform::inject::InputSink>>> {
        Some(self.display.as_ref()?.input_sink())
    }
}

impl Drop for VideoSource {
    fn drop(&mut self) {
        if let Some(display) = self.display.take() {
            let name = display.name().to_owned();
            if let Err(e) = display.destroy() {
                tracing::warn!(output = %name, "releasing the display failed: {e:#}");
            }
        }
    }
}
