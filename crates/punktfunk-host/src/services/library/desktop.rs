//! Desktop entries in the `Game` category: `$XDG_DATA_HOME/applications`, every
//! `$XDG_DATA_DIRS/*/applications` and the user's Flatpak exports, in that order of precedence (the
//! first file with a given desktop-file id wins, as in menus). `Hidden`, `NoDisplay` and a `TryExec`
//! that is not installed take an entry out; the `Exec` line is expanded per the specification.
//! The icon (PNG from the hicolor theme or `pixmaps`) serves as cover art.

use super::files::{self, first_file};
use super::{Roots, Scan, Source, Title};
use punktfunk_core::library::desktop_entry;
use std::path::{Path, PathBuf};

/// Icon sizes tried, largest first.
const ICON_SIZES: &[&str] = &["512x512", "256x256", "128x128", "96x96", "64x64", "48x48"];

/// Where desktop entries live (the scan walks below them; the watcher watches them).
pub fn application_dirs(roots: &Roots) -> Vec<PathBuf> {
    let mut dirs = vec![roots.data_home.join("applications")];
    dirs.extend(roots.data_dirs.iter().map(|d| d.join("applications")));
    dirs.push(roots.data_home.join("flatpak/exports/share/applications"));
    dirs
}

pub fn scan(roots: &Roots, scan: &mut Scan) {
    let mut seen = std::collections::HashSet::new();
    for dir in application_dirs(roots) {
        for (path, relative) in files::walk(&dir) {
            if path.extension().is_none_or(|e| e != "desktop") {
                continue;
            }
            // The desktop-file id: the path below `applications/` with `/` → `-`.
            let id = relative
                .with_extension("")
                .to_string_lossy()
                .replace('/', "-");
            if !seen.insert(id.clone()) {
                continue;
            }
            if let Some(title) = entry(roots, &path, &id, scan) {
                scan.titles.push(title);
            }
        }
    }
}

fn entry(roots: &Roots, path: &Path, id: &str, scan: &mut Scan) -> Option<Title> {
    let text = files::read_text(path, scan)?;
    let entry = match desktop_entry::parse(&text) {
        Ok(entry) => entry,
        Err(e) => {
            scan.warn(format!("{}: {e}", path.display()));
            return None;
        }
    };
    if !entry.is_game() || !entry.is_launchable() {
        return None;
    }
    if let Some(try_exec) = &entry.try_exec
        && !installed(try_exec)
    {
        return None;
    }
    let launch = match entry.argv(&path.to_string_lossy()) {
        Ok(argv) if !argv.is_empty() => argv,
        Ok(_) => return None,
        Err(e) => {
            scan.warn(format!("{}: {e}", path.display()));
            return None;
        }
    };
    Some(Title {
        id: format!("desktop:{id}"),
        name: entry.name.trim().to_string(),
        source: Source::Desktop,
        launch,
        art: entry
            .icon
            .as_deref()
            .and_then(|icon| icon_file(roots, icon)),
        working_dir: entry.path.map(PathBuf::from),
    })
}

/// Whether `program` (absolute, or a name on `PATH`) exists as a file.
fn installed(program: &str) -> bool {
    let path = Path::new(program);
    if path.is_absolute() {
        return path.is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// The PNG for an icon name (or the file, when the entry names a path).
fn icon_file(roots: &Roots, icon: &str) -> Option<PathBuf> {
    let path = Path::new(icon);
    if path.is_absolute() {
        return path.is_file().then(|| path.to_path_buf());
    }
    let data_dirs: Vec<&PathBuf> = std::iter::once(&roots.data_home)
        .chain(roots.data_dirs.iter())
        .collect();
    let themed = ICON_SIZES.iter().flat_map(|size| {
        data_dirs.iter().map(move |d| {
            d.join("icons/hicolor")
                .join(size)
                .join("apps")
                .join(format!("{icon}.png"))
        })
    });
    let pixmaps = data_dirs
        .iter()
        .map(|d| d.join("pixmaps").join(format!("{icon}.png")));
    first_file(themed.chain(pixmaps))
}
