//! The seam between the management API and the GameStream host for Moonlight pairing: Moonlight shows
//! a 4-digit PIN and waits; the user types it into the console (or `punktfunk-host pair --pin`), and
//! the API hands it to whichever pairing request is waiting. The GameStream host implements this
//! trait; without `--gamestream` there is no implementation and the routes answer 409.

use serde::Serialize;

/// A Moonlight client waiting for its PIN.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema, PartialEq)]
pub struct MoonlightPending {
    /// The name the client sent (`devicename`).
    pub client_name: String,
    /// Seconds the request has been waiting.
    pub waiting_secs: u64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[allow(dead_code)] // constructed by the GameStream host's sink
pub enum MoonlightPinError {
    #[error("no Moonlight client is waiting for a PIN; start pairing in Moonlight first")]
    NothingPending,
    #[error("{0}")]
    Rejected(String),
}

pub trait MoonlightPinSink: Send + Sync {
    /// Pairing requests waiting for a PIN, oldest first.
    fn pending(&self) -> Vec<MoonlightPending>;

    /// Gives `pin` (4 digits, already checked) to the waiting pairing request.
    fn submit_pin(&self, pin: &str) -> Result<(), MoonlightPinError>;
}

/// What the routes answer when GameStream is not running.
pub const NOT_ENABLED: &str = "GameStream is not enabled (start with serve --gamestream)";
