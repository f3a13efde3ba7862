//! `punktfunk-host`: the streaming host, as a library the `punktfunk-host` binary (`main.rs`) and
//! the VM gamepad check (`bin/pad-vm-check.rs`) run.
//!
//! Modules are grouped in layers; a module may use its own layer and the layers below it, never
//! one above, and the modules inside a layer form no cycles (`tests/layers.rs` checks both):
//!
//! | layer | what |
//! |---|---|
//! | [`app`] | command line, `serve` wiring, `doctor`, CLI clients, mDNS |
//! | [`mgmt`], [`protocols`] | the front ends: management API + console; punktfunk/1 and GameStream (peers) |
//! | [`shared`] | what the front ends share: host context, pairing seams, client auth, running apps |
//! | [`stream`] | the one frame pipeline |
//! | [`platform`] | virtual displays, capture, input injection, audio nodes |
//! | [`services`] | settings, identity, trust stores, events and sessions model, library, clocks |
//!
//! docs/architecture.md is the map.

pub mod app;
pub mod mgmt;
pub mod platform;
pub mod protocols;
pub mod services;
pub mod shared;
pub mod stream;

/// The version with the git revision it was built from (`--version`, `doctor`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("PUNKTFUNK_GIT_REV"),
    ")"
);
