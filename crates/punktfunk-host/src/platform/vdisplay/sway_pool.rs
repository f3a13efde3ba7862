//! sway 1.7 cannot remove a headless output, so released outputs are pooled for reuse: which one a
//! new display takes, which stay warm at their last mode (a reconnecting client finds its mode
//! ready) and which are parked at a tiny mode. Pure policy with time passed in; `sway.rs` applies
//! it over IPC.

use super::Mode;
use super::sway_ipc::SwayVersion;
use std::time::{Duration, Instant};

/// The mode parked outputs get on sway 1.7: tiny (no render buffers worth speaking of), and a
/// refresh high enough that the frame timer armed with it fires soon after the next re-mode (see
/// the module docs); without damage its ticks render nothing.
pub const PARK_MODE: Mode = Mode::new(64, 64, 30);
/// How many released outputs stay warm (at their last mode) at once, by default.
pub const WARM_MAX: usize = 2;
/// How long a released output stays warm before it is parked, by default: long enough for a
/// client that reconnects (a restart, a network change, the next game) to find its mode ready.
pub const WARM_FOR: Duration = Duration::from_secs(120);

/// How outputs are given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// sway ≥ 1.8: `output NAME unplug`.
    Unplug,
    /// sway 1.7: park and pool for reuse.
    Park,
}

impl Release {
    pub fn for_version(v: &SwayVersion) -> Self {
        if v.at_least(1, 8) {
            Self::Unplug
        } else {
            Self::Park
        }
    }
}

/// A released output waiting for reuse (sway 1.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pooled {
    pub name: String,
    /// Its current mode: the last client's (warm) or [`PARK_MODE`] (parked).
    pub mode: Mode,
    /// When it was released (warm) or parked.
    pub since: Instant,
}

impl Pooled {
    pub fn is_warm(&self) -> bool {
        self.mode != PARK_MODE
    }
}

/// Which pooled output a display at `mode` should take: one already at `mode` (no re-mode at
/// all), else the most recently released warm one (its frame timer ticks fast, so the re-mode
/// shows soon), else any parked one. `None` when the pool is empty.
pub fn pick_pooled(pool: &[Pooled], mode: Mode) -> Option<usize> {
    if let Some(i) = pool.iter().position(|p| p.mode == mode) {
        return Some(i);
    }
    let warm = pool
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_warm())
        .max_by_key(|(_, p)| p.since)
        .map(|(i, _)| i);
    warm.or(if pool.is_empty() { None } else { Some(0) })
}

/// The warm outputs to park now: those warm longer than `warm_for`, and beyond the `warm_max`
/// most recently released ones.
pub fn to_park(pool: &[Pooled], now: Instant, warm_max: usize, warm_for: Duration) -> Vec<usize> {
    let mut warm: Vec<usize> = (0..pool.len()).filter(|&i| pool[i].is_warm()).collect();
    // Newest first: the oldest ones go when there are too many.
    warm.sort_by_key(|&i| std::cmp::Reverse(pool[i].since));
    let mut park: Vec<usize> = warm
        .iter()
        .enumerate()
        .filter(|&(rank, &i)| {
            rank >= warm_max || now.saturating_duration_since(pool[i].since) >= warm_for
        })
        .map(|(_, &i)| i)
        .collect();
    park.sort_unstable();
    park
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooled(name: &str, mode: Mode, age_ms: u64, now: Instant) -> Pooled {
        Pooled {
            name: name.into(),
            mode,
            since: now - Duration::from_millis(age_ms),
        }
    }

    #[test]
    fn pool_pick_prefers_same_mode_then_newest_warm_then_parked() {
        let now = Instant::now();
        let (hd, fhd, uhd) = (
            Mode::new(1280, 720, 60),
            Mode::new(1920, 1080, 60),
            Mode::new(3840, 2160, 60),
        );
        assert_eq!(pick_pooled(&[], hd), None);
        let pool = [
            pooled("A", PARK_MODE, 10, now),
            pooled("B", fhd, 500, now),
            pooled("C", uhd, 100, now),
            pooled("D", hd, 900, now),
        ];
        assert_eq!(pick_pooled(&pool, hd), Some(3), "same mode, however old");
        assert_eq!(pick_pooled(&pool, fhd), Some(1));
        assert_eq!(
            pick_pooled(&pool, Mode::new(1600, 900, 60)),
            Some(2),
            "the most recently released warm output"
        );
        assert_eq!(
            pick_pooled(&pool[..1], hd),
            Some(0),
            "parked when nothing is warm"
        );
        assert_eq!(pick_pooled(&pool[..1], PARK_MODE), Some(0));
    }

    #[test]
    fn pool_parks_the_oldest_beyond_the_limit_and_the_expired() {
        let now = Instant::now();
        let fhd = Mode::new(1920, 1080, 60);
        let pool = [
            pooled("A", fhd, 3_000, now),
            pooled("B", PARK_MODE, 9_000, now),
            pooled("C", fhd, 1_000, now),
            pooled("D", fhd, 2_000, now),
        ];
        let long = Duration::from_secs(60);
        assert_eq!(to_park(&pool, now, 3, long), Vec::<usize>::new());
        assert_eq!(to_park(&pool, now, 2, long), vec![0], "the oldest warm one");
        assert_eq!(
            to_park(&pool, now, 0, long),
            vec![0, 2, 3],
            "parked never again"
        );
        assert_eq!(
            to_park(&pool, now, 3, Duration::from_millis(1_500)),
            vec![0, 3],
            "warm longer than allowed"
        );
        assert_eq!(to_park(&[], now, 0, Duration::ZERO), Vec::<usize>::new());
    }

    #[test]
    fn release_by_version() {
        let v = |major, minor| SwayVersion {
            major,
            minor,
            patch: 0,
            human_readable: String::new(),
            variant: None,
        };
        assert_eq!(Release::for_version(&v(1, 7)), Release::Park);
        assert_eq!(Release::for_version(&v(1, 8)), Release::Unplug);
        assert_eq!(Release::for_version(&v(1, 10)), Release::Unplug);
        assert_eq!(Release::for_version(&v(2, 0)), Release::Unplug);
    }
}
