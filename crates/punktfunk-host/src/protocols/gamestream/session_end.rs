//! How one GameStream session ends, as plain rules: the first reason given wins, a client that never
//! connects is given up on after a deadline (time comes in as a value), and teardown keeps the
//! freshest of each resource for parking. Unit-tested in `session_end_tests.rs`; the session
//! (`stream_session.rs`), its supervisor (`streaming.rs`) and `teardown.rs` apply them.

use std::time::{Duration, Instant};

/// A launch whose client never connects its control stream is given up after this.
pub const CONNECT_DEADLINE: Duration = Duration::from_secs(20);

/// Why a session ends: the first reason given, and whether its client went away without quitting
/// (then its app and display are parked instead of released).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ending {
    pub reason: String,
    pub client_lost: bool,
}

/// Records why a session ends unless a reason is already recorded (the first one wins: a client
/// lost after the app exited does not park a dead app). Returns whether `current` changed.
pub fn end_once(current: &mut Option<Ending>, reason: &str, client_lost: bool) -> bool {
    if current.is_some() {
        return false;
    }
    *current = Some(Ending {
        reason: reason.to_string(),
        client_lost,
    });
    true
}

/// How a session that has to end goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndKind {
    /// Everything it owned is released.
    Release,
    /// Its app and display stay, parked for a `/resume`.
    Park,
}

/// Whether a session whose client has not connected its control stream by `now` must end, and how:
/// a fresh launch is released, a resume that never got going parks the app again (a failed resume
/// leaves the app as it found it).
pub fn missed_connect(
    connected: bool,
    launched: Instant,
    now: Instant,
    resuming: bool,
) -> Option<EndKind> {
    if connected || now.saturating_duration_since(launched) <= CONNECT_DEADLINE {
        return None;
    }
    Some(if resuming {
        EndKind::Park
    } else {
        EndKind::Release
    })
}

/// One resource of a torn-down stream, for parking: what its sender handed back, else what it
/// opened but never started, else what a resume brought along and it never took. The others (at
/// most stale duplicates) are dropped.
pub fn leftover<T>(handed_back: Option<T>, unused: Option<T>, brought: Option<T>) -> Option<T> {
    handed_back.or(unused).or(brought)
}
