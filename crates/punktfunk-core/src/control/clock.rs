//! NTP-style clock-offset estimation from ping/pong exchanges over the control stream.
//!
//! For one exchange with client send `t1`, host receive `t2`, host send `t3`, client receive `t4`:
//! round trip = (t4 − t1) − (t3 − t2), offset (host − client) = ((t2 − t1) + (t3 − t4)) / 2. The
//! estimate comes from the exchange with the smallest round trip among the recent ones, whose offset
//! error is bounded by half that round trip.

/// One completed exchange, all times in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSample {
    /// Round-trip time without the host's processing time, never negative.
    pub rtt_us: i64,
    /// Host clock minus client clock.
    pub offset_us: i64,
}

impl ClockSample {
    /// The sample of one exchange: client send `t1`, host receive `t2`, host send `t3`, client receive `t4`.
    pub fn from_times(t1: u64, t2: u64, t3: u64, t4: u64) -> ClockSample {
        let (t1, t2, t3, t4) = (t1 as i64, t2 as i64, t3 as i64, t4 as i64);
        ClockSample {
            rtt_us: ((t4 - t1) - (t3 - t2)).max(0),
            offset_us: ((t2 - t1) + (t3 - t4)) / 2,
        }
    }
}

/// Keeps the recent samples and answers with the best one.
#[derive(Debug, Clone, Default)]
pub struct ClockSync {
    samples: std::collections::VecDeque<ClockSample>,
}

const KEEP: usize = 16;

impl ClockSync {
    /// An estimator with no samples.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an exchange; only the 16 most recent are kept.
    pub fn add(&mut self, sample: ClockSample) {
        if self.samples.len() == KEEP {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// Best estimate of host clock − client clock, if any exchange completed.
    pub fn best(&self) -> Option<ClockSample> {
        self.samples.iter().min_by_key(|s| s.rtt_us).copied()
    }

    /// Converts a host timestamp into the client's clock.
    pub fn host_to_client_us(&self, host_us: u64) -> Option<i64> {
        self.best().map(|s| host_us as i64 - s.offset_us)
    }
}
