//! Adaptive FEC: how much parity the next frames need, from what the receiver reported.
//!
//! Losses are modelled as bursts: with a loss fraction `p` and mean burst length `L`, a block of `n`
//! packets sees about Binomial(n, p / L) bursts of `L` packets each. The policy picks the smallest
//! recovery count `m` for a block of `k` data shards such that the chance of more than `m / L` bursts
//! hitting the block stays below `target_block_failure`, then expresses it as a percentage. With
//! `L = 1` this is the plain binomial bound for independent losses.

use crate::packetize::LossStats;

/// Tuning of [`recommend_parity`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FecPolicy {
    /// Parity never goes below this percentage of data shards, even on a clean path.
    pub min_percent: u16,
    /// Parity never goes above this percentage of data shards.
    pub max_percent: u16,
    /// Acceptable probability that a block cannot be recovered.
    pub target_block_failure: f64,
    /// Multiplier on the measured loss fraction (the next window is rarely exactly like the last).
    pub safety: f64,
}

impl Default for FecPolicy {
    fn default() -> Self {
        FecPolicy {
            min_percent: 10,
            max_percent: 100,
            target_block_failure: 1e-4,
            safety: 1.25,
        }
    }
}

/// How many of the newest reports form the short-term estimate.
const RECENT: usize = 3;

/// Parity percentage for blocks of `block_data_shards` data shards, given recent loss reports
/// (newest last). Loss is pooled over all of `history` and over its newest few reports, and the worse
/// of the two decides: the policy rises within a report or two of loss starting and relaxes only as the
/// bad reports age out of `history`, while pooling keeps small, noisy reports from over-reacting.
pub fn recommend_parity(history: &[LossStats], block_data_shards: u32, policy: &FecPolicy) -> u16 {
    let k = block_data_shards.max(1);
    let recent = &history[history.len().saturating_sub(RECENT)..];
    let (all, newest) = (pooled(history), pooled(recent));
    let worst = if newest.loss_fraction() > all.loss_fraction() {
        newest
    } else {
        all
    };
    if worst.packets_expected == 0 {
        return policy.min_percent;
    }
    let p = (worst.loss_fraction() * policy.safety).min(0.9);
    if p <= 0.0 {
        return policy.min_percent;
    }
    let burst = worst.mean_burst().max(1.0);
    let max_m = (u64::from(k) * u64::from(policy.max_percent)).div_ceil(100) as u32;
    let mut chosen = max_m;
    for m in 0..=max_m {
        let n = k + m;
        let tolerable_bursts = (f64::from(m) / burst).floor() as u32;
        if binomial_tail(n, p / burst, tolerable_bursts) <= policy.target_block_failure {
            chosen = m;
            break;
        }
    }
    let percent = (u64::from(chosen) * 100).div_ceil(u64::from(k)) as u16;
    percent.clamp(policy.min_percent, policy.max_percent)
}

/// The reports added together. They come from the client, so every sum saturates: a client
/// reporting `u64::MAX` packets gets the worst-case answer, not an overflow.
fn pooled(reports: &[LossStats]) -> LossStats {
    reports
        .iter()
        .fold(LossStats::default(), |acc, w| LossStats {
            packets_expected: acc.packets_expected.saturating_add(w.packets_expected),
            packets_received: acc
                .packets_received
                .saturating_add(w.packets_received.min(w.packets_expected)),
            bursts: acc.bursts.saturating_add(w.bursts),
            max_burst: acc.max_burst.max(w.max_burst),
            shards_recovered: acc.shards_recovered.saturating_add(w.shards_recovered),
            frames_complete: acc.frames_complete.saturating_add(w.frames_complete),
            frames_lost: acc.frames_lost.saturating_add(w.frames_lost),
        })
}

