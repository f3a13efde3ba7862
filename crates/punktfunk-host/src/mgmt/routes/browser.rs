//! The browser client: a logged-in console page asks here for a one-time ticket and where the
//! host's WebTransport endpoint is, then streams from it (web/play.js).

use crate::mgmt::error::{ApiError, ErrorBody};
use crate::mgmt::state::ApiState;
use crate::shared::browser_access::{SESSION_PATH, TICKET_LIFETIME};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use std::time::Instant;

#[derive(Serialize, utoipa::ToSchema)]
pub struct BrowserSession {
    /// One-time ticket (64 hex digits) the page sends first on its WebTransport session.
    pub ticket: String,
    /// Seconds the ticket can be redeemed in.
    pub expires_in_secs: u64,
    /// UDP port of the host's WebTransport endpoint (same address as this API).
    pub port: u16,
    /// URL path of the endpoint.
    pub path: String,
    /// SHA-256 of the endpoint's certificate in hex, for `serverCertificateHashes` (it changes
    /// when the host rotates the certificate, at most every 14 days).
    pub certificate_sha256: String,
}

/// A ticket for one browser session and where to use it.
#[utoipa::path(post, path = "/browser/session", tag = "sessions", operation_id = "browser_session",
    responses(
        (status = 200, description = "Ticket and endpoint", body = BrowserSession),
        (status = 503, description = "The WebTransport endpoint is not running", body = ErrorBody),
    ))]
pub async fn session(State(state): State<ApiState>) -> Result<Json<BrowserSession>, ApiError> {
    let (ticket, endpoint) = state.host.browser.issue(Instant::now()).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the browser endpoint is not running on this host",
        )
    })?;
    Ok(Json(BrowserSession {
        ticket,
        expires_in_secs: TICKET_LIFETIME.as_secs(),
        port: endpoint.port,
        path: SESSION_PATH.into(),
        certificate_sha256: punktfunk_core::hex::encode(&endpoint.certificate_sha256),
    }))
}
