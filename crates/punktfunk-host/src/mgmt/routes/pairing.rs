//! Pairing: arm a native PIN (shown to the user, typed into the client), see what is pending, and
//! hand a Moonlight client's PIN to the GameStream host.

use crate::mgmt::error::{ApiError, ErrorBody, JsonBody};
use crate::mgmt::state::ApiState;
use crate::services::events::HostEvent;
use crate::shared::moonlight_pairing::{self, MoonlightPending, MoonlightPinError};
use crate::shared::native_pairing::{ArmedPin, NativePairingStatus};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

#[derive(Serialize, utoipa::ToSchema)]
pub struct MoonlightStatus {
    /// Whether GameStream runs (`serve --gamestream`).
    pub enabled: bool,
    /// Moonlight clients waiting for their PIN.
    pub pending: Vec<MoonlightPending>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PairingStatus {
    pub native: NativePairingStatus,
    pub moonlight: MoonlightStatus,
}

/// Whether a native PIN is armed, and which Moonlight clients wait for a PIN.
#[utoipa::path(get, path = "/pairing", tag = "pairing", operation_id = "pairing_status",
    responses((status = 200, description = "Pairing state", body = PairingStatus)))]
pub async fn status(State(state): State<ApiState>) -> Json<PairingStatus> {
    Json(PairingStatus {
        native: state.host.native_pairing.status(),
        moonlight: MoonlightStatus {
            enabled: state.moonlight.is_some(),
            pending: state
                .moonlight
                .as_ref()
                .map(|m| m.pending())
                .unwrap_or_default(),
        },
    })
}

/// Arms a new one-time PIN for a punktfunk/1 client (replacing any armed one): valid for two
/// minutes and a single attempt.
#[utoipa::path(post, path = "/pairing/native", tag = "pairing", operation_id = "arm_native_pin",
    responses((status = 200, description = "The PIN to show to the user", body = ArmedPin)))]
pub async fn arm_native(State(state): State<ApiState>) -> Json<ArmedPin> {
    let armed = state.host.native_pairing.arm();
    state.host.events.publish(HostEvent::PairingArmed {
        expires_in_secs: armed.expires_in_secs,
    });
    Json(armed)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct MoonlightPin {
    /// The 4 digits Moonlight shows.
    #[schema(pattern = "^[0-9]{4}$")]
    pub pin: String,
}

pub fn is_moonlight_pin(pin: &str) -> bool {
    pin.len() == 4 && pin.bytes().all(|b| b.is_ascii_digit())
}

/// Gives the PIN Moonlight shows to the waiting GameStream pairing.
#[utoipa::path(post, path = "/pairing/moonlight", tag = "pairing", operation_id = "submit_moonlight_pin",
    request_body = MoonlightPin,
    responses(
        (status = 204, description = "PIN handed over; Moonlight completes the pairing"),
        (status = 400, description = "Not 4 digits", body = ErrorBody),
        (status = 409, description = "GameStream is not enabled, or no client is waiting", body = ErrorBody),
    ))]
pub async fn submit_moonlight(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<MoonlightPin>,
) -> Result<StatusCode, ApiError> {
    let pin = body.pin.trim();
    if !is_moonlight_pin(pin) {
        return Err(ApiError::bad_request(
            "a Moonlight PIN has exactly 4 digits",
        ));
    }
    let sink = state
        .moonlight
        .as_ref()
        .ok_or_else(|| ApiError::conflict(moonlight_pairing::NOT_ENABLED))?;
    match sink.submit_pin(pin) {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(e @ MoonlightPinError::NothingPending) => Err(ApiError::conflict(e.to_string())),
        Err(e @ MoonlightPinError::Rejected(_)) => Err(ApiError::conflict(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moonlight_pins_are_four_ascii_digits() {
        assert!(is_moonlight_pin("0123"));
        for bad in ["123", "12345", "12a4", "١٢٣٤", ""] {
            assert!(!is_moonlight_pin(bad), "{bad}");
        }
    }
}
