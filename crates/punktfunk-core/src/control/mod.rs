//! The punktfunk/1 control plane: versioned messages carried on a QUIC stream, the clock-offset
//! estimator, and the data-plane key exporter parameters.

mod clock;
mod codec;
pub mod input;
mod messages;

pub use clock::{ClockSample, ClockSync};
pub use codec::{FieldReader, FieldWriter, FrameBuffer, MAX_MESSAGE_LEN, frame};
pub use messages::{
    Codec, Feedback, Hello, LibraryEntry, MAX_LIBRARY_PAGE, MAX_NAME_LEN, MAX_PAIRING_FIELD_LEN,
    MAX_REASON_LEN, MAX_TITLE_ID_LEN, Message, Welcome, caps,
};

/// ALPN protocol id of punktfunk/1.
pub const ALPN: &[u8] = b"pkf1";
/// TLS exporter label for the data-plane secret (context: the session id, little-endian).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-punktfunk/1 data plane";
/// Bytes of exported secret fed into [`crate::crypto::SessionKeys::derive`].
pub const EXPORTER_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("message truncated")]
    Truncated,
    #[error("message of {0} bytes exceeds the 64 KiB limit")]
    TooLong(usize),
    #[error("unsupported control version {0}")]
    Version(u8),
    #[error("unknown message type {0}")]
    UnknownMessage(u16),
    #[error("missing field: {0}")]
    Missing(&'static str),
    #[error("malformed field: {0}")]
    BadField(&'static str),
}

#[cfg(test)]
mod tests;
