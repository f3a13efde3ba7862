//! Packet-loss models for simulation and for the `netem` relay: independent (iid) loss and the
//! Gilbert–Elliott two-state burst model. Seeded and deterministic, so a failing run can be replayed.

/// A small, fast, seedable PRNG (xorshift64*); statistical quality is ample for loss decisions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How packets are lost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LossModel {
    None,
    /// Each packet lost independently with probability `p`.
    Iid {
        p: f64,
    },
    /// Two-state Markov chain: in the good state nothing is lost, in the bad state everything is;
    /// `p_enter_bad` per packet from good, `p_leave_bad` per packet from bad (mean burst = 1 / p_leave_bad).
    GilbertElliott {
        p_enter_bad: f64,
        p_leave_bad: f64,
    },
}

impl LossModel {
    /// Gilbert–Elliott with long-run loss fraction `p` and mean burst length `mean_burst` packets.
    pub fn bursty(p: f64, mean_burst: f64) -> Self {
        let p_leave_bad = 1.0 / mean_burst.max(1.0);
        let p = p.clamp(0.0, 0.99);
        LossModel::GilbertElliott {
            p_enter_bad: p * p_leave_bad / (1.0 - p),
            p_leave_bad,
        }
    }

    /// Long-run fraction of packets lost.
    pub fn mean_loss(&self) -> f64 {
        match *self {
            LossModel::None => 0.0,
            LossModel::Iid { p } => p,
            LossModel::GilbertElliott {
                p_enter_bad,
                p_leave_bad,
            } => p_enter_bad / (p_enter_bad + p_leave_bad),
        }
    }
}

/// A loss model with its state and random source.
#[derive(Debug, Clone)]
pub struct LossProcess {
    model: LossModel,
    bad: bool,
    rng: Rng,
}

impl LossProcess {
    pub fn new(model: LossModel, seed: u64) -> Self {
        LossProcess {
            model,
            bad: false,
            rng: Rng::new(seed),
        }
    }

    pub fn set_model(&mut self, model: LossModel) {
        self.model = model;
    }

    /// Decides the fate of the next packet: `true` = dropped.
    pub fn drop_next(&mut self) -> bool {
        match self.model {
            LossModel::None => false,
            LossModel::Iid { p } => self.rng.unit() < p,
            LossModel::GilbertElliott {
                p_enter_bad,
                p_leave_bad,
            } => {
                let flip = if self.bad { p_leave_bad } else { p_enter_bad };
                if self.rng.unit() < flip {
                    self.bad = !self.bad;
                }
                self.bad
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(model: LossModel) -> (f64, f64) {
        let mut p = LossProcess::new(model, 7);
        let n = 400_000;
        let (mut lost, mut bursts, mut prev) = (0u32, 0u32, false);
        for _ in 0..n {
            let d = p.drop_next();
            lost += u32::from(d);
            bursts += u32::from(d && !prev);
            prev = d;
        }
        (
            f64::from(lost) / f64::from(n),
            f64::from(lost) / f64::from(bursts.max(1)),
        )
    }

    #[test]
    fn iid_rate() {
        let (rate, burst) = measured(LossModel::Iid { p: 0.05 });
        assert!((rate - 0.05).abs() < 0.003, "{rate}");
        assert!(burst < 1.1, "{burst}");
    }

    #[test]
    fn gilbert_elliott_rate_and_bursts() {
        let model = LossModel::bursty(0.05, 4.0);
        assert!((model.mean_loss() - 0.05).abs() < 1e-12);
        let (rate, burst) = measured(model);
        assert!((rate - 0.05).abs() < 0.006, "{rate}");
        assert!((burst - 4.0).abs() < 0.4, "{burst}");
    }
}
