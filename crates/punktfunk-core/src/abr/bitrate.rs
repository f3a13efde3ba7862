//! Bitrate control from receiver feedback: loss-based and delay-based, one pure step per report.
//!
//! Random loss is FEC's job; only loss beyond what FEC is sized for, lost frames, or a queue building
//! up count as congestion. A queue shows as one-way delay above the lowest delay seen on the path
//! *and* still growing — jitter alone moves neither the median delay nor its trend for long. On
//! congestion the rate is cut multiplicatively; on a clean path it grows back towards the client's
//! requested rate.

use crate::control::Feedback;

/// Tuning of the [`BitrateController`]; [`BitrateConfig::for_client`] gives the defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BitrateConfig {
    /// The floor in kbit/s: congestion never cuts below it (500, or the request if lower).
    pub min_kbps: u32,
    /// The ceiling: what the client asked for.
    pub max_kbps: u32,
    /// Packet loss fraction above which the rate is cut.
    pub loss_cut: f64,
    /// Packet loss fraction below which the rate may grow.
    pub loss_clean: f64,
    /// Queueing delay (median one-way delay above the path's minimum) that, while still growing,
    /// counts as congestion.
    pub queue_cut_us: u64,
    /// Delay growth (µs per s) that counts as "still growing".
    pub gradient_cut_us_per_s: i64,
    /// Factor applied to the rate on congestion (0.85 = cut by 15 %).
    pub decrease: f64,
    /// Factor applied per clean report while below the ceiling (1.08 = grow by 8 %).
    pub increase: f64,
}

impl BitrateConfig {
    /// Defaults for a client that asked for `requested_kbps`, which becomes the ceiling.
    pub fn for_client(requested_kbps: u32) -> Self {
        BitrateConfig {
            min_kbps: 500.min(requested_kbps),
            max_kbps: requested_kbps,
            loss_cut: 0.10,
            loss_clean: 0.10,
            queue_cut_us: 25_000,
            gradient_cut_us_per_s: 5_000,
            decrease: 0.85,
            increase: 1.08,
        }
    }
}

/// The controller's state: the current rate and the lowest one-way delay seen (the path's baseline).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BitrateController {
    /// The tuning in force.
    pub config: BitrateConfig,
    current_kbps: u32,
    min_delay_us: Option<u64>,
}

impl BitrateController {
    /// A controller starting at the ceiling (the client's requested rate).
    pub fn new(config: BitrateConfig) -> Self {
        BitrateController {
            config,
            current_kbps: config.max_kbps,
            min_delay_us: None,
        }
    }

    /// The rate the encoder should use now, in kbit/s.
    pub fn current_kbps(&self) -> u32 {
        self.current_kbps
    }

    /// Takes one feedback report and returns the bitrate for the next window.
    pub fn on_feedback(&mut self, feedback: &Feedback) -> u32 {
        let cfg = &self.config;
        let loss = feedback.loss.loss_fraction();
        let delay = feedback.one_way_delay_us;
        // 0 means "clocks not synchronised yet": no delay information.
        let queue_us = if delay > 0 {
            let min = self.min_delay_us.map_or(delay, |m| m.min(delay));
            self.min_delay_us = Some(min);
            delay - min
        } else {
            0
        };
        let queue_building = queue_us > cfg.queue_cut_us
            && feedback.delay_gradient_us_per_s > cfg.gradient_cut_us_per_s;
        let congested = loss > cfg.loss_cut || feedback.loss.frames_lost > 0 || queue_building;
        let next = if congested {
            f64::from(self.current_kbps) * cfg.decrease
        } else if loss < cfg.loss_clean && queue_us <= cfg.queue_cut_us {
            f64::from(self.current_kbps) * cfg.increase
        } else {
            f64::from(self.current_kbps)
        };
        self.current_kbps = (next as u32).clamp(cfg.min_kbps, cfg.max_kbps);
        self.current_kbps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packetize::LossStats;

    fn fb(lost_per_1000: u64, frames_lost: u64, delay_us: u64, gradient: i64) -> Feedback {
        Feedback {
            window_ms: 100,
            loss: LossStats {
                packets_expected: 1000,
                packets_received: 1000 - lost_per_1000,
                frames_lost,
                ..LossStats::default()
            },
            one_way_delay_us: delay_us,
            delay_gradient_us_per_s: gradient,
            ..Feedback::default()
        }
    }

    #[test]
    fn holds_the_requested_rate_on_a_clean_or_randomly_lossy_path() {
        let mut c = BitrateController::new(BitrateConfig::for_client(20_000));
        for i in 0..50 {
            // 5 % random loss and ±5 ms jitter on 20 ms: FEC's problem, not congestion.
            let jitter = if i % 2 == 0 { 25_000 } else { 15_000 };
            assert_eq!(
                c.on_feedback(&fb(
                    50,
                    0,
                    jitter,
                    if i % 2 == 0 { 40_000 } else { -40_000 }
                )),
                20_000
            );
        }
    }

    #[test]
    fn cuts_on_heavy_loss_lost_frames_or_a_growing_queue_and_recovers() {
        let mut c = BitrateController::new(BitrateConfig::for_client(20_000));
        c.on_feedback(&fb(0, 0, 10_000, 0));
        assert_eq!(c.on_feedback(&fb(200, 0, 10_000, 0)), 17_000);
        assert_eq!(c.on_feedback(&fb(0, 1, 10_000, 0)), 14_450);
        // 40 ms above the 10 ms baseline and growing: a queue.
        assert_eq!(c.on_feedback(&fb(0, 0, 50_000, 20_000)), 12_282);
        // High but draining: hold.
        assert_eq!(c.on_feedback(&fb(0, 0, 50_000, -20_000)), 12_282);
        // Clean again: grow back, never above the request.
        let mut rate = 0;
        for _ in 0..20 {
            rate = c.on_feedback(&fb(0, 0, 10_000, 0));
        }
        assert_eq!(rate, 20_000);
    }

    #[test]
    fn never_below_the_floor() {
        let mut c = BitrateController::new(BitrateConfig::for_client(20_000));
        for _ in 0..100 {
            c.on_feedback(&fb(500, 3, 0, 0));
        }
        assert_eq!(c.current_kbps(), 500);
    }
}
