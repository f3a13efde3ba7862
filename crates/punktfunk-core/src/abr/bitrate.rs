//! Bitrate control from receiver feedback: loss-based and delay-gradient-based, as one pure step.
//!
//! Multiplicative decrease when packets are being lost beyond what FEC is meant to absorb, when frames
//! are lost, or when one-way delay is growing (a queue is building before loss shows); gentle
//! multiplicative increase back towards the client's requested rate when the path is clean.

use crate::control::Feedback;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BitrateConfig {
    pub min_kbps: u32,
    /// The ceiling: what the client asked for.
    pub max_kbps: u32,
    /// Packet loss fraction above which the rate is cut.
    pub loss_cut: f64,
    /// Packet loss fraction below which the rate may grow.
    pub loss_clean: f64,
    /// Delay growth (µs per s) that counts as congestion.
    pub gradient_cut_us_per_s: i64,
    pub decrease: f64,
    pub increase: f64,
}

impl BitrateConfig {
    pub fn for_client(requested_kbps: u32) -> Self {
        BitrateConfig {
            min_kbps: 500.min(requested_kbps),
            max_kbps: requested_kbps,
            loss_cut: 0.10,
            loss_clean: 0.02,
            gradient_cut_us_per_s: 5_000,
            decrease: 0.85,
            increase: 1.05,
        }
    }
}

/// The bitrate for the next window given the current one and the latest feedback.
pub fn next_bitrate(current_kbps: u32, feedback: &Feedback, cfg: &BitrateConfig) -> u32 {
    let loss = feedback.loss.loss_fraction();
    let congested = loss > cfg.loss_cut
        || feedback.loss.frames_lost > 0
        || feedback.delay_gradient_us_per_s > cfg.gradient_cut_us_per_s;
    let next = if congested {
        f64::from(current_kbps) * cfg.decrease
    } else if loss < cfg.loss_clean
        && feedback.delay_gradient_us_per_s <= cfg.gradient_cut_us_per_s / 5
    {
        f64::from(current_kbps) * cfg.increase
    } else {
        f64::from(current_kbps)
    };
    (next as u32).clamp(cfg.min_kbps, cfg.max_kbps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packetize::LossStats;

    fn fb(expected: u64, lost: u64, frames_lost: u64, gradient: i64) -> Feedback {
        Feedback {
            window_ms: 100,
            loss: LossStats {
                packets_expected: expected,
                packets_received: expected - lost,
                frames_lost,
                ..LossStats::default()
            },
            delay_gradient_us_per_s: gradient,
            ..Feedback::default()
        }
    }

    #[test]
    fn reacts_to_loss_delay_and_recovers() {
        let cfg = BitrateConfig::for_client(20_000);
        assert_eq!(next_bitrate(20_000, &fb(1000, 0, 0, 0), &cfg), 20_000);
        assert_eq!(next_bitrate(10_000, &fb(1000, 0, 0, 0), &cfg), 10_500);
        assert_eq!(next_bitrate(20_000, &fb(1000, 200, 0, 0), &cfg), 17_000);
        assert_eq!(next_bitrate(20_000, &fb(1000, 0, 1, 0), &cfg), 17_000);
        assert_eq!(next_bitrate(20_000, &fb(1000, 0, 0, 20_000), &cfg), 17_000);
        assert_eq!(next_bitrate(20_000, &fb(1000, 50, 0, 0), &cfg), 20_000);
        assert_eq!(next_bitrate(400, &fb(1000, 500, 3, 0), &cfg), 500);
    }
}
