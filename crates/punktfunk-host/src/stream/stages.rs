//! Where a frame's time goes, stage by stage, for both protocols: capture wait, colour conversion,
//! encode, packetize (FEC and encryption included), paced send, and the host latency from the
//! compositor presenting the picture to its datagrams being ready. Summarised about once a second
//! into a [`StageReport`] that the session list (API, console) shows.

pub use crate::services::session_info::StageReport;
use std::time::{Duration, Instant};

/// One frame's measurements.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameTimes {
    /// The capture thread waiting for the compositor (idle time, not work).
    pub capture_wait: Duration,
    pub convert: Duration,
    pub encode: Duration,
    pub packetize: Duration,
    pub send: Duration,
    /// Presented → datagrams ready to send.
    pub host_latency: Duration,
    /// The frame repeats an unchanged picture.
    pub repeat: bool,
}

/// Collects [`FrameTimes`] and closes a window every `window`.
pub struct StageTimes {
    window: Duration,
    max_samples: usize,
    since: Instant,
    frames: u32,
    repeats: u32,
    sum: FrameTimes,
    latencies_us: Vec<u32>,
}

/// Latency samples kept per one-second window (more than 1000 fps would need).
const MAX_SAMPLES: usize = 2048;
/// Latency samples kept for a whole stream (an hour at 60 fps; 1 MB).
const MAX_STREAM_SAMPLES: usize = 1 << 18;

impl StageTimes {
    pub fn new(window: Duration) -> Self {
        Self::with_capacity(window, MAX_SAMPLES)
    }

    /// Collects a whole stream: [`StageTimes::summary`] reports it at the end.
    pub fn whole_stream() -> Self {
        Self::with_capacity(Duration::MAX, MAX_STREAM_SAMPLES)
    }

    fn with_capacity(window: Duration, max_samples: usize) -> Self {
        StageTimes {
            window,
            max_samples,
            since: Instant::now(),
            frames: 0,
            repeats: 0,
            sum: FrameTimes::default(),
            latencies_us: Vec::new(),
        }
    }

    /// Adds a frame; returns the window's report when it closes.
    pub fn add(&mut self, t: &FrameTimes, pictures_dropped: u64) -> Option<StageReport> {
        self.frames += 1;
        self.repeats += u32::from(t.repeat);
        self.sum.capture_wait += t.capture_wait;
        self.sum.convert += t.convert;
        self.sum.encode += t.encode;
        self.sum.packetize += t.packetize;
        self.sum.send += t.send;
        if self.latencies_us.len() < self.max_samples {
            let us = t.host_latency.as_micros().min(u128::from(u32::MAX)) as u32;
            self.latencies_us.push(us);
        }
        let elapsed = self.since.elapsed();
        (elapsed >= self.window).then(|| {
            let report = self.report(elapsed, pictures_dropped);
            *self = StageTimes::with_capacity(self.window, self.max_samples);
            report
        })
    }

    /// Everything collected so far, and how many frames that is.
    pub fn summary(&mut self, pictures_dropped: u64) -> (u32, StageReport) {
        (
            self.frames,
            self.report(self.since.elapsed(), pictures_dropped),
        )
    }

    fn report(&mut self, elapsed: Duration, pictures_dropped: u64) -> StageReport {
        let n = f64::from(self.frames.max(1));
        let mean_ms = |d: Duration| d.as_secs_f64() * 1e3 / n;
        self.latencies_us.sort_unstable();
        let percentile = |p: f64| {
            let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
            self.latencies_us
                .get(i)
                .map_or(0.0, |&us| f64::from(us) / 1e3)
        };
        let secs = elapsed.as_secs_f64().max(1e-3);
        StageReport {
            fps: f64::from(self.frames) / secs,
            repeated_fps: f64::from(self.repeats) / secs,
            capture_wait_ms: mean_ms(self.sum.capture_wait),
            convert_ms: mean_ms(self.sum.convert),
            encode_ms: mean_ms(self.sum.encode),
            packetize_ms: mean_ms(self.sum.packetize),
            send_ms: mean_ms(self.sum.send),
            host_latency_p50_ms: percentile(0.5),
            host_latency_p95_ms: percentile(0.95),
            pictures_dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_reports_means_and_percentiles() {
        let mut stages = StageTimes::new(Duration::from_millis(30));
        let mut report = None;
        let mut i = 0u64;
        while report.is_none() {
            i += 1;
            let t = FrameTimes {
                encode: Duration::from_millis(4),
                host_latency: Duration::from_micros(1000 * (i % 100 + 1)),
                repeat: i.is_multiple_of(2),
                ..FrameTimes::default()
            };
            report = stages.add(&t, 3);
            std::thread::sleep(Duration::from_micros(200));
        }
        let report = report.unwrap();
        assert!((report.encode_ms - 4.0).abs() < 1e-9, "{report:?}");
        assert!(report.fps > 0.0 && report.repeated_fps <= report.fps);
        assert!(report.host_latency_p50_ms <= report.host_latency_p95_ms);
        assert!(report.host_latency_p95_ms <= 100.0);
        assert_eq!(report.pictures_dropped, 3);
        assert_eq!(stages.frames, 0, "a new window starts");
    }
}
