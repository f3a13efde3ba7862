//! `GET /stats`: every live session's latest numbers in one call (the event stream pushes the same
//! numbers as they change).

use crate::mgmt::state::ApiState;
use crate::services::sessions::SessionStats;
use axum::Json;
use axum::extract::State;
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionStatsEntry {
    pub id: String,
    pub client_name: String,
    pub stats: SessionStats,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub uptime_secs: u64,
    pub sessions: Vec<SessionStatsEntry>,
}

/// Per-session statistics.
#[utoipa::path(get, path = "/stats", tag = "sessions", operation_id = "stats",
    responses((status = 200, description = "Latest statistics of every live session", body = Stats)))]
pub async fn stats(State(state): State<ApiState>) -> Json<Stats> {
    Json(Stats {
        uptime_secs: state.host.started.elapsed().as_secs(),
        sessions: state
            .host
            .sessions
            .list()
            .into_iter()
            .map(|s| SessionStatsEntry {
                id: s.id,
                client_name: s.client_name,
                stats: s.stats,
            })
            .collect(),
    })
}
