//! The devices paired with this host, of both protocols, in one file (`paired.json` in the config
//! dir) that is only ever replaced atomically: a crash leaves the old list or the new one.

use crate::services::config_dir::write_atomic;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// File name of the store in the config dir.
pub const PAIRED_FILE: &str = "paired.json";

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema, PartialEq)]
pub struct PairedDevice {
    /// Lowercase hex SHA-256 of the device's certificate: its stable id.
    pub id: String,
    pub name: String,
    /// "punktfunk1" or "gamestream"
    pub protocol: String,
    pub paired_at_unix: u64,
    pub last_seen_unix: Option<u64>,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct StoreFile {
    devices: Vec<PairedDevice>,
}

/// Shared handle on the paired-device list; every change is written through before it is visible.
#[derive(Clone)]
pub struct PairedStore {
    devices: Arc<Mutex<Vec<PairedDevice>>>,
    path: Arc<PathBuf>,
}

impl PairedStore {
    /// Loads `dir/paired.json`; a missing file is an empty store, an unreadable one an error that
    /// names the file (never silently replaced: it is the only record of who may connect).
    pub fn open(dir: &Path) -> Result<PairedStore> {
        let path = dir.join(PAIRED_FILE);
        let devices = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<StoreFile>(&bytes)
                    .with_context(|| format!("{} is corrupt", path.display()))?
                    .devices
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(PairedStore {
            devices: Arc::new(Mutex::new(devices)),
            path: Arc::new(path),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<PairedDevice>> {
        // A panic while holding the lock cannot leave the list half-changed: changes are applied
        // only after the file write succeeded, in one assignment.
        self.devices.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn list(&self) -> Vec<PairedDevice> {
        self.lock().clone()
    }

    pub fn get(&self, id: &str) -> Option<PairedDevice> {
        self.lock().iter().find(|d| d.id == id).cloned()
    }

    /// Adds a device, replacing one with the same id.
    pub fn add(&self, device: PairedDevice) -> Result<()> {
        self.update(|devices| {
            devices.retain(|d| d.id != device.id);
            devices.push(device);
            true
        })
        .map(|_| ())
    }

    /// Adds a device unless that would make more than `max` devices (replacing one with the same id
    /// always fits); `false` when the list is full. Checked under the store's lock, so concurrent
    /// first-use clients cannot push the list past `max` between the check and the write.
    pub fn add_within(&self, device: PairedDevice, max: usize) -> Result<bool> {
        self.update(|devices| {
            let known = devices.iter().any(|d| d.id == device.id);
            if !known && devices.len() >= max {
                return false;
            }
            devices.retain(|d| d.id != device.id);
            devices.push(device);
            true
        })
    }

    /// Renames a device; `false` when the id is unknown.
    pub fn rename(&self, id: &str, name: &str) -> Result<bool> {
        self.update(|devices| match devices.iter_mut().find(|d| d.id == id) {
            Some(d) => {
                d.name = name.to_string();
                true
            }
            None => false,
        })
    }

    /// Forgets a device; `false` when the id is unknown.
    pub fn remove(&self, id: &str) -> Result<bool> {
        self.update(|devices| {
            let before = devices.len();
            devices.retain(|d| d.id != id);
            devices.len() != before
        })
    }

    /// Records that the device was just seen (an unknown id is not an error: it may have been
    /// removed while connecting).
    pub fn touch(&self, id: &str, now_unix: u64) -> Result<()> {
        self.update(|devices| match devices.iter_mut().find(|d| d.id == id) {
            Some(d) => {
                d.last_seen_unix = Some(now_unix);
                true
            }
            None => false,
        })
        .map(|_| ())
    }

    /// Applies `change` to a copy, writes the copy when `change` says it changed something, and
    /// only then makes it the live list. The lock is held across the write so that concurrent
    /// changes reach the file in the same order as memory.
    fn update(&self, change: impl FnOnce(&mut Vec<PairedDevice>) -> bool) -> Result<bool> {
        let mut devices = self.lock();
        let mut next = devices.clone();
        if !change(&mut next) {
            return Ok(false);
        }
        let file = StoreFile {
            devices: next.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file)?;
        write_atomic(&self.path, &bytes, true)
            .with_context(|| format!("writing {}", self.path.display()))?;
        *devices = next;
        Ok(true)
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pf-paired-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn device(id: &str, name: &str) -> PairedDevice {
        PairedDevice {
            id: id.into(),
            name: name.into(),
            protocol: "punktfunk1".into(),
            paired_at_unix: 1_700_000_000,
            last_seen_unix: None,
        }
    }

    #[test]
    fn paired_store_persists_every_change() {
        let dir = temp_dir("persist");
        let store = PairedStore::open(&dir).unwrap();
        assert!(store.list().is_empty(), "missing file = empty store");
        store.add(device("aa", "laptop")).unwrap();
        store.add(device("bb", "tv")).unwrap();
        store.add(device("aa", "laptop 2")).unwrap();
        assert!(store.rename("bb", "living room").unwrap());
        assert!(!store.rename("cc", "nobody").unwrap());
        store.touch("aa", 1_700_000_100).unwrap();
        store.touch("zz", 1).unwrap();

        let reopened = PairedStore::open(&dir).unwrap();
        let mut list = reopened.list();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name, "laptop 2");
        assert_eq!(list[0].last_seen_unix, Some(1_700_000_100));
        assert_eq!(list[1].name, "living room");
        assert_eq!(reopened.get("bb"), store.get("bb"));

        assert!(reopened.remove("aa").unwrap());
        assert!(!reopened.remove("aa").unwrap());
        assert_eq!(PairedStore::open(&dir).unwrap().list().len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn paired_store_refuses_a_corrupt_file_and_names_it() {
        let dir = temp_dir("corrupt");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(PAIRED_FILE), b"{\"devices\": [").unwrap();
        let err = format!("{:#}", PairedStore::open(&dir).err().unwrap());
        assert!(err.contains(PAIRED_FILE), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn paired_store_concurrent_adds_all_land() {
        let dir = temp_dir("threads");
        let store = PairedStore::open(&dir).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..10 {
                        store.add(device(&format!("{t}-{i}"), "x")).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(PairedStore::open(&dir).unwrap().list().len(), 80);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn paired_store_add_within_stops_at_the_cap_even_when_racing() {
        let dir = temp_dir("cap");
        let store = PairedStore::open(&dir).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    (0..5)
                        .filter(|i| {
                            store
                                .add_within(device(&format!("{t}-{i}"), "x"), 7)
                                .unwrap()
                        })
                        .count()
                })
            })
            .collect();
        let added: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(added, 7);
        assert_eq!(PairedStore::open(&dir).unwrap().list().len(), 7);
        let known = store.list()[0].id.clone();
        assert!(
            store.add_within(device(&known, "renamed"), 7).unwrap(),
            "a known device still fits"
        );
        assert_eq!(store.get(&known).unwrap().name, "renamed");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
