//! `GET /status`: the host at a glance.

use crate::mgmt::state::{ApiState, Ports};
use axum::Json;
use axum::extract::State;
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct CompositorStatus {
    /// e.g. `sway`, `private headless sway`, `Mutter`.
    pub kind: String,
    /// e.g. `sway 1.7`.
    pub version: String,
    /// True when punktfunk started this compositor itself.
    pub private: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Status {
    pub version: String,
    pub uptime_secs: u64,
    pub host_name: String,
    /// SHA-256 of the host certificate (what clients pin), lowercase hex.
    pub fingerprint: String,
    /// The compositor virtual displays are created on; null when only test sources are served.
    pub compositor: Option<CompositorStatus>,
    /// Live sessions.
    pub sessions: usize,
    pub ports: Ports,
    pub gamestream: bool,
    /// Whether unpaired clients need a PIN (false with `--open`).
    pub pairing_required: bool,
}

/// Version, uptime, identity, compositor, ports.
#[utoipa::path(get, path = "/status", tag = "host", operation_id = "status",
    responses((status = 200, description = "Host status", body = Status)))]
pub async fn status(State(state): State<ApiState>) -> Json<Status> {
    let host = &state.host;
    let settings = host.settings.get();
    Json(Status {
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_secs: host.started.elapsed().as_secs(),
        host_name: settings.host_name,
        fingerprint: host.identity.fingerprint(),
        compositor: host.compositor().map(|c| CompositorStatus {
            kind: c.kind.to_string(),
            version: c.version,
            private: c.private,
        }),
        sessions: host.sessions.len(),
        ports: state.ports(),
        gamestream: settings.gamestream,
        pairing_required: !settings.open,
    })
}
