//! Feeds without a display, on their own frame clock: the moving test pattern (each picture stamped
//! with its frame number and time, which a client reads back after decoding), and bare ticks for
//! raw test frames.

use super::feed::{ConverterCache, Next, PictureFeed, PictureFormat};
use crate::services::clock::now_us;
use crate::services::ticker::Ticker;
use anyhow::Result;
use punktfunk_media::convert::YuvPicture;
use punktfunk_media::pattern::TestPattern;
use punktfunk_media::{PixelFormat, RawFrame};
use std::time::Duration;

/// Ticks at the session's rate, the first tick at once.
fn frame_clock(refresh_mhz: u32) -> Ticker {
    Ticker::new(
        Duration::from_secs_f64(1000.0 / f64::from(refresh_mhz.max(1000))),
        4,
    )
}

pub struct PatternFeed {
    pattern: TestPattern,
    clock: Ticker,
    number: u64,
    pixels: Vec<u8>,
    converter: ConverterCache,
}

impl PatternFeed {
    pub fn new(width: u32, height: u32, refresh_mhz: u32) -> Self {
        PatternFeed {
            pattern: TestPattern::new(width, height),
            clock: frame_clock(refresh_mhz),
            number: 0,
            pixels: Vec::new(),
            converter: ConverterCache::default(),
        }
    }
}

impl PictureFeed for PatternFeed {
    fn describe(&self) -> String {
        format!(
            "moving test pattern {}x{}",
            self.pattern.width, self.pattern.height
        )
    }

    fn next(
        &mut self,
        _timeout: Duration,
        format: &PictureFormat,
        buffer: &mut dyn FnMut() -> YuvPicture,
    ) -> Result<Next> {
        self.clock.wait();
        let presented_us = now_us();
        let stride = self.pattern.render(
            self.number,
            presented_us,
            PixelFormat::Bgrx,
            &mut self.pixels,
        );
        self.number += 1;
        let raw = RawFrame {
            format: PixelFormat::Bgrx,
            width: self.pattern.width,
            height: self.pattern.height,
            stride,
            data: &self.pixels,
            pts_us: presented_us,
        };
        let mut picture = buffer();
        let convert = self.converter.convert(&raw, format, &mut picture)?;
        Ok(Next::Picture {
            picture,
            presented_us,
            convert,
        })
    }
}

/// Frame ticks without pixels, for raw test frames.
pub struct ClockFeed {
    clock: Ticker,
}

impl ClockFeed {
    pub fn new(refresh_mhz: u32) -> Self {
        ClockFeed {
            clock: frame_clock(refresh_mhz),
        }
    }
}

impl PictureFeed for ClockFeed {
    fn describe(&self) -> String {
        "frame clock".into()
    }

    fn next(
        &mut self,
        _: Duration,
        _: &PictureFormat,
        _: &mut dyn FnMut() -> YuvPicture,
    ) -> Result<Next> {
        self.clock.wait();
        Ok(Next::Tick {
            presented_us: now_us(),
        })
    }
}
