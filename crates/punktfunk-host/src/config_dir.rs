//! Where the host keeps its state, and the one way it writes files there: atomically.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// `$PUNKTFUNK_CONFIG_DIR`, else `$XDG_CONFIG_HOME/punktfunk`, else `~/.config/punktfunk`.
pub fn config_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PUNKTFUNK_CONFIG_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("punktfunk"));
    }
    let home = std::env::var_os("HOME").context("neither PUNKTFUNK_CONFIG_DIR nor HOME is set")?;
    Ok(PathBuf::from(home).join(".config").join("punktfunk"))
}

/// Writes `bytes` to `path` so that a crash leaves either the old or the new file, never a torn one
/// (see [`punktfunk_client::atomic_file`]). `private` files get mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    punktfunk_client::atomic_file::write_atomic(path, bytes, private)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_sets_mode() {
        let dir = std::env::temp_dir().join(format!("pf-atomic-{}", std::process::id()));
        let path = dir.join("state.toml");
        write_atomic(&path, b"one", true).unwrap();
        write_atomic(&path, b"two", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temp files left"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
