//! The middleware in front of every protected route: authenticates the request (console session
//! or admin token, see [`super::auth::authenticate`]) and records how, or answers 401/403.

use super::auth::authenticate;
use super::peer::Peer;
use super::state::ApiState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

/// Middleware in front of every protected route.
pub async fn require_auth(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request.extensions().get::<Peer>().map(|p| p.0.ip());
    match authenticate(
        &state.auth,
        request.method(),
        request.headers(),
        peer,
        Instant::now(),
    ) {
        Ok(method) => {
            request.extensions_mut().insert(method);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}
