//! `GET /logs?after=N`: the host's recent log lines, paged by sequence number.

use crate::mgmt::error::{ApiError, ErrorBody, QueryParams};
use crate::mgmt::logbuf::LogLine;
use crate::mgmt::state::ApiState;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

const DEFAULT_LIMIT: usize = 500;
const MAX_LIMIT: usize = 2000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Only lines with a larger sequence number (0 or absent: from the oldest kept line).
    pub after: Option<u64>,
    /// At most this many lines (default 500, at most 2000).
    pub limit: Option<usize>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LogPage {
    /// Oldest first.
    pub lines: Vec<LogLine>,
    /// Pass as `after` to get the lines that follow.
    pub next: u64,
}

/// Recent log lines.
#[utoipa::path(get, path = "/logs", tag = "host", operation_id = "logs",
    params(LogsQuery),
    responses(
        (status = 200, description = "Log lines", body = LogPage),
        (status = 400, description = "Bad query", body = ErrorBody),
    ))]
pub async fn logs(
    State(state): State<ApiState>,
    QueryParams(query): QueryParams<LogsQuery>,
) -> Result<Json<LogPage>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    let (lines, next) = state.logs.after(query.after.unwrap_or(0), limit);
    Ok(Json(LogPage { lines, next }))
}
