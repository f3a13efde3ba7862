//! The clock frames and packets carry: wall-clock microseconds (clients synchronise to it with
//! clock pings), and the conversion of a compositor's CLOCK_MONOTONIC presentation time to it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in wall-clock µs since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Converts a compositor presentation time (CLOCK_MONOTONIC; zero = unknown) to wall-clock µs.
/// `None` for unknown or implausible times (in the future, or over 1 s old).
pub fn wall_clock_of_monotonic(presented: Duration) -> Option<u64> {
    if presented.is_zero() {
        return None;
    }
    let age = monotonic_now().checked_sub(presented)?;
    if age > Duration::from_secs(1) {
        return None;
    }
    Some(now_us().saturating_sub(age.as_micros() as u64))
}

fn monotonic_now() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presentation_times_map_to_the_wall_clock() {
        assert_eq!(wall_clock_of_monotonic(Duration::ZERO), None);
        let presented = monotonic_now() - Duration::from_millis(20);
        let wall = wall_clock_of_monotonic(presented).unwrap();
        let age_us = now_us() - wall;
        assert!((19_000..200_000).contains(&age_us), "age {age_us} µs");
        let stale = monotonic_now() - Duration::from_secs(3);
        assert_eq!(wall_clock_of_monotonic(stale), None);
        assert_eq!(
            wall_clock_of_monotonic(monotonic_now() + Duration::from_secs(5)),
            None
        );
    }
}
