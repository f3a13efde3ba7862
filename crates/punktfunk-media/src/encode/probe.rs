//! What GPUs this machine has, from sysfs, `/dev/dri` and the NVIDIA driver's procfs — cheap file reads,
//! no device is opened here.

use std::fs;
use std::path::{Path, PathBuf};

pub const VENDOR_NVIDIA: u16 = 0x10de;
pub const VENDOR_AMD: u16 = 0x1002;
pub const VENDOR_INTEL: u16 = 0x8086;

/// One DRM device (`/sys/class/drm/cardN` or `renderDN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrmDevice {
    /// `card0`, `renderD128`, …
    pub name: String,
    /// PCI vendor id, if sysfs tells.
    pub vendor: Option<u16>,
    /// Kernel driver (`amdgpu`, `i915`, `nvidia`, …), if bound.
    pub driver: Option<String>,
    /// The device node (`/dev/dri/renderD128`) if it exists.
    pub node: Option<PathBuf>,
}

impl DrmDevice {
    pub fn vendor_name(&self) -> &'static str {
        match self.vendor {
            Some(VENDOR_NVIDIA) => "NVIDIA",
            Some(VENDOR_AMD) => "AMD",
            Some(VENDOR_INTEL) => "Intel",
            Some(_) => "other",
            None => "unknown",
        }
    }
}

/// The GPUs found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GpuInventory {
    /// DRM cards (`cardN`).
    pub cards: Vec<DrmDevice>,
    /// Render nodes (`renderDN`), which is what VAAPI opens.
    pub render_nodes: Vec<DrmDevice>,
    /// First line of `/proc/driver/nvidia/version`, when the proprietary driver is loaded.
    pub nvidia_driver: Option<String>,
}

impl GpuInventory {
    /// Probes the real system.
    pub fn probe() -> Self {
        Self::probe_at(Path::new("/"))
    }

