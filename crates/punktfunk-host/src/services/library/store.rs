//! The current game list, shared by the protocols and the API, kept fresh by a background rescan.
//! A rescan reads only small store files (the stores' own databases and manifests) on a blocking
//! thread, so it never stalls a stream; a change is logged and published as
//! [`HostEvent::LibraryChanged`].

use super::{Roots, Title, scan};
use crate::services::events::{EventBus, HostEvent};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// How often the stores are looked at again. Installing a game writes its manifest once; a few
/// seconds' delay is what a user sees as "it just appeared".
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

    /// Rescans every [`RESCAN_EVERY`] on a thread of its own until `stop` turns true. One
    /// long-lived thread rather than a blocking task per scan: the host's thread count stays what
    /// it is between sessions, and a scan stuck on a hung mount cannot pile up more scans.
    pub fn keep_fresh(self: Arc<Self>, stop: watch::Receiver<bool>) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("library-scan".into())
            .spawn(move || {
                let step = Duration::from_millis(100);
                'scans: loop {
                    let mut waited = Duration::ZERO;
                    while waited < RESCAN_EVERY {
                        if *stop.borrow() {
                            break 'scans;
                        }
                        std::thread::sleep(step);
                        waited += step;
                    }
                    self.rescan();
                }
            })
            .map(drop)
    }
}
