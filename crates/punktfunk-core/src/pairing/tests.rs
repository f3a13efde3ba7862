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

const CLIENT: Fingerprint = [0xc1; 32];
const HOST: Fingerprint = [0x40; 32];

/// Runs the whole exchange; each side sees the fingerprints it is given. Returns which step failed.
fn exchange(
    client_pin: &str,
    host_pin: &str,
    client_view: (Fingerprint, Fingerprint),
    host_view: (Fingerprint, Fingerprint),
) -> Result<(), &'static str> {
    let (client, spake_a) = ClientPairing::start(client_pin, &client_view.0, &client_view.1);
    let (host, spake_b) = HostPairing::respond(host_pin, &host_view.0, &host_view.1, &spake_a)
        .map_err(|_| "respond")?;
    let (client, mac_c) = client.on_challenge(&spake_b).map_err(|_| "challenge")?;
    let mac_h = host.on_confirm(&mac_c).map_err(|_| "host confirm")?;
    client.on_done(&mac_h).map_err(|_| "client done")
}

#[test]
fn spake_pairing_succeeds_with_the_same_pin_and_fingerprints() {
    assert_eq!(
        exchange("123456", "123456", (CLIENT, HOST), (CLIENT, HOST)),
        Ok(())
    );
}

#[test]
fn spake_pairing_wrong_pin_fails_at_the_host_before_it_proves_anything() {
    assert_eq!(
        exchange("123456", "123457", (CLIENT, HOST), (CLIENT, HOST)),
        Err("host confirm")
    );
}

#[test]
fn spake_pairing_someone_in_between_cannot_complete() {
    let mitm = [0x66; 32];
    // The client sees the middle's certificate instead of the host's.
    assert_eq!(
        exchange("123456", "123456", (CLIENT, mitm), (CLIENT, HOST)),
        Err("host confirm")
    );
    // The host sees the middle's client certificate instead of the client's.
    assert_eq!(
        exchange("123456", "123456", (CLIENT, HOST), (mitm, HOST)),
        Err("host confirm")
    );
    // Swapped roles of the two fingerprints.
    assert_eq!(
        exchange("123456", "123456", (CLIENT, HOST), (HOST, CLIENT)),
        Err("host confirm")
    );
}

#[test]
fn spake_pairing_client_rejects_a_forged_host_proof() {
    let (client, spake_a) = ClientPairing::start("000000", &CLIENT, &HOST);
    let (host, spake_b) = HostPairing::respond("000000", &CLIENT, &HOST, &spake_a).unwrap();
    let (client, mac_c) = client.on_challenge(&spake_b).unwrap();
    // Replaying the client's own MAC as the host's proof must not work.
    assert_eq!(
        ClientPairing::start("000000", &CLIENT, &HOST)
            .0
            .on_challenge(&spake_b)
            .unwrap()
            .0
            .on_done(&mac_c),
        Err(PairingError::ConfirmationFailed)
    );
    assert!(host.on_confirm(&mac_c).is_ok());
    assert_eq!(
        client.on_done(&mac_c),
        Err(PairingError::ConfirmationFailed)
    );
}

#[test]
fn fingerprint_hex_round_trips_and_rejects_junk() {
    let fp = fingerprint_of(b"certificate");
    assert_eq!(parse_fingerprint(&fingerprint_hex(&fp)), Some(fp));
    assert_eq!(
        parse_fingerprint(&fingerprint_hex(&fp).to_uppercase()),
        Some(fp)
    );
    assert_eq!(parse_fingerprint("abc"), None);
    assert_eq!(
        parse_fingerprint(&format!("+{}", &fingerprint_hex(&fp)[1..])),
        None
    );
    assert_eq!(parse_fingerprint(&"é".repeat(32)), None);
}

proptest! {
    #[test]
    fn spake_pairing_garbage_is_an_error_not_a_panic(
        garbage in proptest::collection::vec(any::<u8>(), 0..80),
        mac in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let _ = HostPairing::respond("111111", &CLIENT, &HOST, &garbage);
        let (client, spake_a) = ClientPairing::start("111111", &CLIENT, &HOST);
        let _ = client.on_challenge(&garbage);
        let (host, spake_b) = HostPairing::respond("111111", &CLIENT, &HOST, &spake_a).unwrap();
        prop_assert_eq!(host.on_confirm(&mac), Err(PairingError::ConfirmationFailed));
        let (client, _) = ClientPairing::start("111111", &CLIENT, &HOST);
        let (client, _) = client.on_challenge(&spake_b).unwrap();
        prop_assert_eq!(client.on_done(&mac), Err(PairingError::ConfirmationFailed));
    }

    #[test]
    fn spake_pairing_any_differing_pin_fails(a in 0u32..1_000_000, b in 0u32..1_000_000) {
        let (pa, pb) = (format!("{a:06}"), format!("{b:06}"));
        let result = exchange(&pa, &pb, (CLIENT, HOST), (CLIENT, HOST));
        prop_assert_eq!(result.is_ok(), a == b);
    }
}
