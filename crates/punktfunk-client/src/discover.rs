//! Finds punktfunk hosts on the local network through their mDNS announcements.

use anyhow::{Context, Result};
use mdns_sd::{ServiceDaemon, ServiceEvent};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub const NATIVE_SERVICE: &str = "_punktfunk._udp.local.";

/// One announced host.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FoundHost {
    /// The instance name (the host's name setting).
    pub name: String,
    pub addresses: Vec<String>,
    /// punktfunk/1 QUIC port.
    pub port: u16,
    /// Every TXT entry (`fp`, `id`, `data_port`, `api_port`, …).
    pub txt: BTreeMap<String, String>,
}

impl FoundHost {
    /// The certificate fingerprint the host announces (pin it only after pairing: mDNS is not
    /// authenticated).
    pub fn fingerprint(&self) -> Option<&str> {
        self.txt.get("fp").map(String::as_str)
    }
}

/// Browses for `timeout` and returns every host that answered, sorted by name.
pub fn discover(timeout: Duration) -> Result<Vec<FoundHost>> {
    let daemon = ServiceDaemon::new().context("starting mDNS")?;
    let events = daemon
        .browse(NATIVE_SERVICE)
        .context("browsing for punktfunk hosts")?;
    let deadline = Instant::now() + timeout;
    let mut found: BTreeMap<String, FoundHost> = BTreeMap::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(event) = events.recv_timeout(left) else {
            break;
        };
        if let ServiceEvent::ServiceResolved(info) = event {
            let name = info
                .fullname
                .strip_suffix(&format!(".{NATIVE_SERVICE}"))
                .unwrap_or(&info.fullname)
                .to_string();
            let mut addresses: Vec<String> = info
                .addresses
                .iter()
                .map(|a| a.to_ip_addr().to_string())
                .collect();
            addresses.sort();
            let txt = info
                .txt_properties
                .iter()
                .map(|p| (p.key().to_string(), p.val_str().to_string()))
                .collect();
            found.insert(
                info.fullname.clone(),
                FoundHost {
                    name,
                    addresses,
                    port: info.port,
                    txt,
                },
            );
        }
    }
    let _ = daemon.shutdown();
    Ok(found.into_values().collect())
}
