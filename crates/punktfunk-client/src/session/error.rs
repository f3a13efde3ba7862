//! Why a session could not run.

use std::fmt;

/// Why a session could not run.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("host certificate fingerprint mismatch: expected {expected}, got {got}")]
    FingerprintMismatch { expected: String, got: String },
    #[error("host rejected the session: {0}")]
    Rejected(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

impl SessionError {
    /// Process exit status for the probe: 2 for a fingerprint mismatch, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            SessionError::FingerprintMismatch { .. } => 2,
            _ => 1,
        }
    }
}

pub(super) fn other(context: &str, e: impl fmt::Display) -> SessionError {
    SessionError::Other(format!("{context}: {e}"))
}
