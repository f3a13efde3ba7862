//! Every store against fixture trees in its real formats, built here under a temp home (never the
//! developer's own), including broken files that must cost nothing but themselves.

use super::*;
use punktfunk_core::library::{KeyValues, Value, vdf_binary};
use std::fs;
use std::os::unix::fs::symlink;

struct Home(PathBuf);

impl Home {
    fn new(tag: &str) -> Home {
        let dir = std::env::temp_dir().join(format!(
            "pf-library-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        ));
        fs::create_dir_all(&dir).unwrap();
        Home(dir)
    }

    fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, contents).unwrap();
        path
    }

    fn scan(&self) -> Scan {
        scan(&Roots::under(&self.0))
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn manifest(appid: u32, name: &str, flags: u32) -> String {
    format!(
        "\"AppState\"\n{{\n\t\"appid\"\t\t\"{appid}\"\n\t\"name\"\t\t\"{name}\"\n\t\"StateFlags\"\t\t\"{flags}\"\n\t\"installdir\"\t\t\"x\"\n}}\n"
    )
}

fn titled<'a>(scan: &'a Scan, id: &str) -> &'a Title {
    scan.titles
        .iter()
        .find(|t| t.id == id)
        .unwrap_or_else(|| panic!("{id} not found in {:?} ({:?})", scan.titles, scan.warnings))
}

fn block(pairs: Vec<(&str, Value)>) -> Value {
    Value::Block(KeyValues(
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    ))
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

#[test]
fn steam_apps_libraries_art_and_shortcuts() {
    let home = Home::new("steam");
    let root = ".local/share/Steam";
    let second = home.0.join("games/SteamLibrary");
    home.write(
        &format!("{root}/steamapps/libraryfolders.vdf"),
        format!(
            "\"libraryfolders\"\n{{\n\t\"0\"\n\t{{\n\t\t\"path\"\t\t\"{}\"\n\t}}\n\t\"1\"\n\t{{\n\t\t\"path\"\t\t\"{}\"\n\t}}\n}}\n",
            home.0.join(root).display(),
            second.display()
        ),
    );
    home.write(
        &format!("{root}/steamapps/appmanifest_570.acf"),
        manifest(570, "Dota 2", 4),
    );
    home.write(
        &format!("{root}/steamapps/appmanifest_1493710.acf"),
        manifest(1_493_710, "Proton Experimental", 4),
    );
    home.write(
        &format!("{root}/steamapps/appmanifest_42.acf"),
        manifest(42, "Half Downloaded", 2),
    );
    home.write(
        &format!("{root}/steamapps/appmanifest_7.acf"),
        "\"AppState\" { \"appid\" ",
    );
    fs::create_dir_all(second.join("steamapps")).unwrap();
    fs::write(
        second.join("steamapps/appmanifest_620.acf"),
        manifest(620, "Portal 2", 4),
    )
    .unwrap();
    // Art: the per-app folder (hashed level) for Dota, the older flat file for Portal 2.
    let dota_art = home.write(
        &format!("{root}/appcache/librarycache/570/abc123/library_600x900.jpg"),
        b"\xff\xd8jpeg",
    );
    let portal_art = home.write(
        &format!("{root}/appcache/librarycache/620_library_600x900.jpg"),
        b"\xff\xd8jpeg",
    );
    // A non-Steam game, and a hidden one.
    let shortcuts = KeyValues(vec![(
        "shortcuts".into(),
        block(vec![
            (
                "0",
                block(vec![
                    ("appid", text("-1234567")),
                    ("AppName", text("My Emulator")),
                    ("Exe", text("\"/opt/emu\"")),
                    ("IsHidden", text("0")),
                ]),
            ),
            (
                "1",
                block(vec![
                    ("appid", text("5")),
                    ("AppName", text("Hidden One")),
                    ("IsHidden", text("1")),
                ]),
            ),
        ]),
    )]);
    home.write(
        &format!("{root}/userdata/1000/config/shortcuts.vdf"),
        vdf_binary::write(&shortcuts, &["appid", "IsHidden"]),
    );
    let grid = home.write(
        &format!(
            "{root}/userdata/1000/config/grid/{}p.png",
            -1_234_567_i32 as u32
        ),
        b"\x89PNG",
    );
    // `~/.steam/steam` links to the same install: listed once.
    fs::create_dir_all(home.0.join(".steam")).unwrap();
    symlink(home.0.join(root), home.0.join(".steam/steam")).unwrap();

    let scan = home.scan();
    let names: Vec<&str> = scan.titles.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Dota 2", "My Emulator", "Portal 2"], "{scan:?}");
    let dota = titled(&scan, "steam:570");
    assert_eq!(dota.launch, ["steam", "steam://rungameid/570"]);
    // Found through whichever path reaches the install first (`~/.steam/steam` is a link to it).
    let real = |p: &Option<PathBuf>| p.as_ref().map(|p| fs::canonicalize(p).unwrap());
    assert_eq!(real(&dota.art), Some(fs::canonicalize(&dota_art).unwrap()));
    assert_eq!(
        real(&titled(&scan, "steam:620").art),
        Some(fs::canonicalize(&portal_art).unwrap())
    );
    let emulator = titled(&scan, &format!("steam-shortcut:{}", -1_234_567_i32 as u32));
    let game_id = (u64::from(-1_234_567_i32 as u32) << 32) | 0x0200_0000;
    assert_eq!(emulator.launch[1], format!("steam://rungameid/{game_id}"));
    assert_eq!(real(&emulator.art), Some(fs::canonicalize(&grid).unwrap()));
    assert_eq!(
        scan.warnings.len(),
        1,
        "the broken manifest: {:?}",
        scan.warnings
    );
    assert!(
        scan.warnings[0].contains("appmanifest_7.acf"),
        "{:?}",
        scan.warnings
    );
}

#[test]
fn steam_in_flatpak_launches_through_flatpak() {
    let home = Home::new("steam-flatpak");
    home.write(
        ".var/app/com.valvesoftware.Steam/.local/share/Steam/steamapps/appmanifest_570.acf",
        manifest(570, "Dota 2", 4),
    );
    let scan = home.scan();
    assert_eq!(
        titled(&scan, "steam:570").launch,
        [
            "flatpak",
            "run",
            "com.valvesoftware.Steam",
            "steam://rungameid/570"
        ]
    );
}

fn sha256_hex(text: &str) -> String {
    punktfunk_core::hex::encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes()).as_ref(),
    )
}

