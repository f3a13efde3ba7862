//! Steam: every library folder of every Steam install (native, `~/.steam/steam` link and Flatpak),
//! the installed apps from their `appmanifest_<appid>.acf` (tools such as Proton and the Steam Linux
//! Runtime left out), the user's non-Steam shortcuts from `userdata/<id>/config/shortcuts.vdf`, and
//! cover art from the library cache (per-app folders and the older flat layout) or the user's grid.
//! Games start through Steam itself: `steam steam://rungameid/<id>`.

use super::files::{self, first_file, list};
use super::{Roots, Scan, Source, Title};
use punktfunk_core::library::{KeyValues, vdf_binary, vdf_text};
use std::path::{Path, PathBuf};

/// Apps that are installed like games but are not games.
const TOOLS: &[&str] = &[
    "proton",
    "steam linux runtime",
    "steamworks common redistributables",
    "steamvr",
];

/// `StateFlags` bit: fully installed.
const FULLY_INSTALLED: u64 = 4;

struct Install {
    root: PathBuf,
    /// How to run Steam for this install.
    steam: Vec<String>,
}

/// Where a Steam install may be, with how to run Steam for it.
fn candidates(roots: &Roots) -> [(PathBuf, Vec<String>); 4] {
    let native = vec!["steam".to_string()];
    let flatpak = ["flatpak", "run", "com.valvesoftware.Steam"]
        .map(String::from)
        .to_vec();
    [
        (roots.home.join(".steam/steam"), native.clone()),
        (roots.data_home.join("Steam"), native.clone()),
        (roots.home.join(".local/share/Steam"), native),
        (
            roots
                .home
                .join(".var/app/com.valvesoftware.Steam/.local/share/Steam"),
            flatpak,
        ),
    ]
}

fn installs(roots: &Roots) -> Vec<Install> {
    let candidates = candidates(roots);
    let mut seen = std::collections::HashSet::new();
    candidates
        .into_iter()
        .filter(|(root, _)| root.join("steamapps").is_dir())
        // `~/.steam/steam` is normally a link to `~/.local/share/Steam`: one install, listed once.
        .filter(|(root, _)| seen.insert(std::fs::canonicalize(root).unwrap_or(root.clone())))
        .map(|(root, steam)| Install { root, steam })
        .collect()
}

/// The directories Steam writes when a game is installed or removed: each possible install's
/// `steamapps` (library list and manifests), each library's `steamapps`, each user's `config`
/// (non-Steam shortcuts).
pub fn store_dirs(roots: &Roots) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = candidates(roots)
        .into_iter()
        .map(|(root, _)| root.join("steamapps"))
        .collect();
    for install in installs(roots) {
        let mut ignored = Scan::default();
        dirs.extend(
            libraries(&install.root, &mut ignored)
                .into_iter()
                .map(|library| library.join("steamapps")),
        );
        dirs.extend(
            list(&install.root.join("userdata"))
                .into_iter()
                .map(|user| user.join("config")),
        );
    }
    dirs
}

pub fn scan(roots: &Roots, scan: &mut Scan) {
    for install in installs(roots) {
        for library in libraries(&install.root, scan) {
            apps(&install, &library, scan);
        }
        shortcuts(&install, scan);
    }
}

/// The install's own folder and every folder `libraryfolders.vdf` names, each once (the file names
/// the install's own folder too, often by another path to it).
fn libraries(root: &Path, scan: &mut Scan) -> Vec<PathBuf> {
    let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let mut seen = vec![real(root)];
    let mut out = vec![root.to_path_buf()];
    let file = root.join("steamapps/libraryfolders.vdf");
    let Some(text) = files::read_text(&file, scan) else {
        return out;
    };
    let kv = match vdf_text::parse(&text) {
        Ok(kv) => kv,
        Err(e) => {
            scan.warn(format!("{}: {e}", file.display()));
            return out;
        }
    };
    let Some(folders) = kv.block("libraryfolders") else {
        return out;
    };
    // Current format: numbered blocks with a "path"; older: numbered keys whose value is the path.
    let numbered = folders
        .0
        .iter()
        .filter(|(key, _)| key.chars().all(|c| c.is_ascii_digit()));
    for (_, value) in numbered {
        let path = match value {
            punktfunk_core::library::Value::Block(b) => b.text("path").map(PathBuf::from),
            punktfunk_core::library::Value::Text(t) => Some(PathBuf::from(t)),
        };
        if let Some(path) = path.filter(|p| !seen.contains(&real(p))) {
            seen.push(real(&path));
            out.push(path);
        }
    }
    out
}

