//! The browser client end to end: the real host (`serve` on its private headless sway), headless
//! Chromium signing in to the console and opening the host's own play page (web/play.js: WebTransport
//! to the host, WebCodecs H.264 decoding onto a canvas) — tests/browser/play.mjs drives it. The page's
//! session gets its own display at the page's mode; a "game" (a full-screen solid colour) is started
//! on it through the management API, and the page must show that colour, every frame in order.
//! The screenshot goes to target/test-artifacts/play.png.

use punktfunk_e2e::api_common::{self, Answer};
use punktfunk_e2e::browser::{browser_setup, workspace_root};
use punktfunk_e2e::common;

use common::{HostCommand, HostProcess, LOOPBACK_SERVE, TempDir, artifacts_dir};
use serde_json::Value;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One management API call with the admin token.
fn call(
    host: &HostProcess,
    api: SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    api_common::call_with_token(api, &host.fingerprint, token, method, path, body)
}

#[test]
fn the_browser_plays_its_own_display_at_720p60() {
    let root = workspace_root();
    let chromium = browser_setup(&root);
    // A "game" the test launches onto the page's display: a solid magenta window, full screen.
    let stores = TempDir::new("play-stores");
    let applications = stores.path().join("share/applications");
    std::fs::create_dir_all(&applications).unwrap();
    std::fs::write(
        applications.join("magenta.desktop"),
        "[Desktop Entry]\nType=Application\nName=Magenta\nCategories=Game;\n\
         Exec=env SDL_VIDEODRIVER=wayland ffplay -loglevel error -an -fs -f lavfi -i color=c=0xff00ff:s=1280x720:r=60\n",
    )
    .unwrap();
    let mut args = LOOPBACK_SERVE.to_vec();
    args.extend(["--compositor", "headless"]);
    let mut command = HostCommand::new(&args);
    command.wrapper = vec![
        "env".to_string(),
        format!("XDG_DATA_HOME={}", stores.path().join("share").display()),
        format!("XDG_CONFIG_HOME={}", stores.path().join("config").display()),
        format!("XDG_DATA_DIRS={}", stores.path().join("none").display()),
    ];
    let host = HostProcess::start("play", command);
    let api: SocketAddr = host
        .wait_line("API https://", Duration::from_secs(60))
        .expect("host printed no `API https://…` line")
        .trim()
        .parse()
        .expect("API address");
    host.wait_line("WEBTRANSPORT ", Duration::from_secs(10))
        .expect("host printed no WEBTRANSPORT line");
    let token = std::fs::read_to_string(host.config_dir.join("admin-token"))
        .unwrap()
        .trim()
        .to_owned();

    let node = Command::new("node")
        .arg(root.join("tests/browser/play.mjs"))
        .current_dir(root.join("tests/browser"))
        .env("PF_CONSOLE_URL", format!("https://{api}/"))
        .env("PF_ADMIN_TOKEN", &token)
        .env("PF_CHROMIUM", &chromium)
        .env("PF_ARTIFACTS", artifacts_dir())
        .env("PF_MODE", "1280x720@60")
        .env("PF_SECONDS", "10")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run node tests/browser/play.mjs");

    // Once the page's session is listed, put the game on its display, as the console's "Launch on" does.
    let deadline = Instant::now() + Duration::from_secs(40);
    let session = loop {
        let sessions = call(&host, api, &token, "GET", "/api/v1/sessions", None).json();
        if let Some(s) = sessions.as_array().and_then(|a| a.first()) {
            break s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the page's session never appeared"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(session["protocol"], "browser", "{session}");
    assert_eq!(
        (session["width"].as_u64(), session["height"].as_u64()),
        (Some(1280), Some(720))
    );
    let id = session["id"].as_str().unwrap();
    let titles = call(&host, api, &token, "GET", "/api/v1/library", None).json();
    let title = titles
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "Magenta"))
        .unwrap_or_else(|| panic!("no Magenta in the library: {titles}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = serde_json::json!({ "title_id": title });
    let launched = call(
        &host,
        api,
        &token,
        "POST",
        &format!("/api/v1/sessions/{id}/launch"),
        Some(&body),
    );
    assert!(
        launched.status < 300,
        "launch answered {}: {}",
        launched.status,
        launched.error()
    );

    let out = node.wait_with_output().expect("play.mjs ran");
    assert!(out.status.success(), "play.mjs failed (see its log above)");
    let line = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(line.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("play.mjs printed no JSON ({e}): {line}"));
    eprintln!("{report}");
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    assert!(report["error"].is_null(), "{report}");
    assert_eq!(
        report["numberGaps"], 0,
        "frames decoded in order, none missing: {report}"
    );
    assert_eq!(report["framesSkipped"], 0, "{report}");
    let fps = report["fps"].as_f64().unwrap_or(0.0);
    assert!(fps >= 20.0, "the page decoded {fps:.1} fps: {report}");
    let centre: Vec<u64> = serde_json::from_value(report["centre"].clone()).unwrap_or_default();
    assert!(
        centre.len() == 3 && centre[0] > 200 && centre[1] < 60 && centre[2] > 200,
        "the page shows the game's magenta at the centre: {centre:?} ({report})"
    );
    assert!(
        report["latencySamples"].as_u64().unwrap_or(0) > 100,
        "capture → decoded latency measured: {report}"
    );
    eprintln!(
        "browser: {fps:.1} fps, capture → decoded p50 {} ms p95 {} ms",
        report["latencyP50Ms"], report["latencyP95Ms"]
    );
}
