//! Headless Chromium for the browser tests: scripts/browser-test-setup.sh prepares it (playwright-core
//! once; checks chromium and node), and the scripts it runs live in tests/browser/.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Runs scripts/browser-test-setup.sh and returns the Chromium it found.
pub fn browser_setup(root: &Path) -> String {
    let out = Command::new("bash")
        .arg(root.join("scripts/browser-test-setup.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/browser-test-setup.sh");
    assert!(
        out.status.success(),
        "scripts/browser-test-setup.sh failed (see its message above)"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("CHROMIUM=").map(str::to_owned))
        .expect("browser-test-setup printed no CHROMIUM= line")
}
