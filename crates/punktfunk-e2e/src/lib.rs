//! End-to-end tests of punktfunk: the real `punktfunk-host` binary, started as a user would, against
//! real peers — the probe (`punktfunk-client`), moonlight-python (the Moonlight protocol library),
//! headless Chromium, real compositors and PipeWire. The tests are in `tests/`; this library is
//! what they share. The host itself does not depend on any client crate: this crate joins them.

pub mod api_common;
pub mod audio_session;
pub mod browser;
pub mod common;
pub mod gamestream_harness;
pub mod hostile_attacks;
pub mod input_window;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The `punktfunk-host` binary of this build: next to the running test executable's `deps/` dir
/// (`target/debug`). `make test` builds every binary first; alone, run
/// `cargo build --workspace --bins` before these tests.
pub fn host_bin() -> &'static Path {
    static HOST: OnceLock<PathBuf> = OnceLock::new();
    HOST.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let dir = exe
            .parent()
            .filter(|d| d.ends_with("deps"))
            .and_then(Path::parent)
            .or_else(|| exe.parent())
            .expect("target dir");
        let host = dir.join("punktfunk-host");
        assert!(
            host.exists(),
            "{} missing: build the workspace first (cargo build --workspace --bins)",
            host.display()
        );
        host
    })
}
