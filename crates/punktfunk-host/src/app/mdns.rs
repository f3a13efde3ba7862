//! Announces the host on the local network (mDNS/DNS-SD) so clients find it without an address:
//! `_punktfunk._udp` for punktfunk/1 (TXT: host id, certificate fingerprint, ports) and, when
//! GameStream runs, `_nvstream._tcp` the way Moonlight looks for hosts.

use anyhow::{Context, Result};
use mdns_sd::{ServiceDaemon, ServiceInfo};

pub const NATIVE_SERVICE: &str = "_punktfunk._udp.local.";
pub const GAMESTREAM_SERVICE: &str = "_nvstream._tcp.local.";

/// What the punktfunk/1 announcement says.
pub struct Announcement<'a> {
    /// Instance name users see (the host name setting).
    pub name: &'a str,
    /// The host certificate's SHA-256 (hex): clients pin it; its first 16 digits are the host id.
    pub fingerprint: &'a str,
    pub quic_port: u16,
    pub data_port: u16,
    pub api_port: Option<u16>,
    /// The nvhttp port when GameStream runs.
    pub gamestream_port: Option<u16>,
}

impl Announcement<'_> {
    /// TXT record of the native service, in a fixed order.
    pub fn txt(&self) -> Vec<(&'static str, String)> {
        let mut txt = vec![
            ("proto", "pkf1".to_string()),
            ("id", self.fingerprint.chars().take(16).collect()),
            ("fp", self.fingerprint.to_string()),
            ("port", self.quic_port.to_string()),
            ("data_port", self.data_port.to_string()),
            ("version", env!("CARGO_PKG_VERSION").to_string()),
        ];
        if let Some(api) = self.api_port {
            txt.push(("api_port", api.to_string()));
        }
        txt
    }
}

/// Keeps the services announced until dropped (then says goodbye on the network).
pub struct Advertiser {
    daemon: ServiceDaemon,
    registered: Vec<String>,
}

impl Advertiser {
    pub fn start(announcement: &Announcement<'_>) -> Result<Advertiser> {
        let daemon = ServiceDaemon::new().context("starting the mDNS responder")?;
        let mut advertiser = Advertiser {
            daemon,
            registered: Vec::new(),
        };
        // DNS labels: keep the machine name simple so every resolver accepts it.
        let host_label: String = announcement
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let host_name = format!("{}.local.", host_label.trim_matches('-'));
        let native = ServiceInfo::new(
            NATIVE_SERVICE,
            announcement.name,
            &host_name,
            "",
            announcement.quic_port,
            announcement.txt().as_slice(),
        )
        .context("building the punktfunk/1 mDNS record")?
        .enable_addr_auto();
        advertiser.register(native)?;
        if let Some(port) = announcement.gamestream_port {
            let empty: &[(&str, &str)] = &[];
            let gamestream = ServiceInfo::new(
                GAMESTREAM_SERVICE,
                announcement.name,
                &host_name,
                "",
                port,
                empty,
            )
            .context("building the GameStream mDNS record")?
            .enable_addr_auto();
            advertiser.register(gamestream)?;
        }
        tracing::info!(name = announcement.name, host = %host_name,
            services = ?advertiser.registered, "announcing on mDNS");
        Ok(advertiser)
    }

    fn register(&mut self, info: ServiceInfo) -> Result<()> {
        let name = info.get_fullname().to_string();
        self.daemon
            .register(info)
            .with_context(|| format!("announcing {name}"))?;
        self.registered.push(name);
        Ok(())
    }
}

impl Drop for Advertiser {
    fn drop(&mut self) {
        for name in &self.registered {
            if let Ok(done) = self.daemon.unregister(name) {
                // The goodbye packets go out before the answer; don't hang shutdown on it.
                let _ = done.recv_timeout(std::time::Duration::from_secs(1));
            }
        }
        let _ = self.daemon.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_names_the_ports_and_fingerprint() {
        let fp = "ab".repeat(32);
        let a = Announcement {
            name: "desk",
            fingerprint: &fp,
            quic_port: 47800,
            data_port: 47801,
            api_port: Some(3000),
            gamestream_port: None,
        };
        let txt = a.txt();
        let get = |k: &str| {
            txt.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("fp").as_deref(), Some(fp.as_str()));
        assert_eq!(get("id").unwrap().len(), 16);
        assert_eq!(get("port").as_deref(), Some("47800"));
        assert_eq!(get("data_port").as_deref(), Some("47801"));
        assert_eq!(get("api_port").as_deref(), Some("3000"));
        // Each TXT string (key=value) must fit DNS's 255-byte limit.
        assert!(txt.iter().all(|(k, v)| k.len() + 1 + v.len() <= 255));
    }
}
