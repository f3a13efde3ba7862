//! The game library: what the host found in the user's stores, each title's cover art, and a
//! rescan on demand (the host also rescans by itself when a store changes).

use crate::mgmt::error::{ApiError, ErrorBody, PathParam};
use crate::mgmt::state::ApiState;
use crate::services::library::{Source, Title};
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;

/// One installed game.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LibraryTitle {
    /// Stable id: `<store>:<the store's id>`, e.g. `steam:570`, `lutris:12`, `desktop:tux`.
    pub id: String,
    pub name: String,
    /// steam, heroic, lutris or desktop.
    #[schema(value_type = String)]
    pub source: Source,
    /// The command that starts it.
    pub launch: Vec<String>,
    /// Whether `GET /library/{id}/art` has a picture.
    pub has_art: bool,
    /// Hidden from clients by the `library_hidden` setting (the operator still sees and may launch it).
    pub hidden: bool,
}

impl LibraryTitle {
    fn new(t: &Title, hidden: &[String]) -> Self {
        LibraryTitle {
            id: t.id.clone(),
            name: t.name.clone(),
            source: t.source,
            launch: t.launch.clone(),
            has_art: t.art.is_some(),
            hidden: crate::services::library::is_hidden(hidden, &t.id),
        }
    }
}

/// Every installed game the host found, by name.
#[utoipa::path(get, path = "/library", tag = "library", operation_id = "list_library",
    responses((status = 200, description = "The library", body = Vec<LibraryTitle>)))]
pub async fn list(State(state): State<ApiState>) -> Json<Vec<LibraryTitle>> {
    let hidden = state.host.settings.get().library_hidden;
    Json(
        state
            .host
            .library
            .titles()
            .iter()
            .map(|t| LibraryTitle::new(t, &hidden))
            .collect(),
    )
}

/// A title's cover art (PNG or JPEG, as the store keeps it).
#[utoipa::path(get, path = "/library/{id}/art", tag = "library", operation_id = "library_art",
    params(("id" = String, Path, description = "Title id, e.g. steam:570")),
    responses(
        (status = 200, description = "The picture", content_type = "image/*"),
        (status = 404, description = "No such title, or it has no art", body = ErrorBody),
    ))]
pub async fn art(
    State(state): State<ApiState>,
    PathParam(id): PathParam<String>,
) -> Result<impl IntoResponse, ApiError> {
    let titles = state.host.library.titles();
    let path = titles
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no title {id:?} in the library")))?
        .art
        .clone()
        .ok_or_else(|| ApiError::not_found(format!("{id} has no cover art")))?;
    let cover = tokio::task::spawn_blocking(move || crate::services::library::cover(&path))
        .await
        .map_err(|e| ApiError::internal("reading cover art", e))?
        .ok_or_else(|| {
            ApiError::not_found(format!("{id}: its cover art is not a readable PNG or JPEG"))
        })?;
    let (content_type, bytes) = cover;
    Ok(([(header::CONTENT_TYPE, content_type)], bytes))
}

/// Rescans the stores now; answers with the library as found.
#[utoipa::path(post, path = "/library/refresh", tag = "library", operation_id = "refresh_library",
    responses((status = 200, description = "The library after the rescan", body = Vec<LibraryTitle>)))]
pub async fn refresh(State(state): State<ApiState>) -> Result<Json<Vec<LibraryTitle>>, ApiError> {
    let library = state.host.library.clone();
    tokio::task::spawn_blocking(move || library.rescan())
        .await
        .map_err(|e| ApiError::internal("rescanning the library", e))?;
    Ok(list(State(state)).await)
}
