//! Live library updates: the directories the stores write when a game is installed or removed
//! are watched with inotify, and a change is followed by a rescan within about a second, instead of
//! re-reading every store on a short timer. A store directory that does not exist yet is watched at
//! its nearest existing ancestor, so a first install (a new Steam library, Lutris' first game) shows
//! up too; after each rescan the set of watched directories is recomputed. Only the named
//! directories are watched, not their subtrees: a slow full rescan ([`FULL_RESCAN_EVERY`]) covers
//! what inotify cannot see (nested desktop-entry folders, network file systems, a watch limit).

use super::{Roots, desktop, heroic, lutris, steam};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;
use std::collections::{BTreeMap, BTreeSet};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A full rescan at least this often, whatever inotify says.
pub const FULL_RESCAN_EVERY: Duration = Duration::from_secs(60);
/// After a change, wait until the store has been quiet this long (an install writes several files),
/// but never longer than [`SETTLE_MAX`].
pub const SETTLE: Duration = Duration::from_millis(250);
pub const SETTLE_MAX: Duration = Duration::from_secs(1);

/// Every directory whose change can change the library, as the stores lay them out.
pub fn store_dirs(roots: &Roots) -> Vec<PathBuf> {
    let mut dirs = steam::store_dirs(roots);
    dirs.extend(heroic::store_dirs(roots));
    dirs.push(lutris::store_dir(roots));
    dirs.extend(desktop::application_dirs(roots));
    dirs
}

/// What to watch for `dirs`: each one that exists, else its nearest existing ancestor.
pub fn watch_targets(dirs: &[PathBuf]) -> BTreeSet<PathBuf> {
    dirs.iter()
        .filter_map(|dir| dir.ancestors().find(|a| a.is_dir()).map(Path::to_path_buf))
        .collect()
}

/// An inotify instance watching a set of directories (each non-recursively).
pub struct DirWatcher {
    fd: OwnedFd,
    watches: BTreeMap<PathBuf, i32>,
    /// Directories that could not be watched, logged once each.
    refused: BTreeSet<PathBuf>,
}

impl DirWatcher {
    pub fn new() -> std::io::Result<DirWatcher> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
        Ok(DirWatcher {
            fd,
            watches: BTreeMap::new(),
            refused: BTreeSet::new(),
        })
    }

    /// Watches exactly `dirs`: new ones are added, ones no longer wanted removed. Returns how many
    /// were added: what changed in those before now was not seen (the caller rescans).
    pub fn watch_only(&mut self, dirs: &BTreeSet<PathBuf>) -> usize {
        let mut added = 0;
        let gone: Vec<PathBuf> = self
            .watches
            .keys()
            .filter(|d| !dirs.contains(*d))
            .cloned()
            .collect();
        for dir in gone {
            if let Some(wd) = self.watches.remove(&dir) {
                // Fails when the directory is already gone (its watch with it): nothing to undo.
                let _ = inotify::remove_watch(&self.fd, wd);
            }
        }
        let flags = WatchFlags::CREATE
            | WatchFlags::DELETE
            | WatchFlags::CLOSE_WRITE
            | WatchFlags::MOVED_TO
            | WatchFlags::MOVED_FROM
            | WatchFlags::DELETE_SELF
            | WatchFlags::MOVE_SELF
            | WatchFlags::ONLYDIR;
        for dir in dirs {
            if self.watches.contains_key(dir) {
                continue;
            }
            match inotify::add_watch(&self.fd, dir.as_path(), flags) {
                Ok(wd) => {
                    self.watches.insert(dir.clone(), wd);
                    added += 1;
                }
                Err(e) => {
                    if self.refused.insert(dir.clone()) {
                        tracing::warn!(
                            dir = %dir.display(),
                            "game library: cannot watch ({e}); it is rescanned every {} s",
                            FULL_RESCAN_EVERY.as_secs()
                        );
                    }
                }
            }
        }
        added
    }

    /// How many directories are watched.
    pub fn watching(&self) -> usize {
        self.watches.len()
    }

    /// Waits up to `timeout` for a change in a watched directory; reads every pending event and
    /// says whether there was one.
    pub fn wait(&mut self, timeout: Duration) -> std::io::Result<bool> {
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        let timeout = rustix::event::Timespec::try_from(timeout).map_err(std::io::Error::other)?;
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(Errno::INTR) => return Ok(false),
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(&self.fd, &mut buf);
        let mut any = false;
        loop {
            match reader.next() {
                // A removed watch reports IN_IGNORED alone: not a change in a store.
                Ok(event) => any |= !event.events().difference(ReadFlags::IGNORED).is_empty(),
                Err(Errno::AGAIN | Errno::INTR) => return Ok(any),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits for the first change, then until the stores have been quiet for [`SETTLE`] (at most
    /// [`SETTLE_MAX`]); false when nothing changed within `timeout`.
    pub fn wait_settled(&mut self, timeout: Duration) -> std::io::Result<bool> {
        if !self.wait(timeout)? {
            return Ok(false);
        }
        let until = Instant::now() + SETTLE_MAX;
        while Instant::now() < until && self.wait(SETTLE)? {}
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "pf-libwatch-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_missing_store_is_watched_at_its_nearest_existing_ancestor() {
        let dir = temp_dir("targets");
        let exists = dir.join("a");
        std::fs::create_dir_all(&exists).unwrap();
        let targets = watch_targets(&[exists.clone(), dir.join("b/c/d")]);
        assert_eq!(targets, BTreeSet::from([exists, dir.clone()]));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_new_file_wakes_the_watcher_and_quiet_does_not() {
        let dir = temp_dir("events");
        let mut watcher = DirWatcher::new().unwrap();
        watcher.watch_only(&BTreeSet::from([dir.clone()]));
        assert_eq!(watcher.watching(), 1);
        assert!(!watcher.wait(Duration::from_millis(50)).unwrap());
        std::fs::write(dir.join("appmanifest_1.acf"), b"x").unwrap();
        assert!(watcher.wait_settled(Duration::from_secs(2)).unwrap());
        assert!(
            !watcher.wait(Duration::from_millis(50)).unwrap(),
            "events were all read"
        );
        // Unwatched: a change is not reported any more.
        watcher.watch_only(&BTreeSet::new());
        assert_eq!(watcher.watching(), 0);
        std::fs::write(dir.join("appmanifest_2.acf"), b"x").unwrap();
        assert!(!watcher.wait(Duration::from_millis(100)).unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn every_store_directory_is_under_the_roots() {
        let dir = temp_dir("roots");
        let roots = Roots::under(&dir);
        let dirs = store_dirs(&roots);
        assert!(dirs.iter().any(|d| d.ends_with("Steam/steamapps")));
        assert!(dirs.iter().any(|d| d.ends_with("heroic/gog_store")));
        assert!(dirs.iter().any(|d| d.ends_with("lutris")));
        assert!(dirs.iter().any(|d| d.ends_with("applications")));
        assert!(dirs.iter().all(|d| d.starts_with(&dir)), "{dirs:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
