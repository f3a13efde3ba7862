//! Feeds without a display, on their own frame clock: the moving test pattern (each picture stamped
//! with its frame number and time, which a client reads back after decoding), and bare ticks for
//! raw test frames.

use super::feed::{ConverterCache, Next, PictureFeed, PictureFormat};
use crate::services::clock::now_us;
use crate::services::ticker::Ticker;
use anyhow::Result;
use punktfunk_media::convert::YuvPicture;
use punktfunk_media::pattern::TestPattern;
use punktfunk_media::pattern_hdr::Hdr10Grade;
use punktfunk_media::{HdrMetadata, PixelFormat, RawFrame};
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
    /// Set for an HDR10 pattern: grades each picture into PQ, and its metadata.
    hdr: Option<(Hdr10Grade, HdrMetadata)>,
}

/// Full scale of the HDR10 pattern: 1000 cd/m², the level HDR10 content is most often mastered to.
const HDR_PATTERN_PEAK_NITS: u16 = 1000;
/// Pictures the HDR10 pattern's light levels are measured over (its content repeats its layout).
const HDR_PATTERN_MEASURED_FRAMES: u64 = 8;

impl PatternFeed {
    /// The pattern in SDR BT.709.
    pub fn new(width: u32, height: u32, refresh_mhz: u32) -> Self {
        PatternFeed {
            pattern: TestPattern::new(width, height),
            clock: frame_clock(refresh_mhz),
            number: 0,
            pixels: Vec::new(),
            converter: ConverterCache::default(),
            hdr: None,
        }
    }

    /// The pattern as an HDR10 source (BT.2020 PQ, full scale at 1000 cd/m²), with MaxCLL and
    /// MaxFALL measured from its pictures.
    pub fn hdr10(width: u32, height: u32, refresh_mhz: u32) -> Self {
        let mut feed = Self::new(width, height, refresh_mhz);
        let mut grade = Hdr10Grade::new(HDR_PATTERN_PEAK_NITS);
        for number in 0..HDR_PATTERN_MEASURED_FRAMES {
            feed.pattern
                .render(number * 7, 0, PixelFormat::Bgrx, &mut feed.pixels);
            grade.measure(&feed.pixels);
        }
        let metadata = grade.metadata();
        feed.hdr = Some((grade, metadata));
        feed
    }
}

impl PictureFeed for PatternFeed {
    fn describe(&self) -> String {
        let range = if self.hdr.is_some() { " (HDR10)" } else { "" };
        format!(
            "moving test pattern {}x{}{range}",
            self.pattern.width, self.pattern.height
        )
    }

    fn hdr(&self) -> Option<HdrMetadata> {
        self.hdr.as_ref().map(|(_, metadata)| *metadata)
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
        if let Some((grade, _)) = &self.hdr {
            grade.apply(&mut self.pixels);
        }
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
