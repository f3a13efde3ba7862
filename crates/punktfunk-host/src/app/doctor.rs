//! `punktfunk-host doctor`: checks what `serve` (with the same flags) needs on this machine and
//! says what to fix — the config, the compositor, PipeWire, the video encoders, gamepad devices,
//! the ports, firewall hints. Problems make it exit non-zero; warnings name optional features that
//! will not work.

use crate::app::serve_args::ListenArgs;
use crate::platform::audio::host_pipewire;
use crate::platform::vdisplay::headless::{find_in_path, lookup_user};
use crate::platform::vdisplay::sway_ipc::SwayIpc;
use crate::platform::vdisplay::{CompositorKind, Detection, SessionEnv, detect};
use crate::services::settings::{FILE_NAME, Settings, SettingsStore};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Something optional will not work.
    Warn,
    /// `serve` will not work as expected: must be fixed.
    Problem,
    /// Advice only.
    Info,
}

#[derive(Debug)]
pub struct Check {
    pub level: Level,
    pub topic: &'static str,
    pub message: String,
    pub fix: Option<String>,
}

fn check(level: Level, topic: &'static str, message: impl Into<String>) -> Check {
    Check {
        level,
        topic,
        message: message.into(),
        fix: None,
    }
}

impl Check {
    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// Runs every check, prints the report, and fails with the list of problems if there are any.
pub fn run(dir: &Path, args: &ListenArgs) -> anyhow::Result<()> {
    let checks = all_checks(dir, args);
    print!("{}", render(&checks));
    let problems: Vec<String> = checks
        .iter()
        .filter(|c| c.level == Level::Problem)
        .map(|c| format!("{}: {}", c.topic, c.message))
        .collect();
    anyhow::ensure!(
        problems.is_empty(),
        "doctor found {} problem(s):\n  - {}",
        problems.len(),
        problems.join("\n  - ")
    );
    Ok(())
}

pub fn all_checks(dir: &Path, args: &ListenArgs) -> Vec<Check> {
    let mut checks = Vec::new();
    let settings = match SettingsStore::load(dir, args.overrides()) {
        Ok(store) => {
            let path = dir.join(FILE_NAME);
            checks.push(check(
                Level::Ok,
                "config",
                if path.exists() {
                    format!("{} parses", path.display())
                } else {
                    format!("no {} yet: defaults", path.display())
                },
            ));
            store.get()
        }
        Err(e) => {
            checks.push(
                check(Level::Problem, "config", e.to_string())
                    .fix("correct the file (docs/configuration.md) or move it away"),
            );
            Settings::default()
        }
    };
    if rustix::process::geteuid().is_root() {
        checks.push(
            check(Level::Warn, "user", "running as root").fix(
                "run the host as your own user (systemctl --user enable --now punktfunk-host)",
            ),
        );
    }
    let env = SessionEnv::from_process();
    let detection = match settings.compositor.as_deref() {
        Some(name) => CompositorKind::parse(name).map(Detection::forced),
        None => Ok(detect(&env)),
    };
    match detection {
        Ok(d) => checks.push(compositor(&d, &env)),
        Err(e) => checks.push(check(Level::Problem, "compositor", format!("{e:#}"))),
    }
    checks.push(pipewire(&env));
    checks.push(encoders());
    checks.extend(gamepads());
    checks.extend(ports(&settings));
    checks.push(firewall(&settings));
    checks
}

fn compositor(d: &Detection, env: &SessionEnv) -> Check {
    const TOPIC: &str = "compositor";
    match d.kind {
        CompositorKind::PrivateSway => {
            let missing: Vec<&str> = ["sway", "swaybg"]
                .into_iter()
                .filter(|p| find_in_path(p).is_none())
                .collect();
            if !missing.is_empty() {
                return check(
                    Level::Problem,
                    TOPIC,
                    format!("{}, but {} not installed", d.reason, missing.join(" and ")),
                )
                .fix(format!("apt install {}", missing.join(" ")));
            }
            if rustix::process::geteuid().is_root() {
                let user = std::env::var("PUNKTFUNK_SWAY_USER").unwrap_or_else(|_| "nobody".into());
                let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
                if lookup_user(&passwd, &user).is_none_or(|u| u.uid == 0) {
                    return check(
                        Level::Problem,
                        TOPIC,
                        format!("as root sway must run as another user, and {user:?} is not one"),
                    )
                    .fix("set PUNKTFUNK_SWAY_USER to an unprivileged account");
                }
            }
            check(Level::Ok, TOPIC, format!("{} (sway installed)", d.reason))
        }
        CompositorKind::Sway => {
            let Some(sock) = &env.swaysock else {
                return check(Level::Problem, TOPIC, "sway forced but SWAYSOCK is unset");
            };
            match SwayIpc::connect(sock, Duration::from_secs(2)).and_then(|mut i| i.get_version()) {
                Ok(v) => check(
                    Level::Ok,
                    TOPIC,
                    format!("sway {}.{} ({})", v.major, v.minor, d.reason),
                ),
                Err(e) => check(
                    Level::Problem,
                    TOPIC,
                    format!("sway's IPC at {} does not answer: {e}", sock.display()),
                ),
            }
        }
        CompositorKind::Mutter => check(
            Level::Ok,
            TOPIC,
            format!(
                "GNOME/Mutter ({}); `punktfunk-host compositor-probe` creates a display to be sure",
                d.reason
            ),
        ),
        CompositorKind::Kwin => check(
            Level::Warn,
            TOPIC,
            format!(
                "KWin ({}): virtual outputs do not deliver frames on KWin 5.27 \
                 (docs/architecture.md)",
                d.reason
            ),
        )
        .fix("use --compositor headless for a private sway beside the desktop"),
        CompositorKind::Gamescope | CompositorKind::Unsupported => check(
            Level::Problem,
            TOPIC,
            format!("{} has no working backend here ({})", d.kind, d.reason),
        )
        .fix("use --compositor headless (a private sway) or run the host in a sway/GNOME session"),
    }
}

fn pipewire(env: &SessionEnv) -> Check {
    const TOPIC: &str = "pipewire";
    let lookup = host_pipewire::EnvLookup::process();
    let socket = host_pipewire::session_socket(&lookup);
    if let Some(s) = &socket
        && host_pipewire::reachable(s)
    {
        return check(
            Level::Ok,
            TOPIC,
            format!("the session's PipeWire answers at {}", s.display()),
        );
    }
    let looked = socket.map_or_else(
        || "PIPEWIRE_RUNTIME_DIR and XDG_RUNTIME_DIR are unset".to_owned(),
        |s| format!("nothing answers at {}", s.display()),
    );
    if detect(env).kind != CompositorKind::PrivateSway {
        return check(
            Level::Problem,
            TOPIC,
            format!("desktop session without PipeWire ({looked}): sessions get no audio"),
        )
        .fix("start it: systemctl --user start pipewire wireplumber");
    }
    let missing: Vec<&str> = ["dbus-daemon", "pipewire", "wireplumber"]
        .into_iter()
        .filter(|p| find_in_path(p).is_none())
        .collect();
    if missing.is_empty() {
        check(
            Level::Ok,
            TOPIC,
            format!("no desktop session ({looked}): serve starts a private PipeWire + WirePlumber"),
        )
    } else {
        check(
            Level::Problem,
            TOPIC,
            format!(
                "no PipeWire ({looked}) and {} not installed for a private one: no audio",
                missing.join(", ")
            ),
        )
        .fix("apt install pipewire wireplumber dbus")
    }
}

fn encoders() -> Check {
    use punktfunk_media::encode::{Backend, FfmpegEncoder};
    const TOPIC: &str = "encoders";
    if let Err(e) = punktfunk_media::init() {
        return check(Level::Problem, TOPIC, format!("FFmpeg: {e}"));
    }
    let config = punktfunk_media::EncoderConfig {
        codec: punktfunk_media::VideoCodec::H264,
        width: 1280,
        height: 720,
        fps_num: 60,
        fps_den: 1,
        bitrate_kbps: 10_000,
        chroma: punktfunk_media::ChromaFormat::Yuv420,
        color: punktfunk_media::ColorSpace::Bt709,
        full_range: false,
        hdr: None,
        intra_refresh: false,
    };
    let (mut opened, mut failed) = (Vec::new(), Vec::new());
    for backend in Backend::ALL {
        if backend.live_limitation().is_some() {
            continue;
        }
        let config = punktfunk_media::EncoderConfig {
            codec: backend.codec(),
            ..config.clone()
        };
        match FfmpegEncoder::open(backend, &config) {
            Ok(_) => opened.push(backend.ffmpeg_name()),
            Err(_) => failed.push(backend.ffmpeg_name()),
        }
    }
    let h264 = opened.iter().any(|n| n.contains("264"));
    let message = format!(
        "open at 1280x720@60: {}; not available: {}",
        if opened.is_empty() {
            "none".to_owned()
        } else {
            opened.join(", ")
        },
        if failed.is_empty() {
            "none".to_owned()
        } else {
            failed.join(", ")
        }
    );
    if h264 {
        check(Level::Ok, TOPIC, message)
    } else {
        check(Level::Problem, TOPIC, message)
            .fix("install an FFmpeg with libx264 (apt install libavcodec59) or a GPU driver")
    }
}

fn gamepads() -> Vec<Check> {
    [
        ("/dev/uinput", "Xbox gamepads", "uinput"),
        ("/dev/uhid", "PlayStation gamepads", "uhid"),
    ]
    .into_iter()
    .map(|(path, what, module)| {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
        {
            Ok(_) => check(Level::Ok, "gamepads", format!("{path} opens: {what} work")),
            Err(e) => check(
                Level::Warn,
                "gamepads",
                format!("{path}: {e}: no virtual {what}"),
            )
            .fix(if Path::new(path).exists() {
                format!(
                    "give your user access, e.g. the udev rule in \
                     /usr/share/doc/punktfunk-host/install.md (KERNEL==\"{module}\", \
                     GROUP=\"input\", MODE=\"0660\") and join the input group"
                )
            } else {
                format!("load the kernel module: sudo modprobe {module}")
            }),
        }
    })
    .collect()
}

/// (protocol, address, what) of every port `serve` will bind with these settings; port 0 (any
/// free one) is left out.
pub fn planned_ports(s: &Settings) -> Vec<(&'static str, SocketAddr, &'static str)> {
    let mut out = Vec::new();
    let mut add = |proto, ip: IpAddr, port: u16, what| {
        if port != 0 {
            out.push((proto, SocketAddr::new(ip, port), what));
        }
    };
    add("udp", s.bind, s.port, "punktfunk/1 QUIC");
    let data = s.data_port.unwrap_or(if s.port == 0 {
        0
    } else {
        s.port.saturating_add(1)
    });
    add("udp", s.bind, data, "punktfunk/1 data");
    add("tcp", s.api_bind, s.api_port, "web console and API");
    if s.gamestream {
        let base = s.gamestream_port_base;
        add("tcp", s.bind, base.saturating_sub(5), "GameStream HTTPS");
        add("tcp", s.bind, base, "GameStream HTTP");
        add("tcp", s.bind, base.saturating_add(21), "GameStream RTSP");
        add("udp", s.bind, base.saturating_add(9), "GameStream video");
        add("udp", s.bind, base.saturating_add(10), "GameStream control");
        add("udp", s.bind, base.saturating_add(11), "GameStream audio");
    }
    out
}

fn ports(s: &Settings) -> Vec<Check> {
    let mut busy = Vec::new();
    let planned = planned_ports(s);
    for (proto, addr, what) in &planned {
        let result = if *proto == "udp" {
            UdpSocket::bind(addr).map(drop)
        } else {
            TcpListener::bind(addr).map(drop)
        };
        if let Err(e) = result {
            busy.push(format!("{proto} {addr} ({what}): {e}"));
        }
    }
    if busy.is_empty() {
        vec![check(
            Level::Ok,
            "ports",
            format!("{} port(s) free", planned.len()),
        )]
    } else {
        busy.into_iter()
            .map(|b| {
                check(Level::Problem, "ports", b).fix(
                    "stop what uses it (another punktfunk-host? `ss -lunpt`) or choose other ports",
                )
            })
            .collect()
    }
}

fn firewall(s: &Settings) -> Check {
    let list = |proto: &str| {
        planned_ports(s)
            .iter()
            .filter(|(p, _, _)| *p == proto)
            .map(|(_, a, _)| a.port().to_string())
            .collect::<Vec<_>>()
    };
    let (udp, tcp) = (list("udp"), list("tcp"));
    let mut text = format!(
        "clients on other machines need UDP {} and TCP {} open (plus UDP 5353 for mDNS)",
        udp.join(","),
        tcp.join(",")
    );
    let ufw_active = std::fs::read_to_string("/etc/ufw/ufw.conf")
        .is_ok_and(|t| t.lines().any(|l| l.trim() == "ENABLED=yes"));
    let mut fix = String::new();
    if ufw_active {
        text.push_str("; ufw is enabled");
        for p in &udp {
            let _ = write!(fix, "sudo ufw allow {p}/udp; ");
        }
        for p in &tcp {
            let _ = write!(fix, "sudo ufw allow {p}/tcp; ");
        }
    } else if find_in_path("firewall-cmd").is_some() {
        text.push_str("; firewalld is installed");
        for p in &udp {
            let _ = write!(fix, "sudo firewall-cmd --permanent --add-port={p}/udp; ");
        }
        for p in &tcp {
            let _ = write!(fix, "sudo firewall-cmd --permanent --add-port={p}/tcp; ");
        }
        fix.push_str("sudo firewall-cmd --reload");
    }
    let c = check(Level::Info, "firewall", text);
    if fix.is_empty() {
        c
    } else {
        c.fix(fix.trim_end().trim_end_matches(';'))
    }
}

pub fn render(checks: &[Check]) -> String {
    let mut out = format!("punktfunk-host {} doctor\n", crate::VERSION);
    for c in checks {
        let level = match c.level {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Problem => "PROBLEM",
            Level::Info => "info",
        };
        let _ = writeln!(out, "{level:<8} {:<11} {}", c.topic, c.message);
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "{:<20} fix: {fix}", "");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_ports_follow_the_settings() {
        let mut s = Settings::default();
        let ports: Vec<u16> = planned_ports(&s).iter().map(|p| p.1.port()).collect();
        assert_eq!(ports, [47800, 47801, 3000]);
        s.gamestream = true;
        s.port = 0;
        let ports: Vec<u16> = planned_ports(&s).iter().map(|p| p.1.port()).collect();
        assert_eq!(ports, [3000, 47984, 47989, 48010, 47998, 47999, 48000]);
    }

    #[test]
    fn the_packaged_example_config_parses_to_the_defaults() {
        let dir = std::env::temp_dir().join(format!("pf-example-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join(FILE_NAME),
            include_str!("../../../../packaging/config.toml"),
        )
        .expect("write");
        let loaded = SettingsStore::load(&dir, Default::default()).map(|s| s.get());
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert_eq!(loaded.expect("example parses"), Settings::default());
    }

    #[test]
    fn a_busy_port_is_a_problem() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let s = Settings {
            port: 0,
            api_bind: "127.0.0.1".parse().expect("ip"),
            api_port: taken.local_addr().expect("addr").port(),
            ..Settings::default()
        };
        let checks = ports(&s);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].level, Level::Problem, "{checks:?}");
    }
}
