//! The game-library side of a punktfunk/1 session: library pages and cover art for the client,
//! launching a title on the session's display, telling the client and the session list when it
//! ends, and ending it when the session ends some other way.

use crate::shared::apps::{AppEvent, SessionApp};
use crate::shared::host_context::HostContext;
use punktfunk_core::control::{
    LibraryEntry, MAX_ART_CHUNK, MAX_LIBRARY_PAGE, MAX_TITLE_ID_LEN, Message,
};
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
            has_art: t.art.is_some(),
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

/// A cover picture: its media type and bytes.
type Picture = (&'static str, Arc<Vec<u8>>);

/// The cover art a client is downloading, read once for all of its chunks.
#[derive(Default)]
pub(super) struct ArtCache {
    /// Title id and its picture (`None`: the title has no usable art).
    current: Option<(String, Option<Picture>)>,
}

impl ArtCache {
    /// Bytes `offset..` of a visible title's cover art (as the store keeps it, PNG or JPEG); a
    /// chunk with `total` 0 when the title has none, is hidden, or does not exist.
    pub(super) async fn chunk(
        &mut self,
        host: &HostContext,
        title_id: String,
        offset: u32,
    ) -> Message {
        let cached = self.current.as_ref().filter(|(id, _)| *id == title_id);
        let picture = match cached {
            Some((_, picture)) => picture.clone(),
            None => {
                let picture = read_art(host, &title_id).await;
                self.current = Some((title_id.clone(), picture.clone()));
                picture
            }
        };
        art_chunk(
            title_id,
            offset,
            picture.as_ref().map(|(t, b)| (*t, b.as_slice())),
        )
    }
}

async fn read_art(host: &HostContext, title_id: &str) -> Option<Picture> {
    let hidden = host.settings.get().library_hidden;
    let titles = crate::services::library::visible(&host.library.titles(), &hidden);
    let path = titles.iter().find(|t| t.id == title_id)?.art.clone()?;
    let read = tokio::task::spawn_blocking(move || crate::services::library::cover(&path));
    let (media_type, bytes) = read.await.ok()??;
    Some((media_type, Arc::new(bytes)))
}

/// The chunk of `picture` (media type, bytes) from `offset`, at most [`MAX_ART_CHUNK`] bytes.
pub(super) fn art_chunk(title_id: String, offset: u32, picture: Option<(&str, &[u8])>) -> Message {
    let Some((media_type, bytes)) = picture else {
        return Message::ArtChunk {
            title_id,
            offset,
            total: 0,
            media_type: String::new(),
            data: Vec::new(),
        };
    };
    // `cover` refuses pictures over MAX_ART_LEN, so the size fits.
    let total = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let end = start.saturating_add(MAX_ART_CHUNK).min(bytes.len());
    Message::ArtChunk {
        title_id,
        offset,
        total,
        media_type: media_type.to_string(),
        data: bytes[start..end].to_vec(),
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

    #[test]
    fn art_goes_in_bounded_chunks_that_add_up_to_the_picture() {
        let picture: Vec<u8> = (0..MAX_ART_CHUNK * 2 + 100).map(|i| i as u8).collect();
        let mut got = Vec::new();
        while got.len() < picture.len() {
            let offset = u32::try_from(got.len()).unwrap();
            let Message::ArtChunk {
                total,
                data,
                media_type,
                ..
            } = art_chunk("steam:570".into(), offset, Some(("image/jpeg", &picture)))
            else {
                panic!("not a chunk");
            };
            assert_eq!(total as usize, picture.len());
            assert_eq!(media_type, "image/jpeg");
            assert!(!data.is_empty() && data.len() <= MAX_ART_CHUNK);
            got.extend(data);
        }
        assert_eq!(got, picture);
        // Past the end: an empty chunk, not a panic.
        let Message::ArtChunk { data, .. } =
            art_chunk("steam:570".into(), u32::MAX, Some(("image/png", &picture)))
        else {
            panic!("not a chunk");
        };
        assert!(data.is_empty());
        assert!(matches!(
            art_chunk("desktop:none".into(), 0, None),
            Message::ArtChunk { total: 0, .. }
        ));
    }
}
