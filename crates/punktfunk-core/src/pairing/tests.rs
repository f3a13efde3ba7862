use super::*;
use proptest::prelude::*;
use std::time::{Duration, Instant};

#[test]
fn pin_gate_pin_is_six_digits_and_single_use() {
    let t0 = Instant::now();
    let mut gate = PinGate::new();
    let pin = gate.arm(t0, 42);
    assert_eq!(pin, "000042");
    assert_eq!(gate.remaining(t0), Some(PIN_LIFETIME));
    assert_eq!(gate.attempt(t0).unwrap(), "000042");
    assert_eq!(gate.remaining(t0), None, "the attempt used the PIN up");
    assert_eq!(gate.attempt(t0), Err(PinError::Used));
    gate.record_failure();
    assert_eq!(gate.failed_attempts(), 1);
    let again = gate.arm(t0, 1_234_567);
    assert_eq!(again, "234567");
    assert_eq!(gate.failed_attempts(), 0, "a new PIN starts a new count");
    assert_eq!(gate.attempt(t0).unwrap(), "234567");
}

#[test]
fn pin_gate_expires_after_two_minutes() {
    let t0 = Instant::now();
    let mut gate = PinGate::new();
    assert_eq!(gate.attempt(t0), Err(PinError::NotArmed));
    gate.arm(t0, 7);
    let almost = t0 + PIN_LIFETIME - Duration::from_millis(1);
    assert!(gate.remaining(almost).is_some());
    assert_eq!(gate.remaining(t0 + PIN_LIFETIME), None);
    assert_eq!(gate.attempt(t0 + PIN_LIFETIME), Err(PinError::Expired));
    assert_eq!(gate.attempt(t0 + PIN_LIFETIME), Err(PinError::NotArmed));
}

#[test]
fn pin_gate_rate_limit_counts_attempts_without_a_pin() {
    let t0 = Instant::now();
    let mut gate = PinGate::new();
    for i in 0..MAX_ATTEMPTS {
        let t = t0 + Duration::from_secs(i as u64);
        assert_eq!(gate.attempt(t), Err(PinError::NotArmed));
    }
    // Armed now, but the limit holds: the PIN is not handed out (and not used up).
    gate.arm(t0 + Duration::from_secs(10), 99);
    match gate.attempt(t0 + Duration::from_secs(10)) {
        Err(PinError::RateLimited { retry_after }) => {
            assert_eq!(retry_after, RATE_WINDOW - Duration::from_secs(10))
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
    assert!(gate.remaining(t0 + Duration::from_secs(10)).is_some());
    // Once the first attempt leaves the window, one more is allowed.
    assert_eq!(gate.attempt(t0 + RATE_WINDOW).unwrap(), "000099");
    assert!(matches!(
        gate.attempt(t0 + RATE_WINDOW),
        Err(PinError::RateLimited { .. })
    ));
}

proptest! {
    /// Whatever the sequence of arms and attempts, an armed PIN is handed out at most once, never
    /// after its lifetime, and never more than MAX_ATTEMPTS attempts pass in any window.
    #[test]
    fn pin_gate_invariants(ops in proptest::collection::vec((any::<bool>(), 0u64..200_000, any::<u64>()), 1..200)) {
        let t0 = Instant::now();
        let mut gate = PinGate::new();
        let mut now = t0;
        let mut armed_at: Option<Instant> = None;
        let mut handed: Vec<Instant> = Vec::new();
        for (arm, step_ms, random) in ops {
            now += Duration::from_millis(step_ms);
            if arm {
                let pin = gate.arm(now, random);
                prop_assert_eq!(pin.len(), PIN_DIGITS);
                prop_assert!(pin.bytes().all(|b| b.is_ascii_digit()));
                armed_at = Some(now);
            } else if let Ok(pin) = gate.attempt(now) {
                prop_assert_eq!(pin.len(), PIN_DIGITS);
                let at = armed_at.take();
                prop_assert!(at.is_some(), "PIN handed out twice");
                prop_assert!(now < at.unwrap_or(now) + PIN_LIFETIME);
                handed.push(now);
            }
        }
        for (i, &t) in handed.iter().enumerate() {
            let in_window = handed[i..].iter().take_while(|&&u| u < t + RATE_WINDOW).count();
            prop_assert!(in_window <= MAX_ATTEMPTS);
        }
    }
}
