//! punktfunk-core: the sans-IO heart of punktfunk/1.
//!
//! Nothing in here touches a socket, a thread or a clock: callers pass bytes and `Instant`s in and take
//! bytes and events out, which is what makes every piece fuzzable, simulatable and fast to test.
//!
//! - [`wire`]: the data-plane packet header (explicit little-endian, every field validated).
//! - [`fec`]: GF(2⁸) Cauchy and GF(2¹⁶) Leopard Reed–Solomon behind one interface.
//! - [`crypto`]: AES-128-GCM per datagram, nonce construction, replay window, key schedule.
//! - [`packetize`]: frame → shards → blocks → sealed datagrams, and reassembly with recovery.
//! - [`abr`]: the adaptive FEC policy (a pure function of loss statistics).
//! - [`pairing`]: the one-time PIN gate and the SPAKE2 pairing exchange.
//! - [`library`]: game-store file formats (Steam's text and binary VDF, desktop entries).
//! - [`reject`]: why an input was dropped, counted by reason.

#![warn(missing_docs, unreachable_pub)]

/// The UDP port of a host's punktfunk/1 QUIC endpoint unless configured otherwise; the data plane
/// listens on the next port. Host and clients both default to it.
pub const DEFAULT_PORT: u16 = 47800;

pub mod abr;
pub mod audio;
pub mod control;
pub mod crypto;
pub mod fec;
pub mod gamestream;
pub mod hex;
pub mod library;
pub mod mode;
pub mod packetize;
pub mod pairing;
pub mod reject;
pub mod testsrc;
pub mod wire;
