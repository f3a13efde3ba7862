//! Pictures of a virtual display: the compositor presents, the capturer copies the changed rows
//! into its buffer, and the converter reads that buffer directly into the encoder's YUV layout.

use super::feed::{ConverterCache, Next, PictureFeed, PictureFormat};
use crate::platform::capture::{Capturer, PixelFormat as CapturedFormat};
use crate::services::clock::{now_us, wall_clock_of_monotonic};
use anyhow::Result;
use punktfunk_media::convert::YuvPicture;
use punktfunk_media::{PixelFormat, RawFrame};
use std::time::Duration;

pub struct DisplayFeed {
    capturer: Box<dyn Capturer>,
    converter: ConverterCache,
}

fn media_format(format: CapturedFormat) -> PixelFormat {
    match format {
        CapturedFormat::Bgra | CapturedFormat::Bgrx => PixelFormat::Bgrx,
        CapturedFormat::Rgba | CapturedFormat::Rgbx => PixelFormat::Rgbx,
    }
}

impl DisplayFeed {
    pub fn new(capturer: Box<dyn Capturer>) -> Self {
        DisplayFeed {
            capturer,
            converter: ConverterCache::default(),
        }
    }
}

impl PictureFeed for DisplayFeed {
    fn describe(&self) -> String {
        self.capturer.describe()
    }

    fn next(
        &mut self,
        timeout: Duration,
        format: &PictureFormat,
        buffer: &mut dyn FnMut() -> YuvPicture,
    ) -> Result<Next> {
        let Some(frame) = self.capturer.next_frame(timeout)? else {
            return Ok(Next::Unchanged);
        };
        let raw = RawFrame {
            format: media_format(frame.format),
            width: frame.width,
            height: frame.height,
            stride: frame.stride as usize,
            data: &frame.data,
            pts_us: 0,
        };
        let mut picture = buffer();
        let convert = self.converter.convert(&raw, format, &mut picture)?;
        // A frame without a usable presentation time shows the screen as it is now.
        let presented_us = wall_clock_of_monotonic(frame.timestamp).unwrap_or_else(now_us);
        Ok(Next::Picture {
            picture,
            presented_us,
            convert,
        })
    }
}
