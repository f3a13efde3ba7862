//! The game library: every installed game the host can find by itself — Steam (apps and non-Steam
//! shortcuts), Heroic (Epic, GOG, Amazon), Lutris and desktop entries in the `Game` category — merged
//! with the apps configured by hand, each with a stable id (`steam:570`, `lutris:12`, …), a command
//! that launches it and, where the store keeps one, its cover art.
//!
//! Scanning reads files only (never the network), each store in its own module; a broken or huge
//! file is skipped with a warning naming it and never costs another store's games. [`LibraryStore`]
//! keeps the current list and rescans in the background so installs and uninstalls show up without a
//! restart.

mod desktop;
mod files;
mod heroic;
mod lutris;
mod steam;
mod store;
pub mod watch;

pub use store::LibraryStore;

use serde::Serialize;
use std::path::PathBuf;

/// Where a title came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Steam,
    Heroic,
    Lutris,
    Desktop,
}

/// One launchable game.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Title {
    /// Stable across rescans and restarts: `<store>:<the store's own id>`.
    pub id: String,
    pub name: String,
    pub source: Source,
    /// The command that starts it (argv; run in the client's display environment).
    pub launch: Vec<String>,
    /// A picture of the game (PNG or JPEG) when the store keeps one locally.
    pub art: Option<PathBuf>,
    pub working_dir: Option<PathBuf>,
}

impl Title {
    /// The title as an app the host can start ([`crate::shared::apps::RunningApp`]).
    pub fn app_config(&self) -> crate::services::settings::AppConfig {
        crate::services::settings::AppConfig {
            name: self.name.clone(),
            cmd: self.shell_command(),
            working_dir: self
                .working_dir
                .as_ref()
                .map(|d| d.to_string_lossy().into_owned()),
            env: Default::default(),
        }
    }

    /// The launch command as one `sh -c` line, every argument quoted.
    pub fn shell_command(&self) -> String {
        self.launch
            .iter()
            .map(|arg| shell_quote(arg))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Whether the `library_hidden` setting hides title `id`: its exact id, or its store as `store:*`.
pub fn is_hidden(hidden: &[String], id: &str) -> bool {
    hidden.iter().any(|h| match h.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix),
        None => h == id,
    })
}

/// The titles clients are offered: all but the hidden ones.
pub fn visible(titles: &[Title], hidden: &[String]) -> Vec<Title> {
    titles
        .iter()
        .filter(|t| !is_hidden(hidden, &t.id))
        .cloned()
        .collect()
}

/// `arg` as one POSIX shell word.
pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:=+,@%".contains(c))
    {
        return arg.to_string();
    }
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// The directories a scan looks in: the user's home and the XDG data directories.
#[derive(Debug, Clone)]
pub struct Roots {
    pub home: PathBuf,
    /// `$XDG_DATA_HOME` (default `~/.local/share`).
    pub data_home: PathBuf,
    /// `$XDG_DATA_DIRS` (default `/usr/local/share:/usr/share`).
    pub data_dirs: Vec<PathBuf>,
    /// `$XDG_CONFIG_HOME` (default `~/.config`).
    pub config_home: PathBuf,
    /// `$XDG_CACHE_HOME` (default `~/.cache`).
    pub cache_home: PathBuf,
}

impl Roots {
    /// From the process environment.
    pub fn from_env() -> Option<Roots> {
        let home = PathBuf::from(std::env::var_os("HOME")?);
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Some(Roots {
            data_home: var("XDG_DATA_HOME")
                .map_or_else(|| home.join(".local/share"), PathBuf::from),
            data_dirs: var("XDG_DATA_DIRS")
                .map(|v| std::env::split_paths(&v).collect())
                .unwrap_or_else(|| vec!["/usr/local/share".into(), "/usr/share".into()]),
            config_home: var("XDG_CONFIG_HOME").map_or_else(|| home.join(".config"), PathBuf::from),
            cache_home: var("XDG_CACHE_HOME").map_or_else(|| home.join(".cache"), PathBuf::from),
            home,
        })
    }

    /// Roots for a home directory with default XDG locations below it only (tests, fixtures).
    #[cfg(test)]
    pub fn under(home: &std::path::Path) -> Roots {
        Roots {
            home: home.to_path_buf(),
            data_home: home.join(".local/share"),
            data_dirs: vec![home.join("usr/share")],
            config_home: home.join(".config"),
            cache_home: home.join(".cache"),
        }
    }
}

/// What one scan found, and what it had to skip.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scan {
    pub titles: Vec<Title>,
    pub warnings: Vec<String>,
}

impl Scan {
    fn warn(&mut self, what: impl Into<String>) {
        self.warnings.push(what.into());
    }
}

/// Scans every store. Titles are sorted by name; a title found in two stores (a Steam game that also
/// has a desktop entry) is listed once, from the first store in [`Source`] order.
pub fn scan(roots: &Roots) -> Scan {
    let mut scan = Scan::default();
    steam::scan(roots, &mut scan);
    heroic::scan(roots, &mut scan);
    lutris::scan(roots, &mut scan);
    desktop::scan(roots, &mut scan);
    scan.titles.sort_by_key(|t| t.source);
    let mut seen_ids = std::collections::HashSet::new();
    let mut seen_names = std::collections::HashSet::new();
    scan.titles
        .retain(|t| seen_ids.insert(t.id.clone()) && seen_names.insert(t.name.to_lowercase()));
    scan.titles.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.id.cmp(&b.id))
    });
    scan
}

/// Cover art files larger than this are not served (real ones are well under a megabyte).
const MAX_COVER: u64 = 8 << 20;

/// A library title's cover art file with its content type, when it is a PNG or JPEG of sane size
/// (Moonlight clients decode both; anything else falls back to the generated poster).
pub fn cover(path: &std::path::Path) -> Option<(&'static str, Vec<u8>)> {
    let size = std::fs::metadata(path).ok()?.len();
    if size > MAX_COVER {
        tracing::debug!(path = %path.display(), size, "cover art too large; poster instead");
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let content_type = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else {
        tracing::debug!(path = %path.display(), "cover art is neither PNG nor JPEG; poster instead");
        return None;
    };
    Some((content_type, bytes))
}

#[cfg(test)]
mod tests;
