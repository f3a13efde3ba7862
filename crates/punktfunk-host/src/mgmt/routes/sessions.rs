//! Live streaming sessions: list, inspect, stop, force a keyframe.

use crate::mgmt::error::{ApiError, ErrorBody, PathParam};
use crate::mgmt::state::ApiState;
use crate::sessions::SessionInfo;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

fn no_session(id: &str) -> ApiError {
    ApiError::not_found(format!("no live session {id:?}"))
}

/// Live sessions, oldest first, each with its display and latest stats.
#[utoipa::path(get, path = "/sessions", tag = "sessions", operation_id = "list_sessions",
    responses((status = 200, description = "Live sessions", body = Vec<SessionInfo>)))]
pub async fn list(State(state): State<ApiState>) -> Json<Vec<SessionInfo>> {
    Json(state.host.sessions.list())
}

/// One live session.
#[utoipa::path(get, path = "/sessions/{id}", tag = "sessions", operation_id = "get_session",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "The session", body = SessionInfo),
        (status = 404, description = "No such session", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<ApiState>,
    PathParam(id): PathParam<String>,
) -> Result<Json<SessionInfo>, ApiError> {
    state
        .host
        .sessions
        .get(&id)
        .map(Json)
        .ok_or_else(|| no_session(&id))
}

/// Stops a session (the client is told why); its display is released.
#[utoipa::path(delete, path = "/sessions/{id}", tag = "sessions", operation_id = "stop_session",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Asked to stop"),
        (status = 404, description = "No such session", body = ErrorBody),
    ))]
pub async fn stop(
    State(state): State<ApiState>,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .host
        .sessions
        .stop(&id, "stopped by the host operator")
    {
        tracing::info!(session = %id, "session stopped through the management API");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_session(&id))
    }
}

/// Makes the session's encoder send a keyframe now.
#[utoipa::path(post, path = "/sessions/{id}/keyframe", tag = "sessions", operation_id = "request_keyframe",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Keyframe requested"),
        (status = 404, description = "No such session", body = ErrorBody),
    ))]
pub async fn keyframe(
    State(state): State<ApiState>,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    if state.host.sessions.request_keyframe(&id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_session(&id))
    }
}
