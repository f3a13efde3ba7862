//! Heroic Games Launcher (native and Flatpak config roots): Epic games from Legendary's
//! `installed.json`, GOG from `gog_store/installed.json`, Amazon from Nile's `installed.json`; titles
//! the install files lack come from Heroic's `store_cache/*_library.json`. Heroic starts them:
//! `heroic heroic://launch/<runner>/<app>` (through Flatpak when that is how Heroic is installed).
//! Heroic keeps cover art as URLs (fetched by the launcher), so these titles carry none.

use super::files;
use super::{Roots, Scan, Source, Title};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

struct Install {
    config: std::path::PathBuf,
    heroic: Vec<String>,
}

/// Heroic's config roots: native and Flatpak.
fn installs(roots: &Roots) -> [Install; 2] {
    [
        Install {
            config: roots.config_home.join("heroic"),
            heroic: vec!["heroic".into()],
        },
        Install {
            config: roots
                .home
                .join(".var/app/com.heroicgameslauncher.hgl/config/heroic"),
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

/// `app_name → title` from one of Heroic's store caches (`{"<list key>": [{app_name, title}, …]}`).
fn cached_titles(
    install: &Install,
    file: &str,
    list: &str,
    scan: &mut Scan,
) -> HashMap<String, String> {
    let Some(cache) = json(&install.config.join("store_cache").join(file), scan) else {
        return HashMap::new();
    };
    cache
        .get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|game| {
            let app = game.get("app_name")?.as_str()?;
            let title = game.get("title")?.as_str()?;
            Some((app.to_string(), title.to_string()))
        })
        .collect()
}

fn push(install: &Install, scan: &mut Scan, runner: &str, app: &str, title: &str) {
    if app.is_empty() || title.trim().is_empty() {
        return;
    }
    let mut launch = install.heroic.clone();
    launch.push(format!("heroic://launch/{runner}/{app}"));
    scan.titles.push(Title {
        id: format!("heroic-{runner}:{app}"),
        name: title.trim().to_string(),
        source: Source::Heroic,
        launch,
        art: None,
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
    let cache = cached_titles(install, "legendary_library.json", "library", scan);
    for (key, game) in games {
        if game.get("is_dlc").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let app = game.get("app_name").and_then(Value::as_str).unwrap_or(key);
        let title = game
            .get("title")
            .and_then(Value::as_str)
            .or_else(|| cache.get(app).map(String::as_str))
            .unwrap_or(app);
        push(install, scan, "legendary", app, title);
    }
}

fn gog(install: &Install, scan: &mut Scan) {
    let file = install.config.join("gog_store/installed.json");
    let Some(installed) = json(&file, scan) else {
        return;
    };
    let cache = cached_titles(install, "gog_library.json", "games", scan);
    let games = installed.get("installed").and_then(Value::as_array);
    for game in games.into_iter().flatten() {
        if game.get("is_dlc").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let Some(app) = game.get("appName").and_then(Value::as_str) else {
            continue;
        };
        // GOG's install file has no titles: without the cache entry the game is listed by its id.
        let title = cache.get(app).map_or(app, String::as_str);
        push(install, scan, "gog", app, title);
    }
}

fn amazon(install: &Install, scan: &mut Scan) {
    let file = install.config.join("nile_config/nile/installed.json");
    let Some(installed) = json(&file, scan) else {
        return;
    };
    let cache = cached_titles(install, "nile_library.json", "library", scan);
    for game in installed.as_array().into_iter().flatten() {
        let Some(app) = game.get("id").and_then(Value::as_str) else {
            continue;
        };
        let title = cache.get(app).map_or(app, String::as_str);
        push(install, scan, "nile", app, title);
    }
}
