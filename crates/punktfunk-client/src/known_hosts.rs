//! Hosts this client trusts: `HOST:PORT` → the SHA-256 fingerprint of the host's certificate,
//! pinned by pairing (or by `--tofu`). Kept as `known_hosts.json` in the client dir and only ever
//! replaced atomically.

use crate::atomic_file::write_atomic;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FILE: &str = "known_hosts.json";

#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is corrupt ({source}); fix or remove it (hosts will have to be paired again)")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct File {
    /// Keyed by `HOST:PORT` as the user wrote the host (port filled in).
    hosts: BTreeMap<String, String>,
}

pub struct KnownHosts {
    path: PathBuf,
    file: File,
}

/// The key a host is stored under: host and port as given, IPv6 in brackets.
pub fn host_key(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl KnownHosts {
    /// Loads `dir/known_hosts.json`; a missing file knows no hosts.
    pub fn load(dir: &Path) -> Result<KnownHosts, KnownHostsError> {
        let path = dir.join(FILE);
        let file = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| KnownHostsError::Corrupt {
                    path: path.clone(),
                    source,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(source) => return Err(KnownHostsError::Io { path, source }),
        };
        Ok(KnownHosts { path, file })
    }

    /// The pinned fingerprint of `key` (see [`host_key`]).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.file.hosts.get(key).map(String::as_str)
    }

    /// Pins `fingerprint` for `key` and writes the file.
    pub fn pin(&mut self, key: &str, fingerprint: &str) -> Result<(), KnownHostsError> {
        self.file
            .hosts
            .insert(key.to_string(), fingerprint.to_string());
        self.save()
    }

    /// Forgets `key`; `false` if it was not known.
    pub fn forget(&mut self, key: &str) -> Result<bool, KnownHostsError> {
        if self.file.hosts.remove(key).is_none() {
            return Ok(false);
        }
        self.save().map(|_| true)
    }

    fn save(&self) -> Result<(), KnownHostsError> {
        let io = |source| KnownHostsError::Io {
            path: self.path.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(&self.file)
            .map_err(std::io::Error::other)
            .map_err(io)?;
        write_atomic(&self.path, &bytes, true).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_pin_persist_and_forget() {
        let dir = std::env::temp_dir().join(format!("pf-known-hosts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut hosts = KnownHosts::load(&dir).unwrap();
        assert_eq!(hosts.get("a:1"), None);
        hosts.pin(&host_key("a", 1), "aa").unwrap();
        hosts.pin(&host_key("::1", 2), "bb").unwrap();
        let mut again = KnownHosts::load(&dir).unwrap();
        assert_eq!(again.get("a:1"), Some("aa"));
        assert_eq!(again.get("[::1]:2"), Some("bb"));
        assert!(again.forget("a:1").unwrap());
        assert!(!again.forget("a:1").unwrap());
        assert_eq!(KnownHosts::load(&dir).unwrap().get("a:1"), None);
        std::fs::write(dir.join(FILE), b"[").unwrap();
        assert!(matches!(
            KnownHosts::load(&dir),
            Err(KnownHostsError::Corrupt { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
