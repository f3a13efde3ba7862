//! Live streaming sessions: list, inspect, stop, force a keyframe, launch a library title on one
//! and end it.

use crate::mgmt::error::{ApiError, ErrorBody, JsonBody, PathParam};
use crate::mgmt::state::ApiState;
use crate::services::sessions::SessionInfo;
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

/// What to launch on a session.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct LaunchTitle {
    /// A library title id (`GET /library`), e.g. `steam:570`.
    pub title_id: String,
}

/// Starts a library title on the session's display (the app running there is stopped). The
/// session's client sees it at once. On a GameStream session the title takes the place of the app
/// Moonlight launched: its exit ends the stream, as that app's would.
#[utoipa::path(post, path = "/sessions/{id}/launch", tag = "sessions", operation_id = "launch_on_session",
    params(("id" = String, Path, description = "Session id")),
    request_body = LaunchTitle,
    responses(
        (status = 204, description = "Started"),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 404, description = "No such session or title", body = ErrorBody),
        (status = 409, description = "The session cannot launch titles (no display, ending) or the title did not start", body = ErrorBody),
    ))]
pub async fn launch(
    State(state): State<ApiState>,
    PathParam(id): PathParam<String>,
    JsonBody(body): JsonBody<LaunchTitle>,
) -> Result<StatusCode, ApiError> {
    let titles = state.host.library.titles();
    let title = titles
        .iter()
        .find(|t| t.id == body.title_id)
        .ok_or_else(|| {
            ApiError::not_found(format!("no title {:?} in the library", body.title_id))
        })?;
    match state.host.sessions.launch(&id, title) {
        None => Err(no_session(&id)),
        Some(Err(why)) => Err(ApiError::conflict(why)),
        Some(Ok(())) => {
            tracing::info!(session = %id, title = %title.id, "title launched through the management API");
            Ok(StatusCode::NO_CONTENT)
        }
    }
}

/// "End game": stops the app running on the session — its processes and what a store client started
/// for it, SIGTERM first, SIGKILL after a grace time; the session goes on (its client sees the
/// desktop).
#[utoipa::path(delete, path = "/sessions/{id}/app", tag = "sessions", operation_id = "end_session_app",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Asked to stop"),
        (status = 404, description = "No such session, or no app runs on it", body = ErrorBody),
    ))]
pub async fn end_app(
    State(state): State<ApiState>,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, ApiError> {
    match state.host.sessions.end_app(&id) {
        None => Err(no_session(&id)),
        Some(false) => Err(ApiError::not_found(format!(
            "session {id:?} runs no launched title"
        ))),
        Some(true) => Ok(StatusCode::NO_CONTENT),
    }
}
