//! Where the client keeps its state (identity, pinned hosts); files there are written with
//! [`crate::atomic_file`].

use std::path::PathBuf;

/// `$PUNKTFUNK_CLIENT_DIR`, else `~/.config/punktfunk-client`.
pub fn client_dir() -> std::io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PUNKTFUNK_CLIENT_DIR").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "neither PUNKTFUNK_CLIENT_DIR nor HOME is set",
            )
        })?;
    Ok(PathBuf::from(home).join(".config").join("punktfunk-client"))
}
