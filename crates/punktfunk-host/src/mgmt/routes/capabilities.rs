//! `GET /capabilities`: which encoders really open on this machine (probed once, by opening each
//! backend at a small size — the same test the session's encoder selection makes), what GPUs were
//! found, and which compositor virtual displays use.

use crate::mgmt::error::ApiError;
use crate::mgmt::host_capabilities::{
    ActiveCompositor, Capabilities, CompositorCapability, probe_hardware,
};
use crate::mgmt::state::ApiState;
use crate::platform::vdisplay::{SessionEnv, detect};
use axum::Json;
use axum::extract::State;

/// Encoders (probed), GPUs and the compositor.
#[utoipa::path(get, path = "/capabilities", tag = "host", operation_id = "capabilities",
    responses((status = 200, description = "What this host can do", body = Capabilities)))]
pub async fn capabilities(State(state): State<ApiState>) -> Result<Json<Capabilities>, ApiError> {
    let probed = state
        .capabilities
        .get_or_try_init(|| async {
            tokio::task::spawn_blocking(probe_hardware)
                .await
                .map_err(|e| ApiError::internal("probing encoders", e))
        })
        .await?;
    let mut answer = probed.clone();
    answer.compositor = compositor(&state);
    Ok(Json(answer))
}

fn compositor(state: &ApiState) -> CompositorCapability {
    let detection = detect(&SessionEnv::from_process());
    CompositorCapability {
        detected: detection.kind.to_string(),
        reason: detection.reason,
        active: state.host.compositor().map(|c| ActiveCompositor {
            kind: c.kind.to_string(),
            version: c.version,
            private: c.private,
            custom_modes: c.capabilities.custom_modes,
            removes_outputs: c.capabilities.removes_outputs,
            capture: c.capabilities.capture,
            notes: c.capabilities.notes,
        }),
    }
}
