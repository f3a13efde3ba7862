//! The session model the management API, the event stream and the console show: a live session's
//! identity, mode, display, state and recent performance. Plain data; the registry
//! (`services::sessions`) keeps it, the protocols and the pipeline (`stream::stages`) fill it in.

use serde::Serialize;
use std::collections::BTreeMap;

/// The virtual display a session streams, and how to start an app on it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema, PartialEq)]
pub struct DisplayInfo {
    /// Compositor kind, e.g. `sway`, `mutter`.
    pub compositor: String,
    /// The compositor's name for the output, e.g. `HEADLESS-2`.
    pub output: String,
    pub width: u32,
    pub height: u32,
    pub refresh_mhz: u32,
    /// Environment an app needs to appear on this display (`WAYLAND_DISPLAY`, `SWAYSOCK`, …).
    pub env: BTreeMap<String, String>,
}

/// A session's recent performance, refreshed about once a second.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema, PartialEq)]
pub struct SessionStats {
    /// Target bitrate the rate controller currently allows.
    pub bitrate_kbps: u32,
    /// Frames sent per second over the last interval.
    pub fps: f64,
    pub frames_sent: u64,
    /// Packet loss the client reported over the last interval, 0–100.
    pub loss_percent: f64,
    pub fec_parity_percent: u32,
    /// Median one-way delay host → client when the clocks are synchronised, else null.
    pub latency_ms: Option<f64>,
    /// Where the host's time per frame goes (the last second), once video has run that long.
    pub stages: Option<StageReport>,
}

/// Whether a session is streaming, or waiting for its client to come back.
#[derive(Clone, Copy, Debug, Default, Serialize, utoipa::ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    #[default]
    Streaming,
    /// GameStream: the client went away without quitting; its app and display keep running until
    /// it resumes, quits, or an operator stops the session.
    Parked,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema, PartialEq)]
pub struct SessionInfo {
    /// Session id (hex), stable for the session's lifetime.
    pub id: String,
    /// `punktfunk1` or `gamestream`.
    pub protocol: String,
    pub client_name: String,
    /// The client's certificate fingerprint when it has one (its paired-device id).
    pub client_id: Option<String>,
    /// The client's address.
    pub remote: String,
    pub width: u32,
    pub height: u32,
    pub refresh_mhz: u32,
    pub codec: String,
    pub started_unix: u64,
    pub display: Option<DisplayInfo>,
    pub stats: SessionStats,
    pub state: SessionState,
    /// Id of the library title running on this session's display (launched by the client or the
    /// console; the console's "End game" ends it). `None` for a configured app that is not in the
    /// library: see `app_name`.
    pub app: Option<String>,
    /// Name of the app running on this session's display, library title or configured app.
    pub app_name: Option<String>,
}

/// A window of frames, summarised (means in ms; latency percentiles in ms).
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema, PartialEq)]
pub struct StageReport {
    /// Frames sent in the window, per second.
    pub fps: f64,
    /// Of them, repeats of an unchanged screen.
    pub repeated_fps: f64,
    pub capture_wait_ms: f64,
    pub convert_ms: f64,
    pub encode_ms: f64,
    pub packetize_ms: f64,
    pub send_ms: f64,
    pub host_latency_p50_ms: f64,
    pub host_latency_p95_ms: f64,
    /// Pictures the encoder never saw because a newer one replaced them (it was busy), in total.
    pub pictures_dropped: u64,
}
