//! Everything the parts of a running host share: identity, settings, trust stores, live sessions and
//! the event stream. Built once at start-up; the protocols and the management API hold an `Arc` of it.

use crate::platform::vdisplay::{CompositorInfo, VirtualDisplay};
use crate::services::events::EventBus;
use crate::services::identity::HostIdentity;
use crate::services::library::{LibraryStore, Roots};
use crate::services::paired::PairedStore;
use crate::services::sessions::SessionRegistry;
use crate::services::settings::SettingsStore;
use crate::shared::browser_access::BrowserAccess;
use crate::shared::native_pairing::NativePairing;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

pub struct HostContext {
    /// The config dir all state lives in.
    pub dir: PathBuf,
    pub identity: Arc<HostIdentity>,
    pub settings: SettingsStore,
    pub events: EventBus,
    pub sessions: Arc<SessionRegistry>,
    pub paired: PairedStore,
    pub native_pairing: NativePairing,
    /// The browser client's endpoint and its one-time tickets.
    pub browser: BrowserAccess,
    /// The compositor backend that creates each client's display; `None` = test sources only.
    pub displays: Option<Arc<dyn VirtualDisplay>>,
    /// The installed games found in the user's stores (kept fresh by `serve`).
    pub library: Arc<LibraryStore>,
    pub started: Instant,
}

impl HostContext {
    /// Loads (or creates) the identity and the stores in `dir`.
    pub fn load(
        dir: &Path,
        settings: SettingsStore,
        displays: Option<Arc<dyn VirtualDisplay>>,
    ) -> Result<Arc<HostContext>> {
        let events = EventBus::default();
        Ok(Arc::new(HostContext {
            dir: dir.to_path_buf(),
            identity: Arc::new(HostIdentity::load_or_create(dir)?),
            settings,
            sessions: SessionRegistry::new(events.clone()),
            paired: PairedStore::open(dir)?,
            native_pairing: NativePairing::new(),
            browser: BrowserAccess::default(),
            displays,
            library: LibraryStore::new(Roots::from_env(), events.clone()),
            events,
            started: Instant::now(),
        }))
    }

    pub fn compositor(&self) -> Option<CompositorInfo> {
        self.displays.as_ref().map(|d| d.info())
    }
}
