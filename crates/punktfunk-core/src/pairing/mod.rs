//! Pairing a punktfunk/1 client with a host: the one-time PIN gate and the SPAKE2 exchange that
//! turns the PIN into mutual trust in each other's certificate.

mod pin_gate;
mod spake;

pub use pin_gate::{MAX_ATTEMPTS, PIN_DIGITS, PIN_LIFETIME, PinError, PinGate, RATE_WINDOW};
pub use spake::{
    ClientAwaitingDone, ClientPairing, Fingerprint, HostPairing, MAC_LEN, PairingError,
    SPAKE_MESSAGE_LEN, fingerprint_hex, fingerprint_of, parse_fingerprint,
};

#[cfg(test)]
mod tests;
