//! `GET /health`: the one route that answers without authentication (for load balancers, scripts
//! waiting for start-up). It says nothing an anonymous caller should not know.

use axum::Json;
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` while the host answers.
    pub status: String,
    pub version: String,
}

/// Liveness of the host.
#[utoipa::path(get, path = "/health", tag = "host", operation_id = "health",
    security(()),
    responses((status = 200, description = "The host is up", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}
