//! Which Moonlight clients are paired. A client is its certificate (every Moonlight client sends the
//! same `uniqueid`), so pairing stores the certificate itself in `gamestream-clients/<id>.pem` and an
//! entry with protocol "gamestream" in the shared [`PairedStore`] (what the console lists and removes).
//! A TLS peer counts as paired only when both agree: its DER equals a stored certificate byte for byte
//! AND the store still lists that id — removing the device in the console revokes it at once.

use crate::services::config_dir::write_atomic;
use crate::services::events::{EventBus, HostEvent};
use crate::services::identity::fingerprint;
use crate::services::paired::{PairedDevice, PairedStore, now_unix};
use anyhow::{Context, Result};
use punktfunk_core::gamestream::pairing::Certificate;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

pub const PROTOCOL: &str = "gamestream";
const DIR: &str = "gamestream-clients";
/// Writing `last_seen` on every request would rewrite paired.json several times a second.
const TOUCH_INTERVAL_SECS: u64 = 60;

pub struct PairedClients {
    dir: PathBuf,
    store: PairedStore,
    events: EventBus,
    /// id → certificate DER, loaded at start and kept in step with the files.
    certs: Mutex<HashMap<String, Vec<u8>>>,
}

impl PairedClients {
    /// Loads every stored client certificate from `config_dir`. A certificate file that does not parse
    /// is skipped with a warning (that client must pair again) rather than stopping the host.
    pub fn load(config_dir: &Path, store: PairedStore, events: EventBus) -> Result<PairedClients> {
        let dir = config_dir.join(DIR);
        let mut certs = HashMap::new();
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                for entry in entries {
                    let path = entry
                        .with_context(|| format!("listing {}", dir.display()))?
                        .path();
                    if path.extension().is_none_or(|e| e != "pem") {
                        continue;
                    }
                    let pem = std::fs::read(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    match Certificate::from_pem(&pem) {
                        Ok(cert) => {
                            certs.insert(fingerprint(cert.der()), cert.der().to_vec());
                        }
                        Err(e) => {
                            tracing::warn!(path = %path.display(), "ignoring a stored Moonlight certificate: {e}")
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
        }
        Ok(PairedClients {
            dir,
            store,
            events,
            certs: Mutex::new(certs),
        })
    }

    fn certs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        // Entries are inserted or removed whole; a panic elsewhere cannot leave one half-written.
        self.certs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The paired-device id of the TLS peer certificate `der`, if that certificate is paired.
    pub fn paired_id(&self, der: &[u8]) -> Option<String> {
        let id = fingerprint(der);
        let cert_matches = self
            .certs()
            .get(&id)
            .is_some_and(|stored| stored.as_slice() == der);
        let device = self.store.get(&id).filter(|d| d.protocol == PROTOCOL)?;
        if !cert_matches {
            return None;
        }
        if device
            .last_seen_unix
            .is_none_or(|t| now_unix().saturating_sub(t) >= TOUCH_INTERVAL_SECS)
            && let Err(e) = self.store.touch(&id, now_unix())
        {
            tracing::warn!("recording when a Moonlight client was last seen: {e:#}");
        }
        Some(id)
    }

    /// Stores a freshly paired client: certificate file first, then the store entry, so the store
    /// never lists a client whose certificate is missing.
    pub fn add(&self, cert: &Certificate, name: &str) -> Result<PairedDevice> {
        let id = fingerprint(cert.der());
        if cert.pem().is_empty() {
            anyhow::bail!("the client certificate has no PEM text to store");
        }
        write_atomic(&self.dir.join(format!("{id}.pem")), cert.pem(), true).with_context(|| {
            format!(
                "storing the Moonlight client certificate in {}",
                self.dir.display()
            )
        })?;
        self.certs().insert(id.clone(), cert.der().to_vec());
        let device = PairedDevice {
            id: id.clone(),
            name: name.to_string(),
            protocol: PROTOCOL.to_string(),
            paired_at_unix: now_unix(),
            last_seen_unix: None,
        };
        self.store.add(device.clone())?;
        self.events.publish(HostEvent::DevicePaired {
            id,
            name: device.name.clone(),
            protocol: PROTOCOL.to_string(),
        });
        Ok(device)
    }

    /// Forgets the client with this id (store entry first: that alone revokes it).
    pub fn remove(&self, id: &str) -> Result<bool> {
        let removed = self.store.remove(id)?;
        self.certs().remove(id);
        match std::fs::remove_file(self.dir.join(format!("{id}.pem"))) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("removing a Moonlight client certificate: {e}"),
        }
        if removed {
            self.events
                .publish(HostEvent::DeviceRemoved { id: id.to_string() });
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_cert() -> Certificate {
        let key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .unwrap();
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "NVIDIA GameStream Client");
        // Long expired: validity must not matter.
        params.not_before = rcgen::date_time_ymd(2001, 1, 1);
        params.not_after = rcgen::date_time_ymd(2002, 1, 1);
        Certificate::from_pem(params.self_signed(&key).unwrap().pem().as_bytes()).unwrap()
    }

    #[test]
    fn paired_clients_survive_a_reload_and_removal_from_the_store_revokes_them() {
        let dir = std::env::temp_dir().join(format!("pf-gs-clients-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let open = || {
            PairedClients::load(&dir, PairedStore::open(&dir).unwrap(), EventBus::default())
                .unwrap()
        };
        let (paired, stranger) = (client_cert(), client_cert());
        let clients = open();
        assert_eq!(clients.paired_id(paired.der()), None);
        let device = clients.add(&paired, "tv").unwrap();
        assert_eq!(device.protocol, PROTOCOL);
        assert_eq!(clients.paired_id(paired.der()), Some(device.id.clone()));
        assert_eq!(clients.paired_id(stranger.der()), None);

        let reloaded = open();
        assert_eq!(
            reloaded.paired_id(paired.der()),
            Some(device.id.clone()),
            "survives a restart"
        );

        // What the console's "remove device" does: only the shared store changes.
        assert!(PairedStore::open(&dir).unwrap().remove(&device.id).unwrap());
        assert_eq!(
            open().paired_id(paired.der()),
            None,
            "revoked by the store alone"
        );

        // A store entry without the stored certificate does not authorise either.
        let again = open();
        again.add(&paired, "tv").unwrap();
        std::fs::remove_file(dir.join(DIR).join(format!("{}.pem", device.id))).unwrap();
        assert_eq!(open().paired_id(paired.der()), None);
        assert!(again.remove(&device.id).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
