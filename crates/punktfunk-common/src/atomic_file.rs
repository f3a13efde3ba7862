//! The one way punktfunk writes state files (client and host): atomically, so a crash or SIGKILL
//! leaves the old file or the new one, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Creates the private (0600) file `path` with `bytes` unless it exists (then `Ok(false)`),
/// atomically: the file appears complete or not at all, and of several processes creating it at
/// once exactly one wins.
pub fn create_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    let (dir, tmp) = temp_path(path)?;
    std::fs::create_dir_all(dir)?;
    write_temp(&tmp, bytes, true)?;
    // A hard link never replaces an existing file, unlike rename.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

fn temp_path(path: &Path) -> std::io::Result<(&Path, PathBuf)> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("path has no parent directory"))?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("path has no file name"))?
        .to_string_lossy();
    // Unique per call: two threads (or two probes) may write the same file at once.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok((
        dir,
        dir.join(format!(".{name}.tmp.{}.{n}", std::process::id())),
    ))
}

/// Writes and syncs the temp file (mode 0600 when `private`); removes it again on failure.
fn write_temp(tmp: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let result = options.open(tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new one, never a torn one:
/// a temp file in the same directory, fsync, rename, fsync the directory. `private` files get mode
/// 0600.
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let (dir, tmp) = temp_path(path)?;
    std::fs::create_dir_all(dir)?;
    write_temp(&tmp, bytes, private)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_is_private_and_leaves_no_temp_files() {
        let dir = std::env::temp_dir().join(format!("pf-client-dir-{}", std::process::id()));
        let path = dir.join("x.json");
        write_atomic(&path, b"one", true).unwrap();
        write_atomic(&path, b"two", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        let other = dir.join("y");
        assert!(create_atomic(&other, b"first").unwrap());
        assert!(!create_atomic(&other, b"second").unwrap());
        assert_eq!(std::fs::read(&other).unwrap(), b"first");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2, "no temp files");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
