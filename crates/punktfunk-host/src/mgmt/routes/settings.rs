//! Host settings: read them, change them (saved to config.toml; listeners pick up address and port
//! changes on restart, and flags or environment variables the host was started with still win).

use crate::mgmt::error::{ApiError, ErrorBody, JsonBody};
use crate::mgmt::state::ApiState;
use crate::services::settings::{Settings, SettingsError};
use axum::Json;
use axum::extract::State;

/// The effective settings.
#[utoipa::path(get, path = "/settings", tag = "settings", operation_id = "get_settings",
    responses((status = 200, description = "Effective settings", body = Settings)))]
pub async fn get(State(state): State<ApiState>) -> Json<Settings> {
    Json(state.host.settings.get())
}

/// Changes settings: a JSON object of setting names to new values (`null` resets one to its
/// default). Validated as a whole; nothing changes when any part is invalid.
#[utoipa::path(patch, path = "/settings", tag = "settings", operation_id = "patch_settings",
    request_body(content = Object, description = "setting name → new value (null = default)"),
    responses(
        (status = 200, description = "The effective settings after the change", body = Settings),
        (status = 400, description = "Unknown setting or invalid value", body = ErrorBody),
    ))]
pub async fn patch(
    State(state): State<ApiState>,
    JsonBody(patch): JsonBody<serde_json::Value>,
) -> Result<Json<Settings>, ApiError> {
    let store = state.host.settings.clone();
    // The store writes config.toml (fsync) before it answers.
    let result = tokio::task::spawn_blocking(move || store.patch(patch))
        .await
        .map_err(|e| ApiError::internal("saving settings", e))?;
    match result {
        Ok(settings) => {
            tracing::info!("settings changed through the management API");
            Ok(Json(settings))
        }
        Err(e @ (SettingsError::Invalid(_) | SettingsError::File { .. })) => {
            Err(ApiError::bad_request(e.to_string()))
        }
        Err(SettingsError::Save(e)) => Err(ApiError::internal("saving settings", e)),
    }
}
