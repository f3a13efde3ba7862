//! Reading store files defensively: bounded sizes, directory listings that skip what cannot be read,
//! and loop-safe recursion — a library scan must never hang or exhaust memory on a strange home.

use super::Scan;
use std::path::{Path, PathBuf};

/// Store files larger than this are skipped (real ones are kilobytes to a few megabytes).
pub const MAX_FILE: u64 = 32 << 20;
/// Directory levels a recursive walk descends.
pub const MAX_DEPTH: usize = 6;
/// Entries one recursive walk looks at before it stops.
pub const MAX_ENTRIES: usize = 20_000;

/// The file's bytes, or `None` with a warning naming the file (missing files are silently `None`).
pub fn read(path: &Path, scan: &mut Scan) -> Option<Vec<u8>> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            scan.warn(format!("{}: {e}", path.display()));
            return None;
        }
    };
    if !meta.is_file() {
        return None;
    }
    if meta.len() > MAX_FILE {
        scan.warn(format!(
            "{}: {} bytes is more than a store file has; skipped",
            path.display(),
            meta.len()
        ));
        return None;
    }
    match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            scan.warn(format!("{}: {e}", path.display()));
            None
        }
    }
}

/// The file as text (lossy: names need not be UTF-8).
pub fn read_text(path: &Path, scan: &mut Scan) -> Option<String> {
    read(path, scan).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The entries of a directory, sorted (empty when it does not exist or cannot be read).
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    entries
}

/// Every file below `dir` (following symlinks, each real directory once), with its path relative
/// to `dir`, up to [`MAX_DEPTH`] levels and [`MAX_ENTRIES`] entries.
pub fn walk(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    let mut visited = std::collections::HashSet::new();
    let mut stack = vec![(dir.to_path_buf(), PathBuf::new(), 0usize)];
    let mut seen = 0usize;
    while let Some((path, relative, depth)) = stack.pop() {
        let Ok(real) = std::fs::canonicalize(&path) else {
            continue;
        };
        if !visited.insert(real) {
            continue;
        }
        for entry in list(&path) {
            seen += 1;
            if seen > MAX_ENTRIES {
                return out;
            }
            let Some(name) = entry.file_name().map(PathBuf::from) else {
                continue;
            };
            let rel = relative.join(name);
            if entry.is_dir() {
                if depth + 1 < MAX_DEPTH {
                    stack.push((entry, rel, depth + 1));
                }
            } else if entry.is_file() {
                out.push((entry, rel));
            }
        }
    }
    out
}

/// The first of `candidates` that is a file.
pub fn first_file(candidates: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    candidates.into_iter().find(|p| p.is_file())
}
