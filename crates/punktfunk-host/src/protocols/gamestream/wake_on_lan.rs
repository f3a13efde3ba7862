//! The MAC address `/serverinfo` reports, so that Moonlight can wake this machine with a magic packet
//! later: the hardware address of the interface the request arrived on, read from sysfs. Loopback
//! and interfaces without a hardware address have nothing to wake and report none.

use std::net::IpAddr;
use std::path::Path;

/// The MAC of the interface that holds `local`, as `aa:bb:cc:dd:ee:ff`.
pub fn mac_for_local_address(local: IpAddr) -> Option<String> {
    let interfaces = if_addrs::get_if_addrs().ok()?;
    let name = interfaces
        .iter()
        .find(|i| i.ip() == local && !i.is_loopback())?
        .name
        .clone();
    let address =
        std::fs::read_to_string(Path::new("/sys/class/net").join(name).join("address")).ok()?;
    wakeable_mac(address.trim())
}

/// `text` if it is a MAC address a magic packet can name (six hex pairs, not all zero), lower case.
fn wakeable_mac(text: &str) -> Option<String> {
    let pairs: Vec<&str> = text.split(':').collect();
    let well_formed = pairs.len() == 6
        && pairs
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    (well_formed && pairs.iter().any(|p| *p != "00")).then(|| text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_hardware_addresses_are_reported() {
        assert_eq!(
            wakeable_mac("02:FC:00:00:00:01").as_deref(),
            Some("02:fc:00:00:00:01")
        );
        assert_eq!(wakeable_mac("00:00:00:00:00:00"), None, "loopback");
        assert_eq!(wakeable_mac("02:fc:00:00:00"), None);
        assert_eq!(wakeable_mac("02:fc:00:00:00:0g"), None);
        assert_eq!(wakeable_mac(""), None);
        // Infiniband and other long link-layer addresses cannot be woken by a magic packet.
        assert_eq!(wakeable_mac("80:00:02:08:fe:80:00:00:00:00:00:00"), None);
    }

    #[test]
    fn an_interface_address_maps_to_that_interfaces_mac() {
        assert_eq!(mac_for_local_address("127.0.0.1".parse().unwrap()), None);
        assert_eq!(
            mac_for_local_address("198.51.100.77".parse().unwrap()),
            None,
            "no such address here"
        );
        // Every non-loopback address of this machine reports what sysfs says of its interface.
        for interface in if_addrs::get_if_addrs().unwrap() {
            if interface.is_loopback() {
                continue;
            }
            let sysfs =
                std::fs::read_to_string(format!("/sys/class/net/{}/address", interface.name))
                    .map(|a| a.trim().to_ascii_lowercase())
                    .ok()
                    .filter(|a| a != "00:00:00:00:00:00");
            assert_eq!(
                mac_for_local_address(interface.ip()),
                sysfs,
                "{}",
                interface.name
            );
        }
    }
}