#[test]
fn heroic_epic_gog_and_amazon() {
    let home = Home::new("heroic");
    let heroic = ".config/heroic";
    home.write(
        &format!("{heroic}/legendaryConfig/legendary/installed.json"),
        r#"{"Sugar": {"app_name": "Sugar", "title": "Celeste", "install_path": "/g/c", "is_dlc": false},
            "SugarDlc": {"app_name": "SugarDlc", "title": "Farewell", "is_dlc": true}}"#,
    );
    home.write(
        &format!("{heroic}/gog_store/installed.json"),
        r#"{"installed": [{"appName": "1207658924", "platform": "linux", "install_path": "/g/u"}]}"#,
    );
    // Newer Heroic keeps its caches under XDG_CACHE_HOME; the cover is the picture Heroic fetched,
    // named by its URL's SHA-256. The portrait picture was never fetched: the landscape one is used.
    let gog_cover = "https://images.gog.example/unreal-gold_cover.jpg";
    home.write(
        ".cache/heroic/store_cache/gog_library.json",
        format!(
            r#"{{"games": [{{"app_name": "1207658924", "title": "Unreal Gold",
                "art_square": "https://images.gog.example/unreal-gold_square.jpg",
                "art_cover": "{gog_cover}"}}]}}"#
        ),
    );
    let gog_art = home.write(
        &format!(".cache/heroic/images-cache/{}", sha256_hex(gog_cover)),
        b"\x89PNG\r\n\x1a\n",
    );
    // Older Heroic: both caches beside its config.
    let epic_square = "https://cdn.epic.example/celeste-tall.png";
    home.write(
        &format!("{heroic}/store_cache/legendary_library.json"),
        format!(r#"{{"library": [{{"app_name": "Sugar", "title": "Celeste", "art_square": "{epic_square}"}}]}}"#),
    );
    let epic_art = home.write(
        &format!("{heroic}/images-cache/{}", sha256_hex(epic_square)),
        b"\x89PNG\r\n\x1a\n",
    );
    home.write(
        &format!("{heroic}/nile_config/nile/installed.json"),
        "[{\"id\": ",
    );
    let scan = home.scan();
    assert_eq!(
        titled(&scan, "heroic-legendary:Sugar").launch,
        ["heroic", "heroic://launch/legendary/Sugar"]
    );
    assert_eq!(titled(&scan, "heroic-legendary:Sugar").name, "Celeste");
    assert_eq!(titled(&scan, "heroic-gog:1207658924").name, "Unreal Gold");
    assert_eq!(titled(&scan, "heroic-gog:1207658924").art, Some(gog_art));
    assert_eq!(titled(&scan, "heroic-legendary:Sugar").art, Some(epic_art));
    assert!(
        scan.titles.iter().all(|t| t.name != "Farewell"),
        "DLC is not a game"
    );
    assert!(
        scan.warnings.iter().any(|w| w.contains("nile")),
        "{:?}",
        scan.warnings
    );
}

