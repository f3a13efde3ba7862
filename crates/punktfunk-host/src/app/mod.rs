//! The application layer: the command line, `serve` wiring every part of a running host together,
//! `doctor`, the CLI clients of a running host's API, and mDNS advertisement. Nothing below this
//! layer knows about it.

pub mod cli;
pub mod cli_client;
pub mod doctor;
pub mod library_cli;
pub mod mdns;
pub mod serve;
pub mod serve_args;
