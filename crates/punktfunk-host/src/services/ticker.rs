//! The clock of every sending loop (video frames, audio packets): sleep until the next tick; after
//! a stall (a slow encode, a descheduled thread) resume from now instead of bursting to catch up,
//! which would only queue packets behind each other.

use std::time::{Duration, Instant};

pub struct Ticker {
    next: Instant,
    interval: Duration,
    /// How many intervals the loop may fall behind before it gives up catching up.
    max_behind: u32,
}

impl Ticker {
    /// Ticks every `interval`, the first one immediately.
    pub fn new(interval: Duration, max_behind: u32) -> Ticker {
        Ticker {
            next: Instant::now(),
            interval,
            max_behind,
        }
    }

    /// Sleeps until the current tick is due; returns when the tick after it is due (the time this
    /// tick's work has).
    pub fn wait(&mut self) -> Instant {
        let now = Instant::now();
        if now < self.next {
            std::thread::sleep(self.next - now);
        }
        self.next += self.interval;
        let now = Instant::now();
        if now > self.next + self.interval * self.max_behind {
            self.next = now + self.interval;
        }
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_rhythm_and_skips_ahead_after_a_stall() {
        let interval = Duration::from_millis(5);
        let start = Instant::now();
        let mut ticker = Ticker::new(interval, 4);
        let first = ticker.wait();
        assert!(first >= start + interval && first <= Instant::now() + interval);
        ticker.wait();
        assert!(start.elapsed() >= interval, "the second tick waited");
        // A stall of many intervals: the next deadline is one interval from now, not in the past.
        std::thread::sleep(interval * 20);
        let after_stall = ticker.wait();
        assert!(after_stall > Instant::now(), "no burst of overdue ticks");
    }
}
