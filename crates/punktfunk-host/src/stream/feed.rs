//! The capture side of the pipeline: a [`PictureFeed`] runs on the session's capture thread, waits
//! for the next picture on its own clock and converts it for the encoder straight out of the
//! capture buffer.

use anyhow::{Context, Result};
use punktfunk_media::convert::{Converter, YuvLayout, YuvPicture};
use punktfunk_media::{ColorSpace, HdrMetadata, RawFrame};
use std::time::{Duration, Instant};

/// What the encoder wants pictures converted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PictureFormat {
    /// `None`: the encoder takes no pixels (raw test frames).
    pub layout: Option<YuvLayout>,
    pub color: ColorSpace,
    pub full_range: bool,
}

/// What one wait of a feed produced.
#[derive(Debug)]
pub enum Next {
    /// A new picture, converted for the encoder; `presented_us` is when the source showed it (wall
    /// clock), `convert` what converting it took.
    Picture {
        picture: YuvPicture,
        presented_us: u64,
        convert: Duration,
    },
    /// The screen did not change within the wait: the last picture is still current.
    Unchanged,
    /// A frame is due but the source has no pixels (raw test frames).
    Tick { presented_us: u64 },
}

/// Produces pictures on the capture thread.
pub trait PictureFeed: Send {
    /// Short description for logs, e.g. `wlr-screencopy v3 of HEADLESS-2 (shm, damage tracking)`.
    fn describe(&self) -> String;

    /// HDR10 metadata when the pictures are PQ-coded BT.2020 (an HDR source); `None` for SDR
    /// BT.709, which is what sway and Mutter hand out. An HDR capture backend (10-bit or FP16
    /// buffers of an output in HDR mode) reports its output's metadata here; the session then
    /// opens its encoder in BT.2020 PQ and tells the client.
    fn hdr(&self) -> Option<HdrMetadata> {
        None
    }

    /// Waits up to `timeout` for the next picture and converts it to `format` into a buffer from
    /// `buffer` (asked only once there is a picture: the pipeline then takes back a picture the
    /// encoder has not started on, so a session never holds more than two).
    fn next(
        &mut self,
        timeout: Duration,
        format: &PictureFormat,
        buffer: &mut dyn FnMut() -> YuvPicture,
    ) -> Result<Next>;
}

/// A feed's colour converter, built for the first picture and again only when the encoder (a
/// resumed stream's new one) wants another format.
#[derive(Default)]
pub struct ConverterCache {
    built: Option<(PictureFormat, Converter)>,
}

impl ConverterCache {
    /// Converts `raw` (read in place, any stride) to `format` into `into`; returns the time it took.
    pub fn convert(
        &mut self,
        raw: &RawFrame<'_>,
        format: &PictureFormat,
        into: &mut YuvPicture,
    ) -> Result<Duration> {
        let started = Instant::now();
        let layout = format
            .layout
            .context("this encoder takes no pictures; a picture source needs one that does")?;
        let converter = match &mut self.built {
            Some((built_for, converter)) if built_for == format => converter,
            slot => {
                let converter = Converter::new(
                    raw.format,
                    layout,
                    raw.width,
                    raw.height,
                    format.color,
                    format.full_range,
                    0,
                )?;
                &mut slot.insert((*format, converter)).1
            }
        };
        converter.convert_picture(raw, into)?;
        Ok(started.elapsed())
    }
}
