//! Console login and logout, who am I, and the console password. The mechanism (tokens, cookies,
//! hashing, rate limits) lives in `mgmt::auth`; these are its HTTP faces.

use crate::mgmt::auth::{self as mech, AuthMethod};
use crate::mgmt::error::{ApiError, ErrorBody, JsonBody};
use crate::mgmt::peer::Peer;
use crate::mgmt::state::ApiState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub password: String,
}

/// Logs in to the console: on success the `pf_session` cookie (HttpOnly, Secure, SameSite=Strict)
/// carries the session. Limited to 5 attempts per minute per address.
#[utoipa::path(post, path = "/auth/login", tag = "auth", operation_id = "login",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 204, description = "Logged in; `Set-Cookie: pf_session=…`",
            headers(("Set-Cookie" = String, description = "the session cookie"))),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong password, or none set yet", body = ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorBody,
            headers(("Retry-After" = u64, description = "seconds to wait"))),
    ))]
pub async fn login(
    State(state): State<ApiState>,
    peer: Option<Extension<Peer>>,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let ip = peer.map_or(std::net::Ipv6Addr::UNSPECIFIED.into(), |p| p.0.0.ip());
    if let Err(wait) = state.auth.login_attempt(ip, Instant::now()) {
        tracing::warn!(peer = %ip, "console login rate limited");
        return Err(ApiError::too_many(
            format!("too many login attempts; try again in {wait} s"),
            wait,
        ));
    }
    let auth = state.auth.clone();
    let has_password = auth.has_password();
    // argon2 takes tens of milliseconds of CPU by design: keep it off the async workers, and only a
    // few at a time (a login flood from many addresses queues here instead of taking every core).
    let permit = auth
        .password_checks
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::internal("waiting for a password check", e))?;
    let ok = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        auth.check_password(&body.password)
    })
    .await
    .map_err(|e| ApiError::internal("checking the password", e))?;
    if !ok {
        tracing::warn!(peer = %ip, "console login failed");
        return Err(ApiError::unauthorized(if has_password {
            "wrong password"
        } else {
            "no console password is set yet; set one with PUT /api/v1/auth/password using the admin token on the host"
        }));
    }
    let id = state.auth.new_session(Instant::now());
    tracing::info!(peer = %ip, "console login");
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, mech::session_set_cookie(&id))],
    )
        .into_response())
}

/// Ends the console session (with the admin token there is nothing to end).
#[utoipa::path(post, path = "/auth/logout", tag = "auth", operation_id = "logout",
    responses((status = 204, description = "Logged out; the cookie is cleared")))]
pub async fn logout(
    State(state): State<ApiState>,
    Extension(method): Extension<AuthMethod>,
) -> Response {
    if let AuthMethod::Session(id) = method {
        state.auth.end_session(&id);
    }
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, mech::session_clear_cookie())],
    )
        .into_response()
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    Token,
    Session,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    /// How this request was authenticated.
    pub method: Credential,
}

/// How the caller is authenticated (the console uses it to check its session).
#[utoipa::path(get, path = "/auth/me", tag = "auth", operation_id = "whoami",
    responses((status = 200, description = "Authenticated", body = Me)))]
pub async fn me(Extension(method): Extension<AuthMethod>) -> Json<Me> {
    Json(Me {
        method: match method {
            AuthMethod::Token => Credential::Token,
            AuthMethod::Session(_) => Credential::Session,
        },
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordRequest {
    /// The new console password, 8 characters to 1024 bytes.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

/// Sets the console password (stored as an argon2id hash). Every other console session ends.
#[utoipa::path(put, path = "/auth/password", tag = "auth", operation_id = "set_password",
    request_body = PasswordRequest,
    responses(
        (status = 204, description = "Password changed"),
        (status = 400, description = "Too short, too long, or malformed", body = ErrorBody),
    ))]
pub async fn set_password(
    State(state): State<ApiState>,
    Extension(method): Extension<AuthMethod>,
    JsonBody(body): JsonBody<PasswordRequest>,
) -> Result<StatusCode, ApiError> {
    if let Some(problem) = mech::password_problem(&body.password) {
        return Err(ApiError::bad_request(problem));
    }
    let auth = state.auth.clone();
    let keep = match method {
        AuthMethod::Session(id) => Some(id),
        AuthMethod::Token => None,
    };
    tokio::task::spawn_blocking(move || auth.set_password(&body.password, keep.as_deref()))
        .await
        .map_err(|e| ApiError::internal("hashing the password", e))?
        .map_err(|e| ApiError::internal("saving the console password", e))?;
    Ok(StatusCode::NO_CONTENT)
}
