//! The web console in a real browser: the real host (`serve`, management API on a free port) with a
//! live punktfunk/1 session from the real probe, and headless Chromium — Debian's `chromium` driven
//! by playwright-core (tests/browser/console.mjs) — signing in, watching the session's graphs move,
//! arming a pairing PIN that a second probe then pairs with, saving a setting, renaming and unpairing
//! a device, launching a library game (a fixture desktop entry with a cover) onto the session and
//! ending it from the Library page, and stopping the session from the page; every page also passes
//! axe-core's WCAG 2 A/AA checks in light and dark mode.
//! Screenshots go to target/test-artifacts/ (console.png is the dashboard with the live session).

use punktfunk_e2e::browser::{browser_setup, workspace_root};
use punktfunk_e2e::common;

use common::{HostCommand, HostProcess, TempDir, artifacts_dir, workspace_bin};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (if still running) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Waits up to `timeout` for the process to end; true when it did.
    fn ended_within(&mut self, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

/// Stops the host with SIGTERM when dropped (before `HostProcess` kills it outright), so it shuts
/// down its private sway instead of leaving it running with no parent.
struct StopGently(u32);

impl Drop for StopGently {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.to_string()])
            .status();
        let stat = format!("/proc/{}/stat", self.0);
        let start = Instant::now();
        // Exited = gone or a zombie waiting for HostProcess to reap it.
        while start.elapsed() < Duration::from_secs(10) {
            match std::fs::read_to_string(&stat) {
                Ok(text)
                    if !text
                        .rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z') =>
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => return,
            }
        }
    }
}

#[test]
fn console_signs_in_sees_the_live_session_and_arms_a_pin() {
    let root = workspace_root();
    let chromium = browser_setup(&root);
    let artifacts = artifacts_dir();
    for old in ["console.png", "console-pairing.png", "console-failure.png"] {
        let _ = std::fs::remove_file(artifacts.join(old));
    }

    // The library the Library page shows: one desktop-entry game with a cover, under a test
    // XDG_DATA_HOME (never the developer's own stores). It only waits to be ended.
    let stores = TempDir::new("console-stores");
    let data_home = stores.path().join("share");
    let applications = data_home.join("applications");
    std::fs::create_dir_all(&applications).unwrap();
    let cover = stores.path().join("console-quest.png");
    let made = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=orange:s=120x180",
        ])
        .args(["-frames:v", "1"])
        .arg(&cover)
        .status()
        .expect("run ffmpeg");
    assert!(made.success(), "ffmpeg made no cover");
    std::fs::write(
        applications.join("console-quest.desktop"),
        format!(
            "[Desktop Entry]\nType=Application\nName=Console Quest\nCategories=Game;\n\
             Icon={}\nExec=sleep 300\n",
            cover.display()
        ),
    )
    .unwrap();
    let mut command = HostCommand::new(&[
        "serve",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--api-bind",
        "127.0.0.1",
        "--api-port",
        "0",
        "--no-mdns",
        "--open",
    ]);
    command.wrapper = vec![
        "env".to_string(),
        format!("XDG_DATA_HOME={}", data_home.display()),
        format!("XDG_CONFIG_HOME={}", stores.path().join("config").display()),
        format!("XDG_DATA_DIRS={}", stores.path().join("none").display()),
    ];
    let host = HostProcess::start("console", command);
    let _stop_host = StopGently(host.pid());
    let api = host
        .wait_line("API ", Duration::from_secs(30))
        .expect("host printed no `API https://…` line");
    let url = format!("{}/", api.trim().trim_end_matches('/'));
    let token = std::fs::read_to_string(host.config_dir.join("admin-token"))
        .expect("the host writes admin-token into its config dir")
        .trim()
        .to_owned();

    // Longer than the browser needs: the console stops it, and the test checks that it ended early.
    let client_dir = TempDir::new("console-probe");
    let mut probe = Running(
        Command::new(workspace_bin("punktfunk-probe"))
            .args(["connect", &host.quic.to_string()])
            .args(["--mode", "1280x720@60", "--duration", "120s", "--tofu"])
            // The host streams each client's own display (or, without a compositor, the encoded
            // test pattern): an encoded stream, checked for picture sizes only.
            .args(["--codec", "h264", "--no-stamps"])
            .args(["--name", "console-test-probe"])
            .env("PUNKTFUNK_CLIENT_DIR", client_dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start punktfunk-probe"),
    );

    // A second client pairs with the PIN the browser reads off the page.
    let pair_client_dir = TempDir::new("console-pair");

    let started = Instant::now();
    let node = Command::new("node")
        .arg(root.join("tests/browser/console.mjs"))
        .current_dir(root.join("tests/browser"))
        .env("PF_CONSOLE_URL", &url)
        .env("PF_ADMIN_TOKEN", &token)
        .env("PF_CHROMIUM", &chromium)
        .env("PF_ARTIFACTS", &artifacts)
        .env("PF_PROBE", workspace_bin("punktfunk-probe"))
        .env("PF_QUIC", host.quic.to_string())
        .env("PF_FINGERPRINT", &host.fingerprint)
        .env("PF_PAIR_CLIENT_DIR", pair_client_dir.path())
        .stderr(Stdio::inherit())
        .output()
        .expect("run node tests/browser/console.mjs");
    let stdout = String::from_utf8_lossy(&node.stdout);
    assert!(
        node.status.success(),
        "the browser test failed (its steps are above; a screenshot of the page is at {}): {stdout}",
        artifacts.join("console-failure.png").display()
    );
    let summary: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("the browser test printed no JSON summary: {stdout}"));
    eprintln!(
        "console browser test took {:.1} s: {summary}",
        started.elapsed().as_secs_f64()
    );

    let pin = summary["pin"].as_str().expect("summary has the PIN");
    assert!(
        pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit()),
        "PIN read from the page: {pin:?}"
    );
    assert_eq!(summary["pairing"]["armed"], true, "{summary}");
    assert_eq!(
        summary["paired_with_pin"], "console-paired-probe",
        "{summary}"
    );
    assert_eq!(
        summary["session"]["client_name"], "console-test-probe",
        "{summary}"
    );
    let before = summary["graph_samples"]["before"]
        .as_u64()
        .expect("samples before");
    let after = summary["graph_samples"]["after"]
        .as_u64()
        .expect("samples after");
    assert!(after >= before + 2, "the graphs did not move: {summary}");
    assert_eq!(
        summary["library"]["launched"], "desktop:console-quest",
        "{summary}"
    );
    assert_eq!(summary["library"]["cover_width"], 120, "{summary}");
    assert_eq!(summary["library"]["ended"], true, "{summary}");
    assert_eq!(summary["library"]["hid_and_unhid"], true, "{summary}");

    let screenshot = PathBuf::from(summary["screenshot"].as_str().expect("screenshot path"));
    let png = std::fs::read(&screenshot).expect("the screenshot exists");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{} is not a real PNG ({} bytes)",
        screenshot.display(),
        png.len()
    );
    println!("console screenshot: {}", screenshot.display());

    // Stopped from the console, the probe ends long before its 120 s.
    assert!(
        probe.ended_within(Duration::from_secs(15)),
        "the probe still runs after the console stopped its session"
    );
}
