//! The Debian package, end to end: `scripts/build-deb.sh --profile debug` packs the debug binaries
//! this test run already has, `apt-get install ./punktfunk-host_*.deb` installs it on this machine,
//! then the installed `/usr/bin/punktfunk-host` answers `--version` and `doctor`, the user unit
//! passes `systemd-analyze verify`, and the unit's `ExecStart` — run the way the user manager would,
//! under a fresh HOME on a machine without a desktop — reaches READY with its own PipeWire. The
//! package is removed again at the end (also when an assertion fails).
//!
//! Needs root (it installs into /usr); refuses to touch a punktfunk-host package that was installed
//! before it ran.

use punktfunk_e2e::common;

use common::{TempDir, stop_gracefully};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const UNIT: &str = "/usr/lib/systemd/user/punktfunk-host.service";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    eprintln!(
        "$ {cmd:?} -> {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "punktfunk-host"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Removes the package when the test ends, however it ends.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        run(Command::new("apt-get")
            .args(["remove", "-y", "-q", "-o", "DPkg::Lock::Timeout=120"])
            .arg("punktfunk-host")
            .env("DEBIAN_FRONTEND", "noninteractive"));
        assert!(!installed(), "punktfunk-host is still installed");
        assert!(!Path::new("/usr/bin/punktfunk-host").exists());
    }
}

/// An environment like a user manager's on a machine without a desktop: PATH, HOME, a fresh
/// XDG_RUNTIME_DIR, and nothing of this test run's session.
fn bare_env(cmd: &mut Command, home: &Path, runtime: &Path) {
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", runtime);
}

