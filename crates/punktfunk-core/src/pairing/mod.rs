//! Pairing a punktfunk/1 client with a host: the one-time PIN gate and the SPAKE2 exchange that
//! turns the PIN into mutual trust in each other's certificate.

mod pin_gate;

pub use pin_gate::{MAX_ATTEMPTS, PIN_DIGITS, PIN_LIFETIME, PinError, PinGate, RATE_WINDOW};

#[cfg(test)]
mod tests;
