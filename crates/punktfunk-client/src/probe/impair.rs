//! Impairment models for simulation and for the `netem` relay, pure and seeded (a failing run can
//! be replayed): packet loss — independent (iid) or the Gilbert–Elliott two-state burst model — and
//! what happens to each packet of a direction ([`ImpairmentState`]: loss, delay with jitter,
//! reordering, duplication, a rate limit with a bounded queue). The relay (`netem`) only moves
//! datagrams by these decisions.

use std::time::{Duration, Instant};

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

/// Default extra delay of a reordered packet.
pub const DEFAULT_REORDER_EXTRA: Duration = Duration::from_millis(10);
/// Default size of the rate limiter's queue.
pub const DEFAULT_QUEUE_BYTES: usize = 256 * 1024;
/// What happens to the packets of one direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Which packets are lost (decided once per packet, before duplication).
    pub loss: LossModel,
    /// Fixed one-way delay added to every packet.
    pub delay: Duration,
    /// Each packet's delay varies uniformly within `delay ± jitter` (never below zero).
    pub jitter: Duration,
    /// Probability that a packet gets an extra `reorder_extra` delay, so it arrives after later ones.
    pub reorder: f64,
    /// Extra delay of a reordered packet.
    pub reorder_extra: Duration,
    /// Probability that a packet is sent twice (each copy gets its own jitter).
    pub duplicate: f64,
    /// Serialization-rate limit in bits per second; `None` = unlimited.
    pub rate_bps: Option<u64>,
    /// Bytes the rate limiter may queue; a packet that would exceed it is dropped, like a router
    /// tail-drops. A packet arriving at an empty queue is always accepted.
    pub queue_bytes: usize,
    /// Seed for all random decisions of this direction.
    pub seed: u64,
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment {
            loss: LossModel::None,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: 0.0,
            reorder_extra: DEFAULT_REORDER_EXTRA,
            duplicate: 0.0,
            rate_bps: None,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            seed: 1,
        }
    }
}

/// The fate of one packet, as decided by [`ImpairmentState::on_packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Dropped by the loss model.
    Lost,
    /// Dropped because the rate limiter's queue is full.
    QueueFull,
    /// Released once, at this time.
    Deliver(Instant),
    /// Duplicated: released twice, at these times.
    Duplicate(Instant, Instant),
}

impl Fate {
    /// The release times: none (dropped), one, or two (duplicated).
    pub fn releases(self) -> impl Iterator<Item = Instant> {
        let times = match self {
            Fate::Lost | Fate::QueueFull => [None, None],
            Fate::Deliver(t) => [Some(t), None],
            Fate::Duplicate(a, b) => [Some(a), Some(b)],
        };
        times.into_iter().flatten()
    }

    pub fn is_dropped(self) -> bool {
        matches!(self, Fate::Lost | Fate::QueueFull)
    }
}

/// The impairment of one direction with its state: loss-model state, random streams and the rate
/// limiter's queue. Pure: time comes in as an argument and fates come out.
#[derive(Debug, Clone)]
pub struct ImpairmentState {
    imp: Impairment,
    stream: u64,
    loss: LossProcess,
    rng: Rng,
    /// When the rate-limited link finishes sending everything queued so far.
    link_free_at: Option<Instant>,
}

/// splitmix64 finalizer: turns related seeds into unrelated ones.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn nanos(d: Duration) -> i128 {
    d.as_nanos() as i128
}

impl ImpairmentState {
    pub fn new(imp: Impairment) -> Self {
        Self::with_stream(imp, 0)
    }

    /// Like [`new`](Self::new), with the random streams also keyed by `stream`, so identical
    /// impairments on different streams (e.g. the two directions of a relay) make independent decisions.
    pub fn with_stream(imp: Impairment, stream: u64) -> Self {
        let (loss_seed, rng_seed) = Self::seeds(imp.seed, stream);
        ImpairmentState {
            imp,
            stream,
            loss: LossProcess::new(imp.loss, loss_seed),
            rng: Rng::new(rng_seed),
            link_free_at: None,
        }
    }

    fn seeds(seed: u64, stream: u64) -> (u64, u64) {
        let base = mix(seed ^ mix(stream));
        (mix(base ^ 1), mix(base ^ 2))
    }

    pub fn impairment(&self) -> &Impairment {
        &self.imp
    }

    /// Replaces the impairment for subsequent packets. Packets already queued by the rate limiter stay
    /// queued and the random streams keep running, unless the seed changes (then they restart).
    pub fn set_impairment(&mut self, imp: Impairment) {
        if imp.seed != self.imp.seed {
            let (loss_seed, rng_seed) = Self::seeds(imp.seed, self.stream);
            self.loss = LossProcess::new(imp.loss, loss_seed);
            self.rng = Rng::new(rng_seed);
        } else {
            self.loss.set_model(imp.loss);
        }
        if imp.rate_bps.is_none() {
            self.link_free_at = None;
        }
        self.imp = imp;
    }

    /// Decides the fate of a packet of `len` bytes arriving at `now`. Call in arrival order.
    pub fn on_packet(&mut self, now: Instant, len: usize) -> Fate {
        if self.loss.drop_next() {
            return Fate::Lost;
        }
        let duplicate = self.imp.duplicate > 0.0 && self.rng.unit() < self.imp.duplicate;
        let Some(first) = self.release(now, len) else {
            return Fate::QueueFull;
        };
        if !duplicate {
            return Fate::Deliver(first);
        }
        match self.release(now, len) {
            Some(second) => Fate::Duplicate(first, second),
            None => Fate::Deliver(first),
        }
    }

    /// Shapes one copy through the rate limiter, then adds delay, jitter and reordering.
    fn release(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let departure = match self.imp.rate_bps {
            None => now,
            Some(rate) => {
                let rate = u128::from(rate.max(1));
                let start = self.link_free_at.map_or(now, |t| t.max(now));
                let backlog_bytes = (start - now).as_nanos() * rate / 8_000_000_000;
                if backlog_bytes > 0 && backlog_bytes + len as u128 > self.imp.queue_bytes as u128 {
                    return None;
                }
                let tx_nanos = (len as u128 * 8 * 1_000_000_000).div_ceil(rate);
                let done =
                    start + Duration::from_nanos(u64::try_from(tx_nanos).unwrap_or(u64::MAX));
                self.link_free_at = Some(done);
                done
            }
        };
        let mut delay = nanos(self.imp.delay);
        if !self.imp.jitter.is_zero() {
            let offset = (self.rng.unit() * 2.0 - 1.0) * self.imp.jitter.as_nanos() as f64;
            delay += offset as i128;
        }
        if self.imp.reorder > 0.0 && self.rng.unit() < self.imp.reorder {
            delay += nanos(self.imp.reorder_extra);
        }
        let delay = u64::try_from(delay.max(0)).unwrap_or(u64::MAX);
        Some(departure + Duration::from_nanos(delay))
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
