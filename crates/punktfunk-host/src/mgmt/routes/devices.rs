//! Paired devices of both protocols: list, rename, unpair.

use crate::mgmt::error::{ApiError, ErrorBody, JsonBody, PathParam};
use crate::mgmt::state::ApiState;
use crate::services::events::HostEvent;
use crate::services::paired::PairedDevice;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

pub const MAX_NAME_CHARS: usize = 64;

fn no_device(id: &str) -> ApiError {
    ApiError::not_found(format!("no paired device {id:?}"))
}

/// Paired devices.
#[utoipa::path(get, path = "/devices", tag = "devices", operation_id = "list_devices",
    responses((status = 200, description = "Paired devices", body = Vec<PairedDevice>)))]
pub async fn list(State(state): State<ApiState>) -> Json<Vec<PairedDevice>> {
    Json(state.host.paired.list())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DevicePatch {
    /// New display name, 1 to 64 characters, no control characters.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
}

/// Why `name` cannot be a device name.
pub fn name_problem(name: &str) -> Option<String> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Some(format!(
            "a device name has 1 to {MAX_NAME_CHARS} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Some("a device name cannot contain control characters".into());
    }
    None
}

/// Renames a paired device.
#[utoipa::path(patch, path = "/devices/{id}", tag = "devices", operation_id = "rename_device",
    params(("id" = String, Path, description = "Device id (certificate fingerprint)")),
    request_body = DevicePatch,
    responses(
        (status = 200, description = "Renamed", body = PairedDevice),
        (status = 400, description = "Bad name or body", body = ErrorBody),
        (status = 404, description = "No such device", body = ErrorBody),
    ))]
pub async fn rename(
    State(state): State<ApiState>,
    PathParam(id): PathParam<String>,
    JsonBody(patch): JsonBody<DevicePatch>,
) -> Result<Json<PairedDevice>, ApiError> {
    let name = patch.name.trim();
    if let Some(problem) = name_problem(name) {
        return Err(ApiError::bad_request(problem));
    }
    let renamed = state
        .host
        .paired
        .rename(&id, name)
        .map_err(|e| ApiError::internal("saving the paired devices", e))?;
    if !renamed {
        return Err(no_device(&id));
    }
    state
        .host
        .paired
        .get(&id)
        .map(Json)
        .ok_or_else(|| no_device(&id))
}

/// Unpairs a device and stops its live sessions; it needs a new PIN to connect again.
#[utoipa::path(delete, path = "/devices/{id}", tag = "devices", operation_id = "unpair_device",
    params(("id" = String, Path, description = "Device id (certificate fingerprint)")),
    responses(
        (status = 204, description = "Unpaired"),
        (status = 404, description = "No such device", body = ErrorBody),
    ))]
pub async fn unpair(
    State(state): State<ApiState>,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    let removed = state
        .host
        .paired
        .remove(&id)
        .map_err(|e| ApiError::internal("saving the paired devices", e))?;
    if !removed {
        return Err(no_device(&id));
    }
    tracing::info!(device = %id, "device unpaired through the management API");
    for session in state.host.sessions.list() {
        if session.client_id.as_deref() == Some(id.as_str()) {
            state
                .host
                .sessions
                .stop(&session.id, "this device was unpaired");
        }
    }
    state.host.events.publish(HostEvent::DeviceRemoved { id });
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names() {
        assert!(name_problem("Living room TV").is_none());
        assert!(name_problem("").is_some());
        assert!(name_problem("a\nb").is_some());
        assert!(name_problem(&"ü".repeat(MAX_NAME_CHARS)).is_none());
        assert!(name_problem(&"ü".repeat(MAX_NAME_CHARS + 1)).is_some());
    }
}
