//! The apps Moonlight lists: "Desktop" plus the apps configured in config.toml. Moonlight remembers
//! apps by id (it resumes "the running app" by comparing ids), so ids are derived from the app's name,
//! not its position: reordering or deleting other apps never makes an id point at a different app.

use crate::settings::AppConfig;
use std::num::NonZeroU32;

pub const DESKTOP: &str = "Desktop";

/// One launchable app as GameStream sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct GameStreamApp {
    pub id: NonZeroU32,
    pub title: String,
    /// `None` = the desktop itself (nothing to start).
    pub config: Option<AppConfig>,
}

/// Desktop first, then the configured apps in file order.
pub fn app_list(configured: &[AppConfig]) -> Vec<GameStreamApp> {
    let mut apps: Vec<GameStreamApp> = Vec::with_capacity(configured.len() + 1);
    let entries = std::iter::once((DESKTOP, None))
        .chain(configured.iter().map(|a| (a.name.as_str(), Some(a))));
    for (title, config) in entries {
        let mut id = name_id(title);
        // Names are unique (settings validation), ids almost always are; on a clash the later app moves
        // to the next free id, which keeps every id unique and non-zero.
        while apps.iter().any(|a| a.id == id) {
            id = NonZeroU32::new(id.get() % MAX_ID + 1).unwrap_or(NonZeroU32::MIN);
        }
        apps.push(GameStreamApp {
            id,
            title: title.to_string(),
            config: config.cloned(),
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
        let before = app_list(&[app("Steam"), app("Terminal")]);
        let after = app_list(&[app("Terminal")]);
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

    proptest! {
        #[test]
        fn app_ids_are_unique_positive_and_stable(names in proptest::collection::btree_set("[a-z]{1,6}", 0..40)) {
            let configured: Vec<AppConfig> = names.iter().filter(|n| *n != "desktop").map(|n| app(n)).collect();
            let apps = app_list(&configured);
            prop_assert_eq!(apps.len(), configured.len() + 1);
            let mut ids: Vec<u32> = apps.iter().map(|a| a.id.get()).collect();
            prop_assert!(ids.iter().all(|id| (1..=MAX_ID).contains(id)));
            ids.sort_unstable();
            ids.dedup();
            prop_assert_eq!(ids.len(), apps.len());
            prop_assert_eq!(app_list(&configured), apps);
        }
    }
}