#[test]
fn deb_installs_runs_doctor_and_serves_from_the_unit() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIP: installing a package needs root");
        return;
    }
    assert!(
        !installed(),
        "a punktfunk-host package is installed on this machine; this test will not replace it"
    );
    let started = Instant::now();
    let out_dir = TempDir::new("deb");
    // target/debug/punktfunk-host → the target dir the script takes binaries from.
    let host_bin = PathBuf::from(punktfunk_e2e::host_bin());
    let target_dir = host_bin.parent().and_then(Path::parent).unwrap();
    let built = run(Command::new("bash")
        .arg(repo_root().join("scripts/build-deb.sh"))
        .args(["--profile", "debug", "--out"])
        .arg(out_dir.path())
        .env("CARGO_TARGET_DIR", target_dir));
    assert!(built.status.success(), "build-deb.sh failed");
    let deb = String::from_utf8_lossy(&built.stdout).trim().to_owned();
    assert!(deb.ends_with(".deb") && Path::new(&deb).exists(), "{deb}");
    let fields = run(Command::new("dpkg-deb").args(["-f", &deb]));
    let control = String::from_utf8_lossy(&fields.stdout);
    for want in [
        "Depends: ",
        "libavcodec",
        "libopus",
        "libpipewire",
        "Recommends: sway",
    ] {
        assert!(control.contains(want), "control lacks {want:?}:\n{control}");
    }
    eprintln!("package built after {:?}", started.elapsed());

    let install = run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(["-o", "DPkg::Lock::Timeout=120"])
        .arg(&deb)
        .env("DEBIAN_FRONTEND", "noninteractive"));
    let _installed = Installed;
    assert!(install.status.success(), "apt-get install failed");
    for path in [
        "/usr/bin/punktfunk-host",
        "/usr/bin/punktfunk-probe",
        UNIT,
        "/usr/share/doc/punktfunk-host/install.md",
        "/usr/share/doc/punktfunk-host/examples/config.toml",
    ] {
        assert!(Path::new(path).exists(), "{path} not installed");
    }
    let caps = run(Command::new("getcap").arg("/usr/bin/punktfunk-host"));
    assert!(
        caps.stdout.is_empty(),
        "the binary must carry no file capabilities"
    );

    let version = run(Command::new("/usr/bin/punktfunk-host").arg("--version"));
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    assert!(
        version.starts_with(&format!(
            "punktfunk-host {} (git ",
            env!("CARGO_PKG_VERSION")
        )),
        "{version}"
    );
    let probe_help = run(Command::new("/usr/bin/punktfunk-probe").arg("--help"));
    assert!(probe_help.status.success());

    let home = TempDir::new("deb-home");
    let runtime = TempDir::new("deb-runtime");
    // doctor: a fresh user on a bare machine, with the example config from the package.
    let config_dir = home.path().join(".config/punktfunk");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::copy(
        "/usr/share/doc/punktfunk-host/examples/config.toml",
        config_dir.join("config.toml"),
    )
    .unwrap();
    let mut doctor = Command::new("/usr/bin/punktfunk-host");
    bare_env(&mut doctor, home.path(), runtime.path());
    // Ports any free ones (other tests may hold the defaults), no mDNS.
    doctor.args(["doctor", "--port", "0", "--api-port", "0", "--no-mdns"]);
    let doctor = run(&mut doctor);
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.status.success(), "doctor found problems:\n{report}");
    for want in [
        "config.toml parses",
        "private headless sway",
        "private PipeWire",
        "libx264",
        "/dev/uinput",
        "firewall",
    ] {
        assert!(report.contains(want), "doctor says nothing of {want:?}");
    }
    // A broken config is a problem doctor names, with a non-zero exit.
    std::fs::write(config_dir.join("config.toml"), "port = \"many\"\n").unwrap();
    let mut broken = Command::new("/usr/bin/punktfunk-host");
    bare_env(&mut broken, home.path(), runtime.path());
    let broken = run(broken.arg("doctor"));
    assert!(!broken.status.success());
    assert!(String::from_utf8_lossy(&broken.stderr).contains("config: "));
    std::fs::remove_file(config_dir.join("config.toml")).unwrap();

    // Its own runtime dir: systemd-analyze leaves a `systemd` directory there.
    let verify_runtime = TempDir::new("deb-verify");
    let verify = run(Command::new("systemd-analyze")
        .args(["verify", "--user", UNIT])
        .env("XDG_RUNTIME_DIR", verify_runtime.path()));
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify complains"
    );

    // The unit's ExecStart and Environment=, as the user manager would run them; ports as a drop-in
    // (`systemctl --user edit`) would set them.
    let unit = std::fs::read_to_string(UNIT).unwrap();
    let exec: Vec<&str> = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart")
        .split_whitespace()
        .collect();
    assert_eq!(exec[0], "/usr/bin/punktfunk-host");
    let mut serve = Command::new(exec[0]);
    bare_env(&mut serve, home.path(), runtime.path());
    for env in unit.lines().filter_map(|l| l.strip_prefix("Environment=")) {
        let (k, v) = env.split_once('=').expect("Environment=K=V");
        serve.env(k, v);
    }
    let mut serve = serve
        .args(&exec[1..])
        .env("PUNKTFUNK_PORT", "0")
        .env("PUNKTFUNK_API_PORT", "0")
        .env("PUNKTFUNK_NO_MDNS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the installed punktfunk-host serve");
    let stdout = BufReader::new(serve.stdout.take().unwrap());
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let ready = loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.starts_with("READY ") => break line,
            Ok(line) => seen.push(line),
            Err(e) => {
                stop_gracefully(&mut serve);
                panic!("no READY from the unit's ExecStart ({e}); before it: {seen:?}");
            }
        }
    };
    eprintln!("unit ExecStart: {ready} after {seen:?}");
    assert!(
        seen.iter().any(|l| l.starts_with("PIPEWIRE private ")),
        "a bare box gets the host's own PipeWire: {seen:?}"
    );
    assert!(
        config_dir.join("host-cert.der").exists(),
        "state goes to the fresh HOME's ~/.config/punktfunk"
    );
    stop_gracefully(&mut serve);
    let status = serve.wait().unwrap();
    assert!(status.success(), "serve exited with {status} on SIGTERM");
    let left: Vec<_> = std::fs::read_dir(runtime.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        left.is_empty(),
        "the private sway/PipeWire left {left:?} behind"
    );
    eprintln!("package test took {:?}", started.elapsed());
}
