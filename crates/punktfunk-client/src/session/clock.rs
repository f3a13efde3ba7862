//! The client's wall clock, shared by the control task and the data thread.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The client's wall clock in µs since the UNIX epoch, read as a fixed anchor plus monotonic time, so
/// the control task (clock pings) and the data thread (frame completion) share one consistent clock.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    anchor: Instant,
    anchor_us: u64,
}

impl WallClock {
    pub fn new() -> Self {
        let anchor = Instant::now();
        let anchor_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        WallClock { anchor, anchor_us }
    }
    pub fn at_us(&self, t: Instant) -> u64 {
        self.anchor_us + t.saturating_duration_since(self.anchor).as_micros() as u64
    }
    pub fn now_us(&self) -> u64 {
        self.at_us(Instant::now())
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
    }
}
