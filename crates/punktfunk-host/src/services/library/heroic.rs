//! Heroic Games Launcher (native and Flatpak config roots): Epic games from Legendary's
//! `installed.json`, GOG from `gog_store/installed.json`, Amazon from Nile's `installed.json`; titles
//! the install files lack come from Heroic's `store_cache/*_library.json`. Heroic starts them:
//! `heroic heroic://launch/<runner>/<app>` (through Flatpak when that is how Heroic is installed).
//! Cover art: the store caches name each game's pictures by URL, and Heroic keeps the ones it has
//! shown in its `images-cache`, each file named by the SHA-256 of its URL; a title gets the first
//! of its pictures (portrait before landscape) that is there. Pictures Heroic never fetched stay
//! missing: the host does not download them.

use super::files;
use super::{Roots, Scan, Source, Title};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

struct Install {
    config: PathBuf,
    /// Where newer Heroic versions keep `store_cache` and `images-cache` (older ones: `config`).
    cache: PathBuf,
    heroic: Vec<String>,
}

impl Install {
    /// The folders that may hold Heroic's caches, newest layout first.
    fn cache_dirs(&self) -> [&Path; 2] {
        [&self.cache, &self.config]
    }
}

/// Heroic's config roots: native and Flatpak.
fn installs(roots: &Roots) -> [Install; 2] {
    let flatpak = roots.home.join(".var/app/com.heroicgameslauncher.hgl");
    [
        Install {
            config: roots.config_home.join("heroic"),
            cache: roots.cache_home.join("heroic"),
            heroic: vec!["heroic".into()],
        },
        Install {
            config: flatpak.join("config/heroic"),
            cache: flatpak.join("cache/heroic"),
            heroic: ["flatpak", "run", "com.heroicgameslauncher.hgl"]
                .map(String::from)
                .to_vec(),
        },
    ]
}

/// The directories Heroic writes when a game is installed or removed, per runner, and its title
/// cache.
pub fn store_dirs(roots: &Roots) -> Vec<PathBuf> {
    installs(roots)
        .iter()
        .flat_map(|install| {
            [
                "legendaryConfig/legendary",
                "gog_store",
                "nile_config/nile",
                "store_cache",
            ]
            .map(|dir| install.config.join(dir))
            .into_iter()
            .chain([install.cache.join("store_cache")])
        })
        .collect()
}

pub fn scan(roots: &Roots, scan: &mut Scan) {
    let installs = installs(roots);
    for install in installs.iter().filter(|i| i.config.is_dir()) {
        epic(install, scan);
        gog(install, scan);
        amazon(install, scan);
    }
}

fn json(path: &Path, scan: &mut Scan) -> Option<Value> {
    let bytes = files::read(path, scan)?;
    match serde_json::from_slice(&bytes) {
        Ok(value) => Some(value),
        Err(e) => {
            scan.warn(format!("{}: {e}", path.display()));
            None
        }
    }
}

/// What Heroic's store cache says of one game.
#[derive(Default)]
struct Cached {
    title: Option<String>,
    /// Picture URLs, portrait first.
    art: Vec<String>,
}

/// `app_name → what the cache says` from one of Heroic's store caches
/// (`{"<list key>": [{app_name, title, art_square, art_cover}, …]}`), in whichever cache folder
/// has it.
fn cached_games(
    install: &Install,
    file: &str,
    list: &str,
    scan: &mut Scan,
) -> HashMap<String, Cached> {
    let Some(path) = install
        .cache_dirs()
        .map(|dir| dir.join("store_cache").join(file))
        .into_iter()
        .find(|path| path.is_file())
    else {
        return HashMap::new();
    };
    let Some(cache) = json(&path, scan) else {
        return HashMap::new();
    };
    let text = |game: &Value, key: &str| {
        game.get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    cache
        .get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|game| {
            let app = game.get("app_name")?.as_str()?;
            let art = ["art_square", "art_cover"]
                .iter()
                .filter_map(|key| text(game, key))
                .collect();
            Some((
                app.to_string(),
                Cached {
                    title: text(game, "title"),
                    art,
                },
            ))
        })
        .collect()
}

/// The first of `urls` Heroic has a copy of (or that is a local file, as for side-loaded games).
fn cached_art(install: &Install, urls: &[String]) -> Option<PathBuf> {
    urls.iter().find_map(|url| {
        if !url.starts_with("http") {
            let local = PathBuf::from(url);
            return local.is_file().then_some(local);
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, url.as_bytes());
        let name = punktfunk_core::hex::encode(digest.as_ref());
        install
            .cache_dirs()
            .map(|dir| dir.join("images-cache").join(&name))
            .into_iter()
            .find(|path| path.is_file())
    })
}

fn push(
    install: &Install,
    scan: &mut Scan,
    runner: &str,
    app: &str,
    title: &str,
    cached: Option<&Cached>,
) {
    if app.is_empty() || title.trim().is_empty() {
        return;
    }
    let art = cached.and_then(|c| cached_art(install, &c.art));
    let mut launch = install.heroic.clone();
    launch.push(format!("heroic://launch/{runner}/{app}"));
    scan.titles.push(Title {
        id: format!("heroic-{runner}:{app}"),
        name: title.trim().to_string(),
        source: Source::Heroic,
        launch,
        art,
        working_dir: None,
    });
}

fn epic(install: &Install, scan: &mut Scan) {
    let file = install
        .config
        .join("legendaryConfig/legendary/installed.json");
    let Some(installed) = json(&file, scan) else {
        return;
    };
    let Some(games) = installed.as_object() else {
        scan.warn(format!("{}: not a JSON object", file.display()));
        return;
    };
    let cache = cached_games(install, "legendary_library.json", "library", scan);
    for (key, game) in games {
        if game.get("is_dlc").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let app = game.get("app_name").and_then(Value::as_str).unwrap_or(key);
        let cached = cache.get(app);
        let title = game
            .get("title")
            .and_then(Value::as_str)
            .or_else(|| cached.and_then(|c| c.title.as_deref()))
            .unwrap_or(app);
        push(install, scan, "legendary", app, title, cached);
    }
}

fn gog(install: &Install, scan: &mut Scan) {
    let file = install.config.join("gog_store/installed.json");
    let Some(installed) = json(&file, scan) else {
        return;
    };
    let cache = cached_games(install, "gog_library.json", "games", scan);
    let games = installed.get("installed").and_then(Value::as_array);
    for game in games.into_iter().flatten() {
        if game.get("is_dlc").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let Some(app) = game.get("appName").and_then(Value::as_str) else {
            continue;
        };
        // GOG's install file has no titles: without the cache entry the game is listed by its id.
        let cached = cache.get(app);
        let title = cached.and_then(|c| c.title.as_deref()).unwrap_or(app);
        push(install, scan, "gog", app, title, cached);
    }
}

fn amazon(install: &Install, scan: &mut Scan) {
    let file = install.config.join("nile_config/nile/installed.json");
    let Some(installed) = json(&file, scan) else {
        return;
    };
    let cache = cached_games(install, "nile_library.json", "library", scan);
    for game in installed.as_array().into_iter().flatten() {
        let Some(app) = game.get("id").and_then(Value::as_str) else {
            continue;
        };
        let cached = cache.get(app);
        let title = cached.and_then(|c| c.title.as_deref()).unwrap_or(app);
        push(install, scan, "nile", app, title, cached);
    }
}