#[test]
fn lutris_installed_games_with_cover_art() {
    let home = Home::new("lutris");
    let data = home.0.join(".local/share/lutris");
    fs::create_dir_all(&data).unwrap();
    let db = rusqlite::Connection::open(data.join("pga.db")).unwrap();
    db.execute_batch(
        "CREATE TABLE games (id INTEGER PRIMARY KEY, name TEXT, slug TEXT, runner TEXT, installed INTEGER);
         INSERT INTO games VALUES (12, 'Quake', 'quake', 'linux', 1);
         INSERT INTO games VALUES (13, 'Not Installed', 'ni', 'wine', 0);",
    )
    .unwrap();
    drop(db);
    let cover = home.write(".local/share/lutris/coverart/quake.jpg", b"\xff\xd8");
    let scan = home.scan();
    let quake = titled(&scan, "lutris:12");
    assert_eq!(quake.launch, ["lutris", "lutris:rungameid/12"]);
    assert_eq!(quake.art.as_deref(), Some(cover.as_path()));
    assert_eq!(scan.titles.len(), 1, "{scan:?}");

    home.write(".local/share/lutris/pga.db", b"not a database at all");
    let scan = home.scan();
    assert!(scan.titles.is_empty());
    assert!(
        scan.warnings.iter().any(|w| w.contains("pga.db")),
        "{:?}",
        scan.warnings
    );
}

#[test]
fn desktop_entries_games_only_with_precedence_and_icons() {
    let home = Home::new("desktop");
    let entry = |name: &str, exec: &str, extra: &str| {
        format!(
            "[Desktop Entry]\nType=Application\nName={name}\nExec={exec}\nCategories=Game;\n{extra}"
        )
    };
    home.write(
        "usr/share/applications/tux.desktop",
        entry("Tux Racer", "tuxracer %f --window", "Icon=tux\n"),
    );
    home.write(
        "usr/share/applications/games/kart.desktop",
        entry("Kart (system)", "kart", ""),
    );
    // The user's own copy overrides the system one with the same desktop-file id.
    home.write(
        ".local/share/applications/games-kart.desktop",
        entry("Kart", "kart --user", ""),
    );
    home.write(
        "usr/share/applications/editor.desktop",
        "[Desktop Entry]\nType=Application\nName=Editor\nExec=ed\nCategories=Utility;\n",
    );
    home.write(
        "usr/share/applications/hidden.desktop",
        entry("Hidden", "h", "Hidden=true\n"),
    );
    home.write(
        "usr/share/applications/missing.desktop",
        entry("Missing", "m", "TryExec=/nonexistent/game\n"),
    );
    home.write(
        "usr/share/applications/broken.desktop",
        entry("Broken", "run \"open", ""),
    );
    home.write(
        "usr/share/applications/latin1.desktop",
        b"[Desktop Entry]\nType=Application\nName=Caf\xe9 Game\nExec=cafe\nCategories=Game;\n",
    );
    let icon = home.write("usr/share/icons/hicolor/256x256/apps/tux.png", b"\x89PNG");
    home.write("usr/share/icons/hicolor/48x48/apps/tux.png", b"\x89PNG");
    // A symlink loop below applications/ must not hang the walk.
    symlink(
        home.0.join("usr/share/applications"),
        home.0.join("usr/share/applications/loop"),
    )
    .unwrap();

    let scan = home.scan();
    let tux = titled(&scan, "desktop:tux");
    assert_eq!(tux.launch, ["tuxracer", "--window"]);
    assert_eq!(tux.art.as_deref(), Some(icon.as_path()));
    assert_eq!(
        titled(&scan, "desktop:games-kart").launch,
        ["kart", "--user"]
    );
    assert_eq!(titled(&scan, "desktop:latin1").name, "Caf\u{fffd} Game");
    let names: Vec<&str> = scan.titles.iter().map(|t| t.name.as_str()).collect();
    for absent in ["Editor", "Hidden", "Missing", "Broken", "Kart (system)"] {
        assert!(!names.contains(&absent), "{absent} listed: {names:?}");
    }
    assert!(
        scan.warnings.iter().any(|w| w.contains("broken.desktop")),
        "{:?}",
        scan.warnings
    );
}

