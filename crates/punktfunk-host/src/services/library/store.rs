//! The current game list, shared by the protocols and the API, kept fresh by a background rescan
//! when the stores change.
//! A rescan reads only small store files (the stores' own databases and manifests) on a blocking
//! thread, so it never stalls a stream; a change is logged and published as
//! [`HostEvent::LibraryChanged`].

use super::watch::{DirWatcher, FULL_RESCAN_EVERY, store_dirs, watch_targets};
use super::{Roots, Title, scan};
use crate::services::events::{EventBus, HostEvent};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the stores are looked at again where they cannot be watched. Installing a game writes
/// its manifest once; a few seconds' delay is what a user sees as "it just appeared".
pub const RESCAN_EVERY: Duration = Duration::from_secs(2);

pub struct LibraryStore {
    roots: Option<Roots>,
    titles: RwLock<Arc<Vec<Title>>>,
    /// What the last scan skipped: each problem is logged once, not at every rescan.
    warned: std::sync::Mutex<Vec<String>>,
    events: EventBus,
}

impl LibraryStore {
    /// A store over `roots` (`None`: no home directory, an empty library), scanned once now.
    pub fn new(roots: Option<Roots>, events: EventBus) -> Arc<LibraryStore> {
        let store = Arc::new(LibraryStore {
            roots,
            titles: RwLock::new(Arc::new(Vec::new())),
            warned: std::sync::Mutex::default(),
            events,
        });
        store.rescan();
        store
    }

    /// The titles as of the last scan.
    pub fn titles(&self) -> Arc<Vec<Title>> {
        self.titles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Scans now (blocking); returns whether the list changed.
    pub fn rescan(&self) -> bool {
        let Some(roots) = &self.roots else {
            return false;
        };
        let found = scan(roots);
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        for warning in found.warnings.iter().filter(|w| !warned.contains(w)) {
            tracing::warn!("game library: {warning}");
        }
        *warned = found.warnings;
        drop(warned);
        let mut titles = self.titles.write().unwrap_or_else(PoisonError::into_inner);
        if **titles == found.titles {
            return false;
        }
        tracing::info!(
            before = titles.len(),
            now = found.titles.len(),
            "game library changed"
        );
        self.events.publish(HostEvent::LibraryChanged {
            titles: found.titles.len(),
        });
        *titles = Arc::new(found.titles);
        true
    }

    /// Keeps the list fresh on a thread of its own until `stop` turns true: rescans soon after
    /// the stores' directories change (inotify, see [`super::watch`]) and at least every
    /// [`FULL_RESCAN_EVERY`]; where inotify is unavailable, every [`RESCAN_EVERY`]. One long-lived
    /// thread rather than a blocking task per scan: the host's thread count stays what it is
    /// between sessions, and a scan stuck on a hung mount cannot pile up more scans.
    pub fn keep_fresh(self: Arc<Self>, stop: watch::Receiver<bool>) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("library-scan".into())
            .spawn(move || {
                let Some(roots) = self.roots.clone() else {
                    return;
                };
                match DirWatcher::new() {
                    Ok(watcher) => self.follow_changes(&roots, watcher, &stop),
                    Err(e) => {
                        tracing::warn!(
                            "game library: no inotify ({e}); rescanning every {} s",
                            RESCAN_EVERY.as_secs()
                        );
                        self.rescan_on_a_timer(&stop);
                    }
                }
            })
            .map(drop)
    }

    fn follow_changes(&self, roots: &Roots, mut watcher: DirWatcher, stop: &watch::Receiver<bool>) {
        // What changed between the first scan and the watches existing is picked up here.
        self.watch_the_stores(roots, &mut watcher);
        tracing::info!(
            directories = watcher.watching(),
            "game library: watching the stores for installs and removals"
        );
        let mut last_scan = Instant::now();
        while !*stop.borrow() {
            let changed = match watcher.wait_settled(Duration::from_millis(200)) {
                Ok(changed) => changed,
                Err(e) => {
                    tracing::warn!(
                        "game library: watching failed ({e}); rescanning every {} s",
                        RESCAN_EVERY.as_secs()
                    );
                    return self.rescan_on_a_timer(stop);
                }
            };
            if changed || last_scan.elapsed() >= FULL_RESCAN_EVERY {
                self.rescan();
                last_scan = Instant::now();
                self.watch_the_stores(roots, &mut watcher);
            }
        }
    }

    /// Watches every store directory as it exists now. A directory that appeared (a new library, a
    /// first install) is watched from now on, and what was written into it before its watch
    /// existed needs one more scan; a directory created while the targets were being worked out
    /// was not seen by any watch, so they are worked out again after each scan until nothing new
    /// turns up.
    fn watch_the_stores(&self, roots: &Roots, watcher: &mut DirWatcher) {
        while watcher.watch_only(&watch_targets(&store_dirs(roots))) > 0 {
            self.rescan();
        }
    }

    fn rescan_on_a_timer(&self, stop: &watch::Receiver<bool>) {
        let step = Duration::from_millis(100);
        loop {
            let mut waited = Duration::ZERO;
            while waited < RESCAN_EVERY {
                if *stop.borrow() {
                    return;
                }
                std::thread::sleep(step);
                waited += step;
            }
            self.rescan();
        }
    }
}
