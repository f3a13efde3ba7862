//! The apps Moonlight lists: "Desktop", the apps configured in config.toml, then the game library's
//! titles. Moonlight remembers apps by id (it resumes "the running app" by comparing ids), so ids are
//! derived from the app's name (a library title's from its stable library id), not its position:
//! reordering, installing or removing other apps never makes an id point at a different app.

use crate::services::library::Title;
use crate::services::settings::AppConfig;
use std::num::NonZeroU32;
use std::path::PathBuf;

pub const DESKTOP: &str = "Desktop";

/// One launchable app as GameStream sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct GameStreamApp {
    pub id: NonZeroU32,
    pub title: String,
    /// `None` = the desktop itself (nothing to start).
    pub config: Option<AppConfig>,
    /// Box art from the library (PNG or JPEG); `None` gets a generated poster.
    pub art: Option<PathBuf>,
    /// The library title's id (`None`: the desktop or a configured app).
    pub title_id: Option<String>,
}

/// Desktop first, then the configured apps in file order, then the library's titles whose names
/// no configured app already uses.
pub fn app_list(configured: &[AppConfig], library: &[Title]) -> Vec<GameStreamApp> {
    let mut apps: Vec<GameStreamApp> = Vec::with_capacity(configured.len() + library.len() + 1);
    let taken = |name: &str| {
        name.eq_ignore_ascii_case(DESKTOP)
            || configured.iter().any(|a| a.name.eq_ignore_ascii_case(name))
    };
    let from_library = library.iter().filter(|t| !taken(&t.name)).map(|t| {
        (
            t.id.as_str(),
            t.name.as_str(),
            Some(t.app_config()),
            t.art.clone(),
            Some(t.id.clone()),
        )
    });
    let entries = std::iter::once((DESKTOP, DESKTOP, None, None, None))
        .chain(configured.iter().map(|a| {
            (
                a.name.as_str(),
                a.name.as_str(),
                Some(a.clone()),
                None,
                None,
            )
        }))
        .chain(from_library);
    for (key, title, config, art, title_id) in entries {
        let mut id = name_id(key);
        // Names are unique (settings validation), ids almost always are; on a clash the later app moves
        // to the next free id, which keeps every id unique and non-zero.
        while apps.iter().any(|a| a.id == id) {
            id = NonZeroU32::new(id.get() % MAX_ID + 1).unwrap_or(NonZeroU32::MIN);
        }
        apps.push(GameStreamApp {
            id,
            title: title.to_string(),
            config,
            art,
            title_id,
        });
    }
    apps
}

/// Ids stay positive as signed 32-bit numbers: some clients parse them as `int`.
const MAX_ID: u32 = i32::MAX as u32;

/// 1..=MAX_ID from the case-folded name (names are unique case-insensitively).
fn name_id(name: &str) -> NonZeroU32 {
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.to_lowercase().as_bytes());
    let mut first = [0u8; 4];
    first.copy_from_slice(&digest.as_ref()[..4]);
    NonZeroU32::new(u32::from_be_bytes(first) % MAX_ID + 1).unwrap_or(NonZeroU32::MIN)
}

pub fn find(apps: &[GameStreamApp], id: u32) -> Option<&GameStreamApp> {
    apps.iter().find(|a| a.id.get() == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn app(name: &str) -> AppConfig {
        AppConfig {
            name: name.into(),
            cmd: "true".into(),
            working_dir: None,
            env: Default::default(),
        }
    }

    #[test]
    fn app_ids_follow_names_not_positions() {
        let before = app_list(&[app("Steam"), app("Terminal")], &[]);
        let after = app_list(&[app("Terminal")], &[]);
        assert_eq!(before[0].title, DESKTOP);
        assert_eq!(before[0].id, after[0].id, "Desktop keeps its id");
        assert_eq!(
            before[2].id, after[1].id,
            "Terminal keeps its id when Steam goes"
        );
        assert_eq!(
            find(&before, before[1].id.get()).map(|a| a.title.as_str()),
            Some("Steam")
        );
        assert!(find(&before, 0).is_none());
    }

    #[test]
    fn library_titles_follow_configured_apps_with_ids_from_their_library_id() {
        use crate::services::library::{Source, Title};
        let title = |id: &str, name: &str| Title {
            id: id.into(),
            name: name.into(),
            source: Source::Steam,
            launch: vec!["steam".into(), format!("steam://rungameid/{id}")],
            art: Some(PathBuf::from("/art.jpg")),
            working_dir: None,
        };
        let library = [title("steam:570", "Dota 2"), title("steam:1", "terminal")];
        let apps = app_list(&[app("Terminal")], &library);
        let titles: Vec<&str> = apps.iter().map(|a| a.title.as_str()).collect();
        assert_eq!(
            titles,
            [DESKTOP, "Terminal", "Dota 2"],
            "a configured name wins"
        );
        assert_eq!(apps[2].id, name_id("steam:570"));
        assert_eq!(
            apps[2].config.as_ref().map(|c| c.cmd.as_str()),
            Some("steam steam://rungameid/steam:570")
        );
        assert_eq!(
            apps[2].art.as_deref(),
            Some(std::path::Path::new("/art.jpg"))
        );
    }

    proptest! {
        #[test]
        fn app_ids_are_unique_positive_and_stable(names in proptest::collection::btree_set("[a-z]{1,6}", 0..40)) {
            let configured: Vec<AppConfig> = names.iter().filter(|n| *n != "desktop").map(|n| app(n)).collect();
            let apps = app_list(&configured, &[]);
            prop_assert_eq!(apps.len(), configured.len() + 1);
            let mut ids: Vec<u32> = apps.iter().map(|a| a.id.get()).collect();
            prop_assert!(ids.iter().all(|id| (1..=MAX_ID).contains(id)));
            ids.sort_unstable();
            ids.dedup();
            prop_assert_eq!(ids.len(), apps.len());
            prop_assert_eq!(app_list(&configured, &[]), apps);
        }
    }
}
