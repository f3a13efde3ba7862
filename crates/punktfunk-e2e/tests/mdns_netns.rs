//! mDNS discovery across a real (virtual) link: the host runs in one network namespace, the probe in
//! another, joined by a veth pair. The probe must find the host's `_punktfunk._udp` service with the
//! right fingerprint, ports and address — and nothing of this leaves the namespaces.

use punktfunk_e2e::common;

use common::{HostCommand, HostProcess, is_root, workspace_bin};
use std::process::Command;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces joined by a veth pair; removed when dropped.
struct Link {
    host_ns: String,
    client_ns: String,
}

impl Link {
    fn create(id: u32) -> Link {
        let link = Link {
            host_ns: format!("pfmdns-h{id}"),
            client_ns: format!("pfmdns-c{id}"),
        };
        let (h, c) = (link.host_ns.as_str(), link.client_ns.as_str());
        ip(&["netns", "add", h]);
        ip(&["netns", "add", c]);
        let (veth_h, veth_c) = (format!("pfh{id}"), format!("pfc{id}"));
        ip(&[
            "link", "add", &veth_h, "netns", h, "type", "veth", "peer", "name", &veth_c, "netns", c,
        ]);
        for (ns, dev, addr) in [(h, &veth_h, "10.203.7.1/24"), (c, &veth_c, "10.203.7.2/24")] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up", "multicast", "on"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        link
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        for ns in [&self.host_ns, &self.client_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn can_make_namespaces() -> Result<(), String> {
    if !is_root() {
        return Err("needs root (network namespaces)".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("needs iproute2 (`ip`)".into()),
    }
}

#[test]
fn probe_finds_the_host_over_mdns_in_a_network_namespace() {
    if let Err(why) = can_make_namespaces() {
        // CI and the dev machines run as root; say loudly why this did not run anywhere else.
        eprintln!("SKIPPED: mDNS namespace test {why}");
        return;
    }
    let id = std::process::id() % 100_000;
    let link = Link::create(id);

    let config = common::TempDir::new("mdns");
    std::fs::write(
        config.path().join("config.toml"),
        "host_name = \"pf-mdns-test\"\n",
    )
    .unwrap();
    let host = HostProcess::start(
        "mdns",
        HostCommand {
            wrapper: ["ip", "netns", "exec", &link.host_ns]
                .map(String::from)
                .to_vec(),
            args: [
                "punktfunk1-host",
                "--source",
                "virtual",
                "--port",
                "0",
                "--api-port",
                "0",
            ]
            .map(String::from)
            .to_vec(),
            config_dir: Some(config.path().to_path_buf()),
        },
    );

    let out = Command::new("ip")
        .args(["netns", "exec", &link.client_ns])
        .arg(workspace_bin("punktfunk-probe"))
        .args(["discover", "--timeout", "6s", "--json"])
        .output()
        .expect("run punktfunk-probe discover");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "discover found nothing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hosts: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let found = hosts
        .iter()
        .find(|h| h["name"] == "pf-mdns-test")
        .unwrap_or_else(|| panic!("our host is not among {hosts:?}"));
    assert_eq!(found["txt"]["fp"], host.fingerprint.as_str());
    assert_eq!(found["txt"]["proto"], "pkf1");
    assert_eq!(found["txt"]["id"], &host.fingerprint[..16]);
    assert_eq!(found["port"], host.quic.port());
    assert_eq!(found["txt"]["data_port"], host.data_port.to_string());
    let addresses: Vec<&str> = found["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        addresses.contains(&"10.203.7.1"),
        "announced addresses {addresses:?} lack the host's veth address"
    );
    // The host must go before its namespace does.
    drop(host);
    drop(link);
}
