//! The punktfunk/1 control plane: versioned messages carried on a QUIC stream, the clock-offset
//! estimator, and the data-plane key exporter parameters.

mod clock;
mod codec;
pub mod color;
pub mod input;
mod messages;

pub use clock::{ClockSample, ClockSync};
pub use codec::{FieldReader, FieldWriter, FrameBuffer, MAX_MESSAGE_LEN, frame};
pub use messages::{
    Codec, Feedback, Hello, LibraryEntry, MAX_ART_CHUNK, MAX_ART_LEN, MAX_LIBRARY_PAGE,
    MAX_NAME_LEN, MAX_PAIRING_FIELD_LEN, MAX_REASON_LEN, MAX_TITLE_ID_LEN, Message, Welcome, caps,
};

/// ALPN protocol id of punktfunk/1.
pub const ALPN: &[u8] = b"pkf1";
/// TLS exporter label for the data-plane secret (context: the session id, little-endian).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-punktfunk/1 data plane";
/// Bytes of exported secret fed into [`crate::crypto::SessionKeys::derive`].
pub const EXPORTER_LEN: usize = 32;

/// Why a control message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// A body or field ends before its declared length.
    #[error("message truncated")]
    Truncated,
    /// A body longer than [`MAX_MESSAGE_LEN`]; carries its length.
    #[error("message of {0} bytes exceeds the 64 KiB limit")]
    TooLong(usize),
    /// A version byte other than 1; carries it.
    #[error("unsupported control version {0}")]
    Version(u8),
    /// A message type this version does not define; carries it.
    #[error("unknown message type {0}")]
    UnknownMessage(u16),
    /// A required field is absent; names it.
    #[error("missing field: {0}")]
    Missing(&'static str),
    /// A field has the wrong size or an invalid value; names it.
    #[error("malformed field: {0}")]
    BadField(&'static str),
}

#[cfg(test)]
mod tests;