/// P(X > t) for X ~ Binomial(n, p).
fn binomial_tail(n: u32, p: f64, t: u32) -> f64 {
    if t >= n {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    // Sum the pmf up to t in log space (n can be in the thousands), then take the complement.
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut log_choose = 0.0f64;
    let mut cdf = 0.0f64;
    for x in 0..=t {
        if x > 0 {
            log_choose += f64::from(n - x + 1).ln() - f64::from(x).ln();
        }
        cdf += (log_choose + f64::from(x) * lp + f64::from(n - x) * lq).exp();
    }
    (1.0 - cdf).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(expected: u64, lost: u64, bursts: u64) -> LossStats {
        LossStats {
            packets_expected: expected,
            packets_received: expected - lost,
            bursts,
            ..LossStats::default()
        }
    }

    #[test]
    fn absurd_client_counters_saturate_instead_of_overflowing() {
        let p = FecPolicy::default();
        let huge = LossStats {
            packets_expected: u64::MAX,
            packets_received: u64::MAX - 1,
            bursts: u64::MAX,
            max_burst: u64::MAX,
            shards_recovered: u64::MAX,
            frames_complete: u64::MAX,
            frames_lost: u64::MAX,
        };
        let parity = recommend_parity(&[huge, huge, huge], 32, &p);
        assert!((p.min_percent..=p.max_percent).contains(&parity));
        let pooled = pooled(&[huge, huge]);
        assert_eq!(pooled.packets_expected, u64::MAX);
        assert_eq!(pooled.frames_lost, u64::MAX);
    }

    #[test]
    fn binomial_tail_matches_closed_forms() {
        assert!((binomial_tail(10, 0.5, 0) - (1.0 - 0.5f64.powi(10))).abs() < 1e-12);
        assert!((binomial_tail(3, 0.1, 2) - 0.001).abs() < 1e-12);
        assert_eq!(binomial_tail(5, 0.3, 5), 0.0);
    }

    #[test]
    fn no_feedback_or_no_loss_gives_the_floor() {
        let p = FecPolicy::default();
        assert_eq!(recommend_parity(&[], 32, &p), p.min_percent);
        assert_eq!(
            recommend_parity(&[window(1000, 0, 0)], 32, &p),
            p.min_percent
        );
    }

    #[test]
    fn more_loss_never_means_less_parity() {
        let p = FecPolicy::default();
        let mut last = 0;
        for lost in [0, 5, 10, 20, 50, 100, 200, 300] {
            let pct = recommend_parity(&[window(1000, lost, lost)], 32, &p);
            assert!(pct >= last, "{lost}: {pct} < {last}");
            last = pct;
        }
        assert_eq!(
            recommend_parity(&[window(1000, 600, 600)], 32, &p),
            p.max_percent
        );
    }

    #[test]
    fn five_percent_iid_on_a_1080p_frame_needs_about_a_third() {
        // 31 data shards ≈ one 1080p60 frame at 20 Mbps; at 5 % iid loss the bound wants 9–12 shards.
        let pct = recommend_parity(&[window(10_000, 500, 500)], 31, &FecPolicy::default());
        assert!((29..=40).contains(&pct), "{pct}");
    }

    #[test]
    fn bursty_loss_needs_more_parity_than_iid_loss() {
        let p = FecPolicy::default();
        let iid = recommend_parity(&[window(10_000, 300, 300)], 64, &p);
        let bursty = recommend_parity(&[window(10_000, 300, 75)], 64, &p);
        assert!(bursty > iid, "bursty {bursty} vs iid {iid}");
    }

    #[test]
    fn fresh_loss_raises_parity_at_once_and_old_loss_fades() {
        let p = FecPolicy::default();
        let calm = window(1000, 0, 0);
        let bad = window(1000, 100, 100);
        let mut history = vec![calm; 9];
        history.push(bad);
        // The newest few reports decide while they are worse than the pooled history.
        let now = recommend_parity(&history, 32, &p);
        assert_eq!(now, recommend_parity(&[calm, calm, bad], 32, &p));
        assert!(now > recommend_parity(&[calm; 10], 32, &p));
        // Once it is older than the short-term reports, it only counts pooled with the calm ones.
        history.extend([calm; 3]);
        let later = recommend_parity(&history[history.len() - 10..], 32, &p);
        assert!(later < recommend_parity(&[bad], 32, &p));
        assert!(later > p.min_percent);
    }
}
