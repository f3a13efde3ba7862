//! The rules of `session_end.rs`: which end reason counts, when a client that never connected is
//! given up on and what that does to a resumed app, and what teardown keeps.

use super::session_end::*;
use std::time::{Duration, Instant};

// --- how a session ends --------------------------------------------------------------------------

#[test]
fn the_first_end_reason_wins() {
    let mut ending = None;
    assert!(end_once(&mut ending, "the app exited", false));
    assert!(!end_once(&mut ending, "control stream timed out", true));
    assert_eq!(
        ending,
        Some(Ending {
            reason: "the app exited".into(),
            client_lost: false,
        }),
        "a client lost after the app exited must not park the dead app"
    );
}

#[test]
fn a_lost_client_stays_lost_when_a_quit_follows() {
    let mut ending = None;
    assert!(end_once(&mut ending, "control stream disconnected", true));
    assert!(!end_once(&mut ending, "the host is shutting down", false));
    let ending = ending.expect("ended");
    assert!(ending.client_lost);
    assert_eq!(ending.reason, "control stream disconnected");
}

#[test]
fn a_client_that_connects_is_never_given_up_on() {
    let launched = Instant::now();
    let late = launched + CONNECT_DEADLINE + Duration::from_secs(600);
    assert_eq!(missed_connect(true, launched, late, false), None);
    assert_eq!(missed_connect(true, launched, late, true), None);
}

#[test]
fn the_connect_deadline_expires_only_after_20_seconds() {
    let launched = Instant::now();
    assert_eq!(CONNECT_DEADLINE, Duration::from_secs(20));
    assert_eq!(missed_connect(false, launched, launched, false), None);
    let at = launched + CONNECT_DEADLINE;
    assert_eq!(
        missed_connect(false, launched, at, false),
        None,
        "not at the deadline itself"
    );
    let after = at + Duration::from_millis(1);
    assert_eq!(
        missed_connect(false, launched, after, false),
        Some(EndKind::Release),
        "a fresh launch nobody connected to is released"
    );
}

#[test]
fn a_resume_nobody_connects_to_parks_the_app_again() {
    let launched = Instant::now();
    let after = launched + CONNECT_DEADLINE + Duration::from_secs(1);
    assert_eq!(
        missed_connect(false, launched, after, true),
        Some(EndKind::Park)
    );
}

#[test]
fn a_clock_reading_before_the_launch_does_not_expire_it() {
    let now = Instant::now();
    let launched = now + Duration::from_secs(30);
    assert_eq!(missed_connect(false, launched, now, false), None);
}

#[test]
fn teardown_keeps_what_the_sender_handed_back_first() {
    assert_eq!(
        leftover(Some("sent"), Some("unused"), Some("brought")),
        Some("sent")
    );
    assert_eq!(
        leftover(None, Some("unused"), Some("brought")),
        Some("unused")
    );
    assert_eq!(
        leftover(None, None, Some("brought")),
        Some("brought"),
        "a resume that never got to PLAY parks what it was given"
    );
    assert_eq!(leftover::<&str>(None, None, None), None);
}
