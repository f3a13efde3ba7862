//! The two streaming protocols, peers of each other and of `mgmt`: neither uses the other. Each
//! takes a client from first packet to a running session and streams it through the one pipeline
//! (`crate::stream`) with its own `Framer`.
//! - [`punktfunk1`]: our own protocol (QUIC control plane, native-thread UDP data plane with FEC and
//!   AES-GCM).
//! - [`gamestream`]: NVIDIA GameStream, for stock Moonlight clients.

pub mod gamestream;
pub mod punktfunk1;
