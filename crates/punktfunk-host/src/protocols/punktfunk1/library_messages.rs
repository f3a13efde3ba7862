//! The game-library side of a punktfunk/1 session: library pages for the client, launching a
//! title on the session's display, telling the client and the session list when it ends, and
//! ending it when the session ends some other way.

use crate::shared::apps::{AppEvent, SessionApp};
use crate::shared::host_context::HostContext;
use punktfunk_core::control::{LibraryEntry, MAX_LIBRARY_PAGE, MAX_TITLE_ID_LEN, Message};
use std::sync::Arc;

/// Ends the session's launched title (in the background) if the session task ends some other way
/// than the orderly teardown — an early return, an error, a panic.
pub(super) struct AppGuard(pub(super) Arc<SessionApp>);

impl Drop for AppGuard {
    fn drop(&mut self) {
        self.0.end("the session ended");
    }
}

/// Where a session's title events go: its client (through `events`, which the session task
/// forwards as [`Message::AppEnded`]) and the session list (`app`, for the console).
pub(super) fn app_notify(
    registry: Arc<crate::services::sessions::SessionRegistry>,
    session: String,
    events: tokio::sync::mpsc::UnboundedSender<AppEvent>,
) -> crate::shared::apps::Notify {
    Arc::new(move |event: AppEvent| {
        match &event {
            AppEvent::Started { title_id, name } => {
                tracing::info!(%session, title = %title_id, %name, "library title started");
                registry.set_app(&session, Some(title_id.clone()), Some(name.clone()));
            }
            // A replaced title ends after its successor started: only clear what is still listed.
            AppEvent::Ended { title_id, .. } => {
                if registry.get(&session).and_then(|s| s.app).as_ref() == Some(title_id) {
                    registry.set_app(&session, None, None);
                }
            }
        }
        let _ = events.send(event);
    })
}

/// Page `offset` of the library as a punktfunk/1 client sees it (ids too long for the wire left out).
pub(super) fn library_page(titles: &[crate::services::library::Title], offset: u32) -> Message {
    let listed: Vec<&crate::services::library::Title> = titles
        .iter()
        .filter(|t| t.id.len() <= MAX_TITLE_ID_LEN)
        .collect();
    let page = listed
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(MAX_LIBRARY_PAGE)
        .map(|t| LibraryEntry {
            id: t.id.clone(),
            name: t.name.clone(),
        })
        .collect();
    Message::LibraryPage {
        offset,
        total: u32::try_from(listed.len()).unwrap_or(u32::MAX),
        titles: page,
    }
}

/// Starts title `title_id` on the session's display; the answer for the client.
pub(super) fn launch_title(host: &HostContext, apps: &SessionApp, title_id: &str) -> Message {
    let hidden = host.settings.get().library_hidden;
    let titles = crate::services::library::visible(&host.library.titles(), &hidden);
    let result = match titles.iter().find(|t| t.id == title_id) {
        Some(title) => apps
            .launch(title)
            .map(|()| format!("{} started", title.name)),
        None => Err(format!("no title {title_id:?} in the library")),
    };
    tracing::info!(title = title_id, ?result, "launch asked by the client");
    let (ok, message) = match result {
        Ok(m) => (true, m),
        Err(m) => (false, m),
    };
    Message::LaunchResult {
        title_id: title_id.to_string(),
        ok,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_pages_cover_every_listable_title_once() {
        use crate::services::library::{Source, Title};
        let title = |id: String| Title {
            name: format!("{id} {}", "ü".repeat(100)),
            id,
            source: Source::Desktop,
            launch: vec!["true".into()],
            art: None,
            working_dir: None,
        };
        let mut titles: Vec<Title> = (0..150).map(|i| title(format!("desktop:{i}"))).collect();
        // An id too long for the wire is left out rather than cut into another title's id.
        titles.insert(70, title(format!("desktop:{}", "x".repeat(300))));
        let mut seen = Vec::new();
        loop {
            let page = library_page(&titles, u32::try_from(seen.len()).unwrap());
            assert!(page.encode().len() < punktfunk_core::control::MAX_MESSAGE_LEN);
            let Message::LibraryPage { total, titles, .. } = page else {
                panic!("not a page: {page:?}");
            };
            assert_eq!(total, 150);
            if titles.is_empty() {
                break;
            }
            assert!(titles.len() <= MAX_LIBRARY_PAGE);
            seen.extend(titles.into_iter().map(|t| t.id));
        }
        let expected: Vec<String> = (0..150).map(|i| format!("desktop:{i}")).collect();
        assert_eq!(seen, expected);
        let Message::LibraryPage { titles, .. } = library_page(&titles, u32::MAX) else {
            panic!("not a page");
        };
        assert!(titles.is_empty());
    }
}