fn apps(install: &Install, library: &Path, scan: &mut Scan) {
    for path in list(&library.join("steamapps")) {
        let is_manifest = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("appmanifest_") && n.ends_with(".acf"));
        if !is_manifest {
            continue;
        }
        let Some(text) = files::read_text(&path, scan) else {
            continue;
        };
        let state = match vdf_text::parse(&text) {
            Ok(kv) => kv,
            Err(e) => {
                scan.warn(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let Some(app) = state.block("AppState") else {
            scan.warn(format!("{}: no AppState block", path.display()));
            continue;
        };
        let (Some(appid), Some(name)) = (
            app.text("appid").and_then(|a| a.parse::<u64>().ok()),
            app.text("name").filter(|n| !n.trim().is_empty()),
        ) else {
            scan.warn(format!("{}: no appid or name", path.display()));
            continue;
        };
        let flags = app.text("StateFlags").and_then(|f| f.parse::<u64>().ok());
        if flags.is_some_and(|f| f & FULLY_INSTALLED == 0) {
            continue;
        }
        let lower = name.to_lowercase();
        if TOOLS.iter().any(|t| lower.starts_with(t)) {
            continue;
        }
        let mut launch = install.steam.clone();
        launch.push(format!("steam://rungameid/{appid}"));
        scan.titles.push(Title {
            id: format!("steam:{appid}"),
            name: name.trim().to_string(),
            source: Source::Steam,
            launch,
            art: app_art(&install.root, appid),
            working_dir: None,
        });
    }
}

/// Portrait cover art: the user's own grid picture first, then the library cache in both layouts.
fn app_art(root: &Path, appid: u64) -> Option<PathBuf> {
    let grid = grid_art(root, &appid.to_string());
    if grid.is_some() {
        return grid;
    }
    let cache = root.join("appcache/librarycache");
    let per_app = cache.join(appid.to_string());
    // Newer clients keep the art in a per-app folder, sometimes one hashed level deeper.
    let mut candidates = vec![per_app.join("library_600x900.jpg")];
    candidates.extend(
        list(&per_app)
            .into_iter()
            .filter(|p| p.is_dir())
            .map(|d| d.join("library_600x900.jpg")),
    );
    candidates.push(cache.join(format!("{appid}_library_600x900.jpg")));
    candidates.push(per_app.join("header.jpg"));
    candidates.push(cache.join(format!("{appid}_header.jpg")));
    first_file(candidates)
}

/// `userdata/<user>/config/grid/<id>p.{png,jpg}` (portrait) of any user.
fn grid_art(root: &Path, id: &str) -> Option<PathBuf> {
    list(&root.join("userdata")).into_iter().find_map(|user| {
        let grid = user.join("config/grid");
        first_file(["png", "jpg"].map(|ext| grid.join(format!("{id}p.{ext}"))))
    })
}

/// The user's non-Steam games.
fn shortcuts(install: &Install, scan: &mut Scan) {
    for user in list(&install.root.join("userdata")) {
        let file = user.join("config/shortcuts.vdf");
        let Some(bytes) = files::read(&file, scan) else {
            continue;
        };
        let kv = match vdf_binary::parse(&bytes) {
            Ok(kv) => kv,
            Err(e) => {
                scan.warn(format!("{}: {e}", file.display()));
                continue;
            }
        };
        let Some(list) = kv.block("shortcuts") else {
            continue;
        };
        for (_, entry) in list.blocks() {
            if let Some(title) = shortcut(install, entry) {
                scan.titles.push(title);
            }
        }
    }
}

fn shortcut(install: &Install, entry: &KeyValues) -> Option<Title> {
    let name = entry.text("AppName").filter(|n| !n.trim().is_empty())?;
    if entry.text("IsHidden") == Some("1") {
        return None;
    }
    // Stored as a signed i32; Steam's id is its unsigned bits.
    let appid = entry.text("appid")?.parse::<i32>().ok()? as u32;
    // The game id Steam's URL takes for a shortcut: the app id above bit 32, the shortcut flag below.
    let game_id = (u64::from(appid) << 32) | 0x0200_0000;
    let mut launch = install.steam.clone();
    launch.push(format!("steam://rungameid/{game_id}"));
    Some(Title {
        id: format!("steam-shortcut:{appid}"),
        name: name.trim().to_string(),
        source: Source::Steam,
        launch,
        art: grid_art(&install.root, &appid.to_string()),
        working_dir: None,
    })
}
