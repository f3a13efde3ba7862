//! gamescope: a nested headless gamescope per client at the client's mode, captured from its
//! PipeWire node. That needs gamescope ≥ 3.12 (its headless backend, `--backend headless`);
//! older versions can only nest inside another display (X11/Wayland/DRM) and are refused here
//! with the reason.

use anyhow::Result;
use std::process::Command;

/// The oldest gamescope with a headless backend.
pub const MIN_VERSION: (u32, u32) = (3, 12);

/// The installed gamescope's version, e.g. (3, 11, "3.11.49-1 (from dpkg; no --version)").
pub fn version() -> Option<((u32, u32), String)> {
    let program = super::headless::find_in_path("gamescope").or_else(|| {
        Some("/usr/games/gamescope".into()).filter(|p: &std::path::PathBuf| p.is_file())
    })?;
    // gamescope ≥ 3.12 has --version ("gamescope version 3.14.2 ..."); 3.11 rejects it.
    if let Ok(out) = Command::new(&program).arg("--version").output() {
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if out.status.success()
            && let Some(v) = text.split_whitespace().find_map(parse_version)
        {
            return Some((v, text.lines().next().unwrap_or_default().to_owned()));
        }
    }
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "gamescope"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v = parse_version(&text)?;
    Some((
        v,
        format!("{text} (from dpkg; `gamescope --version` unsupported)"),
    ))
}

/// "3.11.49-1" → (3, 11).
fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Why this build cannot create gamescope displays here (always an error for now).
pub fn open() -> Result<std::convert::Infallible> {
    match version() {
        None => anyhow::bail!("gamescope is not installed"),
        Some((v, text)) if v < MIN_VERSION => anyhow::bail!(
            "gamescope {text} is older than {}.{}: it has no headless backend, so it cannot run \
             a per-client display without a real screen (and on this machine, with software \
             Vulkan only, it fails to start at all)",
            MIN_VERSION.0,
            MIN_VERSION.1
        ),
        Some((_, text)) => anyhow::bail!(
            "gamescope {text} has a headless backend, but this build has no gamescope backend yet"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("3.11.49-1"), Some((3, 11)));
        assert_eq!(parse_version("3.14.2"), Some((3, 14)));
        assert_eq!(parse_version("version"), None);
        assert!((3, 11) < MIN_VERSION && (3, 12) >= MIN_VERSION && (4, 0) > MIN_VERSION);
    }
}