    /// Probes a tree rooted at `root` (tests point this at a fake sysfs).
    pub fn probe_at(root: &Path) -> Self {
        let drm = root.join("sys/class/drm");
        let dev_dri = root.join("dev/dri");
        let mut cards = Vec::new();
        let mut render_nodes = Vec::new();
        if let Ok(entries) = fs::read_dir(&drm) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_card = name
                    .strip_prefix("card")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                let is_render = name.starts_with("renderD");
                if !is_card && !is_render {
                    continue;
                }
                let device = entry.path().join("device");
                let vendor = fs::read_to_string(device.join("vendor"))
                    .ok()
                    .and_then(|v| parse_hex_u16(&v));
                let driver = fs::read_link(device.join("driver"))
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
                let node = Some(dev_dri.join(&name)).filter(|p| p.exists());
                let dev = DrmDevice {
                    name,
                    vendor,
                    driver,
                    node,
                };
                if is_card {
                    cards.push(dev)
                } else {
                    render_nodes.push(dev)
                }
            }
        }
        // Render nodes that exist in /dev/dri but not in sysfs (containers with a bind-mounted /dev/dri).
        if let Ok(entries) = fs::read_dir(&dev_dri) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("renderD") && !render_nodes.iter().any(|d| d.name == name) {
                    render_nodes.push(DrmDevice {
                        name,
                        vendor: None,
                        driver: None,
                        node: Some(entry.path()),
                    });
                }
            }
        }
        cards.sort_by_key(|d| natural_key(&d.name));
        render_nodes.sort_by_key(|d| natural_key(&d.name));
        let nvidia_driver = fs::read_to_string(root.join("proc/driver/nvidia/version"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .next()
                    .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            });
        Self {
            cards,
            render_nodes,
            nvidia_driver,
        }
    }

    /// Whether an NVIDIA GPU with the proprietary driver (which NVENC needs) looks present.
    pub fn has_nvidia(&self) -> bool {
        self.nvidia_driver.is_some()
            || self
                .cards
                .iter()
                .chain(&self.render_nodes)
                .any(|d| d.vendor == Some(VENDOR_NVIDIA) && d.driver.as_deref() == Some("nvidia"))
    }

    /// Why NVENC is not worth trying, or `None` if it is.
    pub fn nvenc_unavailable(&self) -> Option<String> {
        if self.has_nvidia() {
            return None;
        }
        let nvidia_cards: Vec<&DrmDevice> = self
            .cards
            .iter()
            .filter(|d| d.vendor == Some(VENDOR_NVIDIA))
            .collect();
        Some(match nvidia_cards.first() {
            Some(card) => format!(
                "NVIDIA GPU {} is bound to {} instead of the proprietary nvidia driver",
                card.name,
                card.driver.as_deref().unwrap_or("no driver")
            ),
            None => "no NVIDIA GPU (no /proc/driver/nvidia, no DRM device with vendor 0x10de)"
                .to_string(),
        })
    }

    /// The render node VAAPI should open: the first AMD or Intel one, else the first non-NVIDIA one.
    pub fn vaapi_node(&self) -> Result<PathBuf, String> {
        let usable = |d: &&DrmDevice| d.node.is_some();
        let preferred = self
            .render_nodes
            .iter()
            .filter(usable)
            .find(|d| matches!(d.vendor, Some(VENDOR_AMD | VENDOR_INTEL)))
            .or_else(|| {
                self.render_nodes
                    .iter()
                    .filter(usable)
                    .find(|d| d.vendor != Some(VENDOR_NVIDIA))
            });
        match preferred.and_then(|d| d.node.clone()) {
            Some(node) => Ok(node),
            None if self.render_nodes.is_empty() => {
                Err("no DRM render node (/dev/dri/renderD*)".into())
            }
            None => Err(format!(
                "no AMD/Intel render node (found: {})",
                self.render_nodes
                    .iter()
                    .map(|d| format!("{} {}", d.name, d.vendor_name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// One-line description for logs.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .cards
            .iter()
            .map(|d| {
                format!(
                    "{} {} ({})",
                    d.name,
                    d.vendor_name(),
                    d.driver.as_deref().unwrap_or("no driver")
                )
            })
            .collect();
        if let Some(v) = &self.nvidia_driver {
            parts.push(format!("nvidia driver: {v}"));
        }
        parts.push(format!(
            "{} render node(s)",
            self.render_nodes
                .iter()
                .filter(|d| d.node.is_some())
                .count()
        ));
        parts.join("; ")
    }
}

fn parse_hex_u16(s: &str) -> Option<u16> {
    let s = s.trim();
    u16::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).ok()
}

fn natural_key(name: &str) -> (String, u64) {
    let digits = name.trim_start_matches(|c: char| !c.is_ascii_digit());
    (
        name[..name.len() - digits.len()].to_string(),
        digits.parse().unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_device(root: &Path, name: &str, vendor: &str, driver: &str, with_node: bool) {
        let dev = root.join("sys/class/drm").join(name).join("device");
        fs::create_dir_all(&dev).unwrap_or_default();
        fs::write(dev.join("vendor"), format!("{vendor}\n")).unwrap_or_default();
        let drivers = root.join("sys/bus/pci/drivers").join(driver);
        fs::create_dir_all(&drivers).unwrap_or_default();
        let _ = std::os::unix::fs::symlink(&drivers, dev.join("driver"));
        if with_node {
            fs::create_dir_all(root.join("dev/dri")).unwrap_or_default();
            fs::write(root.join("dev/dri").join(name), b"").unwrap_or_default();
        }
    }

    fn temp_root(tag: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("punktfunk-probe-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        root
    }

    #[test]
    fn empty_machine() {
        let root = temp_root("empty");
        let inv = GpuInventory::probe_at(&root);
        assert!(!inv.has_nvidia());
        assert!(
            inv.nvenc_unavailable()
                .is_some_and(|r| r.contains("no NVIDIA GPU"))
        );
        assert!(
            inv.vaapi_node()
                .is_err_and(|r| r.contains("no DRM render node"))
        );
    }

    #[test]
    fn amd_and_nvidia() {
        let root = temp_root("mixed");
        fake_device(&root, "card0", "0x10de", "nouveau", true);
        fake_device(&root, "renderD128", "0x10de", "nouveau", true);
        fake_device(&root, "card1", "0x1002", "amdgpu", true);
        fake_device(&root, "renderD129", "0x1002", "amdgpu", true);
        let inv = GpuInventory::probe_at(&root);
        assert_eq!(inv.cards.len(), 2);
        assert_eq!(inv.cards[1].driver.as_deref(), Some("amdgpu"));
        assert!(!inv.has_nvidia());
        assert!(
            inv.nvenc_unavailable()
                .is_some_and(|r| r.contains("nouveau"))
        );
        assert_eq!(inv.vaapi_node().ok(), Some(root.join("dev/dri/renderD129")));
        fs::create_dir_all(root.join("proc/driver/nvidia")).unwrap_or_default();
        fs::write(
            root.join("proc/driver/nvidia/version"),
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54\nGCC\n",
        )
        .unwrap_or_default();
        let inv = GpuInventory::probe_at(&root);
        assert!(inv.has_nvidia());
        assert!(inv.summary().contains("550.54"));
        let _ = fs::remove_dir_all(&root);
    }
}
