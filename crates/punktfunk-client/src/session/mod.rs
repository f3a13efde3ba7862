//! The client side of a punktfunk/1 session, as `punktfunk-probe connect` runs it.
//!
//! 1. QUIC to the host (ALPN `pkf1`, SNI `punktfunk`), the host certificate pinned by fingerprint or
//!    trusted on first use ([`crate::tls`]).
//! 2. One bidirectional control stream of length-prefixed [`Message`]s: `Hello` → `Welcome` (or
//!    `Goodbye` = rejected).
//! 3. Data-plane keys from the TLS exporter ([`EXPORTER_LABEL`], context = session id LE).
//! 4. A native data-plane thread: registration datagrams to the host's data port (every 200 ms until
//!    video flows, then every second as NAT keep-alive), then opening, reassembling and byte-checking
//!    every frame of the virtual test source ([`TestFrame`]), measuring latency through the clock offset
//!    estimated from `ClockPing`/`ClockPong`, reporting `Feedback` every 100 ms and asking for
//!    keyframes when frames are lost.
//! 5. After the requested duration: `Goodbye{"done"}`, close, and a [`SessionReport`].
//!
//! The tokio side only moves control messages; the data thread and the control task talk over bounded
//! channels and never block each other (the data thread uses `try_send` only).
//!
//! [`Message`]: punktfunk_core::control::Message
//! [`EXPORTER_LABEL`]: punktfunk_core::control::EXPORTER_LABEL
//! [`TestFrame`]: punktfunk_core::testsrc::TestFrame

mod clock;
mod control;
mod data_thread;
mod error;
#[cfg(test)]
mod fake_host;
mod options;
mod receiver;
mod report;

pub use clock::WallClock;
pub use control::run_session;
pub use data_thread::{FEEDBACK_INTERVAL, KEEPALIVE_INTERVAL, REGISTER_INTERVAL};
pub use error::SessionError;
pub use options::{
    DEFAULT_PORT, FingerprintCallback, Mode, SessionOptions, parse_duration, split_host_port,
};
pub use receiver::{
    GRADIENT_WINDOW, KEYFRAME_REQUEST_INTERVAL, LATE_FRAME, delay_gradient_us_per_s,
};
pub use report::{
    ClockReport, FrameRecord, FrameStatus, LatencyMs, LaunchReport, LibraryTitle, SessionReport,
    percentile,
};
