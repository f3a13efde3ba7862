//! A punktfunk/1 session's feedback turned into what the session list shows: the client's 100 ms
//! reports (loss, one-way delay) summarised about once a second, and the block size the FEC
//! policy sizes parity for.

use crate::protocols::punktfunk1::data_plane::SessionControl;
use crate::services::sessions::SessionStats;
use punktfunk_core::control::Hello;
use punktfunk_core::packetize::{FecConfig, LossStats, MTU_1500_DATAGRAM};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Turns the client's 100 ms feedback into about one stats report per second.
pub(super) struct StatsReport {
    since: Instant,
    frames_at_start: u64,
    loss: LossStats,
    delays_us: Vec<u64>,
}

pub(super) const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// Delay samples kept per stats interval.
pub(super) const MAX_DELAYS: usize = 1000;

impl StatsReport {
    pub(super) fn new(control: &SessionControl) -> Self {
        StatsReport {
            since: Instant::now(),
            frames_at_start: control.video.frames_sent.load(Ordering::Relaxed),
            loss: LossStats::default(),
            delays_us: Vec::new(),
        }
    }

    pub(super) fn on_feedback(
        &mut self,
        control: &SessionControl,
        fb: &punktfunk_core::control::Feedback,
    ) -> Option<SessionStats> {
        // Client-reported counters: saturate rather than overflow (a panic in debug builds).
        self.loss.packets_expected = self
            .loss
            .packets_expected
            .saturating_add(fb.loss.packets_expected);
        self.loss.packets_received = self
            .loss
            .packets_received
            .saturating_add(fb.loss.packets_received);
        // Bounded however fast a client sends feedback (it should send ten a second).
        if fb.one_way_delay_us > 0 && self.delays_us.len() < MAX_DELAYS {
            self.delays_us.push(fb.one_way_delay_us);
        }
        let elapsed = self.since.elapsed();
        if elapsed < STATS_INTERVAL {
            return None;
        }
        let frames = control.video.frames_sent.load(Ordering::Relaxed);
        self.delays_us.sort_unstable();
        let latency_ms = self
            .delays_us
            .get(self.delays_us.len() / 2)
            .map(|&us| us as f64 / 1000.0);
        let stats = SessionStats {
            bitrate_kbps: control.video.bitrate_kbps.load(Ordering::Relaxed),
            fps: frames.saturating_sub(self.frames_at_start) as f64 / elapsed.as_secs_f64(),
            frames_sent: frames,
            loss_percent: self.loss.loss_fraction() * 100.0,
            fec_parity_percent: control.parity_percent.load(Ordering::Relaxed),
            latency_ms,
            stages: control.video.stages(),
        };
        *self = StatsReport::new(control);
        Some(stats)
    }
}

/// Data shards in a typical block at the current bitrate: what the FEC policy sizes parity for.
pub(super) fn largest_block_estimate(control: &SessionControl, hello: &Hello) -> u32 {
    let fps = f64::from(hello.refresh_mhz.max(1000)) / 1000.0;
    let frame_bytes =
        f64::from(control.video.bitrate_kbps.load(Ordering::Relaxed)) * 1000.0 / 8.0 / fps;
    let shard = f64::from(hello.max_datagram.min(MTU_1500_DATAGRAM as u16)) - 64.0;
    let shards = (frame_bytes / shard.max(64.0)).ceil() as u32;
    shards.clamp(1, u32::from(FecConfig::default().max_data_per_block))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_from_absurd_feedback_saturate() {
        let control = SessionControl::new(1000, 10);
        let mut report = StatsReport::new(&control);
        let mut fb = punktfunk_core::control::Feedback::default();
        fb.loss.packets_expected = u64::MAX;
        fb.loss.packets_received = u64::MAX;
        fb.one_way_delay_us = 5;
        for _ in 0..3 * MAX_DELAYS {
            assert!(report.on_feedback(&control, &fb).is_none());
        }
        assert_eq!(report.loss.packets_expected, u64::MAX);
        assert_eq!(report.delays_us.len(), MAX_DELAYS);
    }
}
