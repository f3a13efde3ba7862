//! The management API and web console: HTTPS on port 3000 (by default) with the host identity.
//! Routes live in `routes/`, authentication in `auth`, the document in `openapi`.

pub mod auth;
pub mod console;
mod deadlines;
pub mod error;
mod headers;
pub mod host_capabilities;
pub mod logbuf;
pub mod openapi;
pub mod peer;
pub mod require_auth;
pub mod routes;
pub mod server;
pub mod state;

#[allow(unused_imports)] // the GameStream host implements the sink
pub use server::ApiServer;
pub use state::ApiState;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state, map_response};
use axum::routing::get;
use error::ApiError;
use routes::{
    auth as auth_routes, browser, capabilities, devices, events, health, library, logs,
    openapi as openapi_route, pairing, sessions, settings, stats, status,
};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every API route with its document. With `state`, the protected routes sit behind the auth layer
/// (the document is the same either way; `punktfunk-host openapi` builds it without a host).
pub(crate) fn openapi_router(state: Option<ApiState>) -> OpenApiRouter<ApiState> {
    let public = OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(auth_routes::login));
    let mut protected = OpenApiRouter::new()
        .routes(routes!(auth_routes::logout))
        .routes(routes!(auth_routes::me))
        .routes(routes!(auth_routes::set_password))
        .routes(routes!(status::status))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::get, sessions::stop))
        .routes(routes!(sessions::keyframe))
        .routes(routes!(sessions::launch))
        .routes(routes!(sessions::end_app))
        .routes(routes!(browser::session))
        .routes(routes!(devices::list))
        .routes(routes!(devices::rename, devices::unpair))
        .routes(routes!(pairing::status))
        .routes(routes!(pairing::arm_native))
        .routes(routes!(pairing::submit_moonlight))
        .routes(routes!(settings::get, settings::patch))
        .routes(routes!(capabilities::capabilities))
        .routes(routes!(stats::stats))
        .routes(routes!(events::events))
        .routes(routes!(logs::logs))
        .routes(routes!(library::list))
        .routes(routes!(library::art))
        .routes(routes!(library::refresh))
        .routes(routes!(openapi_route::openapi));
    if let Some(state) = state {
        protected = protected.layer(from_fn_with_state(state, require_auth::require_auth));
    }
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi()).nest("/api/v1", public.merge(protected))
}

/// The whole HTTP application: API, console files, JSON errors, security headers.
pub fn app(state: ApiState) -> Router {
    let (api, _) = openapi_router(Some(state.clone())).split_for_parts();
    api.route("/", get(console::index))
        .route("/assets/{*path}", get(console::asset))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(from_fn(error::catch_panic))
        .layer(map_response(error::json_errors))
        .layer(map_response(headers::security_headers))
        .with_state(state)
}
