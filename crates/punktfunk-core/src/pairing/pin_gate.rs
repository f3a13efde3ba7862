//! The host's one-time pairing PIN: armed on demand, valid for a short time, good for exactly one
//! attempt, and behind a rate limit. Sans-IO: every call takes the current `Instant`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Digits in a PIN.
pub const PIN_DIGITS: usize = 6;
/// How long an armed PIN stays valid.
pub const PIN_LIFETIME: Duration = Duration::from_secs(120);
/// At most this many pairing attempts per [`RATE_WINDOW`], whether or not a PIN is armed.
pub const MAX_ATTEMPTS: usize = 5;
/// The sliding window of the rate limit.
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Why an attempt got no PIN to check against.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// No PIN was armed (or it was cleared).
    #[error("no pairing PIN is armed on the host")]
    NotArmed,
    /// The armed PIN is older than [`PIN_LIFETIME`].
    #[error("the pairing PIN has expired; arm a new one on the host")]
    Expired,
    /// The PIN already served one attempt.
    #[error("the pairing PIN was already used; arm a new one on the host")]
    Used,
    /// Too many attempts in the last [`RATE_WINDOW`]; the caller should wait.
    #[error("too many pairing attempts; try again in {} s", .retry_after.as_secs().max(1))]
    RateLimited {
        /// How long until the next attempt is allowed.
        retry_after: Duration,
    },
}

#[derive(Debug, Clone)]
enum State {
    Idle,
    Armed { pin: String, expires: Instant },
    Used,
}

/// The armed PIN and the attempt history.
#[derive(Debug, Clone)]
pub struct PinGate {
    state: State,
    attempts: VecDeque<Instant>,
    failed: u32,
}

impl Default for PinGate {
    fn default() -> Self {
        Self::new()
    }
}

impl PinGate {
    /// A gate with no PIN armed and no attempt history.
    pub fn new() -> Self {
        PinGate {
            state: State::Idle,
            attempts: VecDeque::with_capacity(MAX_ATTEMPTS),
            failed: 0,
        }
    }

    /// Arms a fresh PIN made from `random` (uniform enough: 2⁶⁴ mod 10⁶ skews no digit noticeably),
    /// replacing any earlier one, and returns it.
    pub fn arm(&mut self, now: Instant, random: u64) -> String {
        let pin = format!("{:0width$}", random % 1_000_000, width = PIN_DIGITS);
        self.state = State::Armed {
            pin: pin.clone(),
            expires: now + PIN_LIFETIME,
        };
        self.failed = 0;
        pin
    }

    /// Time left on the armed PIN, `None` when none is usable.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        match &self.state {
            State::Armed { expires, .. } if *expires > now => Some(*expires - now),
            _ => None,
        }
    }

    /// Failed attempts against the current (or last) PIN.
    pub fn failed_attempts(&self) -> u32 {
        self.failed
    }

    /// One pairing attempt: returns the PIN to check against and uses it up, so whatever the outcome
    /// the next attempt needs a newly armed PIN. Every call counts towards the rate limit, also the
    /// refused ones — a client hammering an idle host is slowed down just the same.
    pub fn attempt(&mut self, now: Instant) -> Result<String, PinError> {
        while let Some(&oldest) = self.attempts.front() {
            if now.saturating_duration_since(oldest) >= RATE_WINDOW {
                self.attempts.pop_front();
            } else {
                break;
            }
        }
        if self.attempts.len() >= MAX_ATTEMPTS {
            let oldest = self.attempts.front().copied().unwrap_or(now);
            let retry_after = RATE_WINDOW.saturating_sub(now.saturating_duration_since(oldest));
            return Err(PinError::RateLimited { retry_after });
        }
        self.attempts.push_back(now);
        match std::mem::replace(&mut self.state, State::Used) {
            State::Idle => {
                self.state = State::Idle;
                Err(PinError::NotArmed)
            }
            State::Used => Err(PinError::Used),
            State::Armed { expires, .. } if expires <= now => {
                self.state = State::Idle;
                Err(PinError::Expired)
            }
            State::Armed { pin, .. } => Ok(pin),
        }
    }

    /// The attempt that took the PIN failed (wrong PIN or a broken exchange).
    pub fn record_failure(&mut self) {
        self.failed = self.failed.saturating_add(1);
    }
}
