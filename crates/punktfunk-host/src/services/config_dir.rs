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
    punktfunk_common::atomic_file::write_atomic(path, bytes, private)
        .with_context(|| format!("writing {}", path.display()))
}

/// Makes sure a secret file (a private key) is readable by its owner only. A file that group or
/// others may read is fixed to 0600 with a warning (it was exposed until now: say so); when it
/// cannot be fixed (another user's file) the host refuses to use it.
pub fn ensure_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading the permissions of {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).with_context(
                || {
                    format!(
                        "{} is readable by other users (mode {:o}) and could not be made private; \
                         run `chmod 600 {}` as its owner, or remove it to create a new one",
                        path.display(),
                        mode & 0o777,
                        path.display()
                    )
                },
            )?;
            tracing::warn!(
                file = %path.display(),
                was = format!("{:o}", mode & 0o777),
                "a private key was readable by other users; its mode is now 600 (consider it exposed)"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn group_or_world_readable_secrets_are_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("pf-private-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, b"secret").unwrap();
        for exposed in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(exposed)).unwrap();
            ensure_private(&path).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "from {exposed:o}");
        }
        // Already private: left alone (0400 stays 0400).
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        ensure_private(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o400);
        assert!(ensure_private(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

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