#[test]
fn a_game_in_two_stores_is_listed_once_and_huge_files_are_skipped() {
    let home = Home::new("dedupe");
    home.write(
        ".local/share/Steam/steamapps/appmanifest_570.acf",
        manifest(570, "Dota 2", 4),
    );
    home.write(
        ".local/share/applications/dota.desktop",
        "[Desktop Entry]\nType=Application\nName=Dota 2\nExec=steam steam://rungameid/570\nCategories=Game;\n",
    );
    let huge = home
        .0
        .join(".config/heroic/legendaryConfig/legendary/installed.json");
    fs::create_dir_all(huge.parent().unwrap()).unwrap();
    fs::File::create(&huge)
        .unwrap()
        .set_len(files::MAX_FILE + 1)
        .unwrap();
    let scan = home.scan();
    assert_eq!(scan.titles.len(), 1, "{scan:?}");
    assert_eq!(scan.titles[0].id, "steam:570");
    assert!(
        scan.warnings.iter().any(|w| w.contains("installed.json")),
        "{:?}",
        scan.warnings
    );
}

#[test]
fn shell_commands_quote_every_argument() {
    let title = Title {
        id: "x".into(),
        name: "x".into(),
        source: Source::Desktop,
        launch: vec![
            "run".into(),
            "it's here".into(),
            "steam://rungameid/5".into(),
            String::new(),
        ],
        art: None,
        working_dir: None,
    };
    assert_eq!(
        title.shell_command(),
        r"run 'it'\''s here' steam://rungameid/5 ''"
    );
}

#[test]
fn hidden_titles_by_id_or_whole_store() {
    let title = |id: &str| Title {
        id: id.into(),
        name: id.into(),
        source: Source::Steam,
        launch: vec!["true".into()],
        art: None,
        working_dir: None,
    };
    let titles = [
        title("steam:570"),
        title("steam:620"),
        title("steam-shortcut:1"),
        title("lutris:12"),
    ];
    let hidden = ["steam:570".to_string(), "lutris:*".to_string()];
    let ids: Vec<String> = visible(&titles, &hidden)
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["steam:620", "steam-shortcut:1"]);
    assert!(is_hidden(&["steam:*".to_string()], "steam:620"));
    assert!(
        !is_hidden(&["steam:*".to_string()], "steam-shortcut:1"),
        "a store's prefix ends at its colon"
    );
    assert!(!is_hidden(&[], "steam:570"));
}

/// Waits up to 5 s (the issue's promise for a new install) for the store's list to satisfy `ok`.
fn eventually(store: &LibraryStore, what: &str, ok: impl Fn(&[Title]) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !ok(&store.titles()) {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 5 s; titles {:?}",
            store.titles()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn installs_and_removals_show_up_while_the_host_runs() {
    let home = Home::new("live");
    let events = crate::services::events::EventBus::default();
    let store = LibraryStore::new(Some(Roots::under(&home.0)), events);
    assert!(store.titles().is_empty());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    store.clone().keep_fresh(stop).unwrap();
    let has = |id: &'static str| move |titles: &[Title]| titles.iter().any(|t| t.id == id);
    // A first Steam install: none of its directories existed when watching began.
    let manifest_path = home.write(
        ".local/share/Steam/steamapps/appmanifest_570.acf",
        manifest(570, "Dota 2", 4),
    );
    eventually(&store, "a first Steam game", has("steam:570"));
    // A second game in the now-watched library, then the first one removed.
    home.write(
        ".local/share/Steam/steamapps/appmanifest_620.acf",
        manifest(620, "Portal 2", 4),
    );
    eventually(&store, "a second Steam game", has("steam:620"));
    fs::remove_file(manifest_path).unwrap();
    eventually(&store, "an uninstall", |titles| {
        !has("steam:570")(titles) && has("steam:620")(titles)
    });
    // A desktop entry in a directory created just now.
    home.write(
        ".local/share/applications/kart.desktop",
        "[Desktop Entry]\nType=Application\nName=Kart\nExec=kart\nCategories=Game;\n",
    );
    eventually(&store, "a desktop-entry game", |titles| {
        titles.iter().any(|t| t.name == "Kart")
    });
    stop_tx.send(true).unwrap();
}
