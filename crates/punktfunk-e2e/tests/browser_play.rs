//! The browser client end to end: the real host (`serve` on its private headless sway), headless
//! Chromium signing in to the console and opening the host's own play page (web/play.js: WebTransport
//! to the host, WebCodecs H.264 decoding onto a canvas) — tests/browser/play.mjs drives it. The page's
//! session gets its own display at the page's mode; a "game" (a full-screen solid colour) is started
//! on it through the management API, and the page must show that colour, every frame in order.
//! Then typing and a click in the page must land in a window on that display (the input tests'
//! recording window, real xkb keymap). The screenshot goes to target/test-artifacts/play.png.

use punktfunk_e2e::api_common::{self, Answer};
use punktfunk_e2e::browser::{browser_setup, workspace_root};
use punktfunk_e2e::common;
use punktfunk_e2e::input_window::{InputWindow, wait_for};

use common::{HostCommand, HostProcess, LOOPBACK_SERVE, TempDir, artifacts_dir};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
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

    let mut node = Command::new("node")
        .arg(root.join("tests/browser/play.mjs"))
        .current_dir(root.join("tests/browser"))
        .env("PF_CONSOLE_URL", format!("https://{api}/"))
        .env("PF_ADMIN_TOKEN", &token)
        .env("PF_CHROMIUM", &chromium)
        .env("PF_ARTIFACTS", artifacts_dir())
        .env("PF_MODE", "1280x720@60")
        .env("PF_SECONDS", "15")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run node tests/browser/play.mjs");
    let mut commands = node.stdin.take().unwrap();
    let lines = {
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stdout = BufReader::new(node.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        rx
    };
    let mut report_line = None;
    let mut next_line = |prefix: &str| -> String {
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(40))
                .unwrap_or_else(|_| panic!("play.mjs printed no {prefix} line"));
            if line.starts_with('{') {
                report_line = Some(line);
                panic!("play.mjs ended before {prefix}");
            }
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_string();
            }
        }
    };
    next_line("STREAMING");

    // The page's session is listed; put the game on its display, as the console's "Launch on" does.
    let sessions = call(&host, api, &token, "GET", "/api/v1/sessions", None).json();
    let session = sessions[0].clone();
    assert_eq!(session["protocol"], "browser", "{sessions}");
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
    let launch = format!("/api/v1/sessions/{id}/launch");
    let launched = call(&host, api, &token, "POST", &launch, Some(&body));
    assert!(
        launched.status < 300,
        "launch answered {}: {}",
        launched.status,
        launched.error()
    );
    // The page shows it: magenta at the canvas centre.
    let deadline = Instant::now() + Duration::from_secs(8);
    let centre = loop {
        writeln!(commands, "PIXEL").unwrap();
        let rgb: Vec<u32> = next_line("PIXEL")
            .split(',')
            .filter_map(|v| v.parse().ok())
            .collect();
        let magenta = rgb.len() == 3 && rgb[0] > 200 && rgb[1] < 60 && rgb[2] > 200;
        if magenta || Instant::now() > deadline {
            break rgb;
        }
        std::thread::sleep(Duration::from_millis(300));
    };

    // Typing and a click in the page land in a window on the page's own display.
    let env = &session["display"]["env"];
    let runtime = PathBuf::from(env["XDG_RUNTIME_DIR"].as_str().expect("XDG_RUNTIME_DIR"));
    let socket = runtime.join(env["WAYLAND_DISPLAY"].as_str().expect("WAYLAND_DISPLAY"));
    let window = InputWindow::open(&socket, 1280, 720).expect("a window on the page's display");
    writeln!(commands, "INPUT").unwrap();
    next_line("INPUT-SENT");
    let seen = wait_for(&window, Duration::from_secs(10), |s| {
        s.text.contains("hello") && !s.clicks.is_empty()
    });
    drop(window);

    let out = node.wait_with_output().expect("play.mjs ran");
    assert!(out.status.success(), "play.mjs failed (see its log above)");
    let line = report_line
        .or_else(|| lines.recv_timeout(Duration::from_secs(5)).ok())
        .unwrap_or_default();
    let report: Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("play.mjs printed no JSON ({e}): {line}"));
    eprintln!("{report}");
    assert!(
        centre.len() == 3 && centre[0] > 200 && centre[1] < 60 && centre[2] > 200,
        "the page shows the game's magenta at the centre: {centre:?}"
    );
    assert!(
        seen.text.contains("hello"),
        "the window got {:?}",
        seen.text
    );
    let (x, y, button) = seen.clicks[0];
    assert!(
        (x - 320.0).abs() <= 2.0 && (y - 180.0).abs() <= 2.0 && button == 0x110,
        "the click landed at ({x}, {y}) with button {button:#x}"
    );
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    assert!(report["error"].is_null(), "{report}");
    assert_eq!(
        report["numberGaps"], 0,
        "frames decoded in order, none missing: {report}"
    );
    assert_eq!(report["framesSkipped"], 0, "{report}");
    // A live stream, not a benchmark (that is docs/performance.md): frames kept coming throughout.
    let fps = report["fps"].as_f64().unwrap_or(0.0);
    assert!(fps >= 8.0, "the page decoded {fps:.1} fps: {report}");
    assert!(
        report["latencySamples"].as_u64().unwrap_or(0) > 100,
        "capture → decoded latency measured: {report}"
    );
    eprintln!(
        "browser: {fps:.1} fps, capture → decoded p50 {} ms p95 {} ms",
        report["latencyP50Ms"], report["latencyP95Ms"]
    );
}
