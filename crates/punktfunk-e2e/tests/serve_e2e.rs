//! `punktfunk-host serve` as a user runs it, on a bare machine (so it starts its own headless sway):
//! a PIN armed through the management API, a wrong PIN that uses it up, pairing with a fresh PIN,
//! 10 s of 1280×720@60 from the client's own virtual display (its background colour checked in the
//! decoded pictures), the session listed in the API with its display — and that display released
//! when the client leaves. And the game library over punktfunk/1: a desktop-entry game listed to the
//! probe, launched by it (and by the operator through the API) onto the client's own display, ended
//! by "End game" and with the session.

use punktfunk_e2e::api_common;
use punktfunk_e2e::common;

use common::{HostCommand, HostProcess, LOOPBACK_SERVE, TempDir, workspace_bin};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Serve {
    host: HostProcess,
    api: SocketAddr,
    token: String,
}

impl Serve {
    fn start(config: &Path) -> Serve {
        Serve::start_with(config, Vec::new(), &[])
    }

    /// With `wrapper` before the host (e.g. `env XDG_DATA_HOME=…`) and `extra` arguments.
    fn start_with(config: &Path, wrapper: Vec<String>, extra: &[&str]) -> Serve {
        let mut args = LOOPBACK_SERVE.to_vec();
        args.extend(["--compositor", "headless"]);
        args.extend_from_slice(extra);
        let mut command = HostCommand::new(&args);
        command.config_dir = Some(config.to_path_buf());
        command.wrapper = wrapper;
        let host = HostProcess::start("serve", command);
        let api = host
            .wait_line("API https://", Duration::from_secs(60))
            .expect("serve printed no API line");
        let api: SocketAddr = api.trim().parse().expect("API address");
        let token = std::fs::read_to_string(config.join("admin-token"))
            .expect("admin token")
            .trim()
            .to_string();
        Serve { host, api, token }
    }

    fn get(&self, path: &str) -> Value {
        let answer = self.call("GET", path, None);
        assert_eq!(answer.status, 200, "GET {path}: {}", answer.error());
        answer.json()
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> api_common::Answer {
        let fingerprint = &self.host.fingerprint;
        api_common::call_with_token(self.api, fingerprint, &self.token, method, path, body)
    }

    /// `punktfunk-host pair --native`: arms a PIN through the API, as a user would.
    fn arm_pin(&self, config: &Path) -> String {
        let out = Command::new(punktfunk_e2e::host_bin())
            .args([
                "pair",
                "--native",
                "--api-port",
                &self.api.port().to_string(),
            ])
            .env("PUNKTFUNK_CONFIG_DIR", config)
            .output()
            .unwrap();
        assert!(out.status.success(), "pair --native: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("PIN "))
            .expect("a PIN line")
            .trim()
            .to_string()
    }

    fn probe(&self, client: &Path, args: &[&str]) -> Command {
        let mut probe = Command::new(workspace_bin("punktfunk-probe"));
        probe
            .args(args)
            .env("PUNKTFUNK_CLIENT_DIR", client)
            .env("RUST_LOG", "warn");
        probe
    }

    fn quic(&self) -> String {
        self.host.quic.to_string()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn other_pin(pin: &str) -> String {
    pin.chars()
        .map(|c| if c == '9' { '0' } else { (c as u8 + 1) as char })
        .collect()
}

#[test]
fn serve_pairs_with_a_pin_streams_the_clients_display_and_releases_it() {
    let config = TempDir::new("serve-e2e");
    let client = TempDir::new("serve-e2e-client");
    let serve = Serve::start(config.path());

    // A wrong PIN is refused and uses the PIN up: the right one no longer works either.
    let pin = serve.arm_pin(config.path());
    let pair = |pin: &str| {
        serve
            .probe(
                client.path(),
                &["pair", &serve.quic(), "--pin", pin, "--name", "serve-e2e"],
            )
            .args(["--fingerprint", &serve.host.fingerprint])
            .output()
            .unwrap()
    };
    let wrong = pair(&other_pin(&pin));
    assert_eq!(wrong.status.code(), Some(3), "{}", stderr(&wrong));
    let used = pair(&pin);
    assert_eq!(used.status.code(), Some(3), "{}", stderr(&used));
    assert!(serve.get("/api/v1/devices").as_array().unwrap().is_empty());

    // A fresh PIN pairs.
    let pin = serve.arm_pin(config.path());
    let paired = pair(&pin);
    assert!(paired.status.success(), "{}", stderr(&paired));
    let devices = serve.get("/api/v1/devices");
    assert_eq!(devices[0]["name"], "serve-e2e", "{devices}");

    // 10 s at 1280×720@60 from the client's own display, no PIN or fingerprint needed any more:
    // static, then moving content, then static again.
    let session = serve
        .probe(
            client.path(),
            &[
                "connect",
                &serve.quic(),
                "--mode",
                "1280x720@60",
                "--duration",
                "10s",
                "--codec",
                "h264",
                "--no-stamps",
                "--bitrate-kbps",
                "8000",
                "--name",
                "serve-e2e",
                "--json",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // While it streams, the API shows the session on its own display.
    let deadline = Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let sessions = serve.get("/api/v1/sessions");
        if let Some(s) = sessions.as_array().and_then(|a| a.first()) {
            break s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the session never appeared in the API"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(listed["client_name"], "serve-e2e", "{listed}");
    assert_eq!(
        (&listed["width"], &listed["height"], &listed["refresh_mhz"]),
        (&Value::from(1280), &Value::from(720), &Value::from(60_000))
    );
    let display = &listed["display"];
    assert_eq!(display["compositor"], "private headless sway", "{listed}");
    assert_eq!(
        (&display["width"], &display["height"]),
        (&Value::from(1280), &Value::from(720))
    );
    let output = display["output"].as_str().expect("output name").to_string();
    let swaysock = display["env"]["SWAYSOCK"]
        .as_str()
        .expect("SWAYSOCK in the display's env")
        .to_string();
    assert!(display["env"]["WAYLAND_DISPLAY"].is_string(), "{listed}");

    // Moving content for a few seconds in the middle: FFmpeg's test source full screen on the
    // client's display (focused first, so the window opens there), then gone again.
    std::thread::sleep(Duration::from_secs(2));
    let focus = Command::new("swaymsg")
        .args(["-s", &swaysock, "focus", "output", &output])
        .output()
        .expect("swaymsg");
    assert!(focus.status.success(), "swaymsg: {}", stderr(&focus));
    let mut player = Command::new("ffplay")
        .args([
            "-loglevel",
            "error",
            "-an",
            "-fs",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
        ])
        .envs(
            display["env"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())),
        )
        .env("SDL_VIDEODRIVER", "wayland")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffplay");
    std::thread::sleep(Duration::from_secs(4));
    let _ = player.kill();
    let _ = player.wait();

    let out = session.wait_with_output().unwrap();
    assert!(out.status.success(), "probe: {}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("probe JSON");
    eprintln!("{report}");
    assert_eq!(report["mode"], "1280x720@60");
    assert_eq!(report["integrity_failures"], 0, "{report}");
    let frames = report["frames_ok"].as_u64().unwrap();
    // Software capture + x264 + the probe's decoder share two cores here; half the frames is the
    // floor for "it streams", the report above says how many really came.
    assert!(frames >= 300, "only {frames} frames in 10 s: {report}");
    // The test source changes every frame it shows (≈ 4 s at up to 30 fps); the static desktop
    // before and after adds a change or two.
    let changed = report["frames_changed"].as_u64().unwrap();
    assert!(changed >= 40, "only {changed} changed pictures: {report}");
    let rgb: Vec<u64> = report["centre_rgb"]
        .as_array()
        .expect("a decoded picture")
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    // The display's default background, #3a6ea5, through 4:2:0 and a lossy codec.
    let near = |a: u64, b: u64| a.abs_diff(b) <= 8;
    assert!(
        near(rgb[0], 0x3a) && near(rgb[1], 0x6e) && near(rgb[2], 0xa5),
        "centre colour {rgb:?}"
    );

    // The client left: the session is gone and its display released. sway ≥ 1.8 unplugs it; 1.7
    // cannot, so it goes back to the host's pool: warm at its mode for a while (the next client at
    // that mode takes it without a re-mode), later parked at 64×64.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !serve.get("/api/v1/sessions").as_array().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the session outlived its client");
        std::thread::sleep(Duration::from_millis(100));
    }
    let outputs = Command::new("swaymsg")
        .args(["-s", &swaysock, "-t", "get_outputs", "-r"])
        .output()
        .expect("swaymsg");
    assert!(outputs.status.success(), "swaymsg: {}", stderr(&outputs));
    let outputs: Value = serde_json::from_slice(&outputs.stdout).unwrap();
    let still = outputs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == output.as_str());
    let Some(o) = still else { return };
    let size = (&o["current_mode"]["width"], &o["current_mode"]["height"]);
    assert!(
        size == (&Value::from(64), &Value::from(64))
            || size == (&Value::from(1280), &Value::from(720)),
        "{output} is neither parked nor warm at the last client's mode: {o}"
    );
    // Released, not merely left over: the next client at that mode is given this very output.
    let again = serve
        .probe(
            client.path(),
            &[
                "connect",
                &serve.quic(),
                "--mode",
                "1280x720@60",
                "--duration",
                "2s",
                "--codec",
                "h264",
                "--no-stamps",
                "--name",
                "serve-e2e",
                "--json",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let sessions = serve.get("/api/v1/sessions");
        if let Some(s) = sessions.as_array().and_then(|a| a.first()) {
            break s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the second session never appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(listed["display"]["output"], output.as_str(), "{listed}");
    let out = again.wait_with_output().unwrap();
    assert!(out.status.success(), "second probe: {}", stderr(&out));
}

/// Whether any process runs with `marker` in its command line.
fn process_running(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
        std::fs::read(p.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(marker))
            .unwrap_or(false)
    })
}

fn centre(report: &Value) -> Vec<u64> {
    report["centre_rgb"]
        .as_array()
        .unwrap_or_else(|| panic!("no decoded picture: {report}"))
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

#[test]
fn punktfunk1_lists_launches_and_ends_library_games_on_the_clients_display() {
    let config = TempDir::new("serve-library");
    let client = TempDir::new("serve-library-client");
    let stores = TempDir::new("serve-library-stores");
    let data_home = stores.path().join("share");
    let applications = data_home.join("applications");
    std::fs::create_dir_all(&applications).unwrap();
    // A "game" that fills its display with red until it is stopped; the odd size marks its process.
    // Its cover is a PNG the client downloads over the control stream, several chunks long.
    let marker = "color=c=red:size=322x182";
    let cover = stores.path().join("red-square.png");
    let made = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi"])
        // Noise: a PNG that does not compress, about 190 KB.
        .args([
            "-i",
            "nullsrc=s=300x450,geq=lum='random(1)*255':cb=128:cr=128",
        ])
        .args(["-frames:v", "1"])
        .arg(&cover)
        .status()
        .expect("run ffmpeg");
    assert!(made.success(), "ffmpeg made no cover");
    std::fs::write(
        applications.join("red-square.desktop"),
        format!(
            "[Desktop Entry]\nType=Application\nName=Red Square\nCategories=Game;\n\
             Icon={}\n\
             Exec=env SDL_VIDEODRIVER=wayland ffplay -loglevel error -an -fs -f lavfi -i {marker}:rate=10\n",
            cover.display()
        ),
    )
    .unwrap();
    let wrapper = vec![
        "env".to_string(),
        format!("XDG_DATA_HOME={}", data_home.display()),
        format!("XDG_CONFIG_HOME={}", stores.path().join("config").display()),
        format!("XDG_DATA_DIRS={}", stores.path().join("none").display()),
    ];
    let serve = Serve::start_with(config.path(), wrapper, &["--open"]);
    let connect = |duration: &str, extra: &[&str]| {
        let mut args = vec![
            "--tofu",
            "--mode",
            "640x360@30",
            "--duration",
            duration,
            "--codec",
            "h264",
            "--no-stamps",
            "--bitrate-kbps",
            "4000",
            "--name",
            "library-e2e",
            "--json",
        ];
        args.extend_from_slice(extra);
        let quic = serve.quic();
        let mut probe = serve.probe(client.path(), &["connect", &quic]);
        probe.args(&args);
        probe
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let finish = |probe: std::process::Child| -> Value {
        let out = probe.wait_with_output().unwrap();
        assert!(out.status.success(), "probe: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("probe JSON")
    };

    // The probe lists the library, downloads the cover and launches the game: its last picture
    // is the game's red.
    let art_out = client.path().join("cover.png");
    let report = finish(connect(
        "8s",
        &[
            "--library",
            "--launch",
            "desktop:red-square",
            "--art",
            "desktop:red-square",
            "--art-out",
            art_out.to_str().unwrap(),
        ],
    ));
    eprintln!("{report}");
    let library = report["library"].as_array().expect("the library");
    assert!(
        library.contains(
            &serde_json::json!({"id": "desktop:red-square", "name": "Red Square", "has_art": true})
        ),
        "{library:?}"
    );
    let sent = std::fs::read(&cover).unwrap();
    assert!(
        sent.len() > 2 * punktfunk_core::control::MAX_ART_CHUNK,
        "the cover spans several chunks"
    );
    assert_eq!(report["art"]["media_type"], "image/png", "{report}");
    assert_eq!(report["art"]["total"], sent.len(), "{report}");
    assert!(report["art"]["error"].is_null(), "{report}");
    assert_eq!(
        std::fs::read(&art_out).expect("the probe saved the cover"),
        sent,
        "the cover arrives byte for byte"
    );
    assert_eq!(report["launch"]["ok"], true, "{report}");
    assert!(report["launch"]["ended"].is_null(), "{report}");
    let rgb = centre(&report);
    assert!(
        rgb[0] > 180 && rgb[1] < 80 && rgb[2] < 80,
        "the game is on the client's display: centre {rgb:?}"
    );
    // The session ended, and the game with it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while process_running(marker) {
        assert!(Instant::now() < deadline, "the game outlived its session");
        std::thread::sleep(Duration::from_millis(100));
    }

    // `punktfunk-host library refresh` asks the running host to rescan, as a user would.
    let out = Command::new(punktfunk_e2e::host_bin())
        .args([
            "library",
            "refresh",
            "--api-port",
            &serve.api.port().to_string(),
        ])
        .env("PUNKTFUNK_CONFIG_DIR", config.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "library refresh: {}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    let count: usize = printed
        .trim()
        .strip_suffix(" titles")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("library refresh printed {printed:?}"));
    assert!(count >= 1, "{printed}");

    // The operator launches it onto a running session through the API, then ends it: the stream
    // goes on, back on the desktop's background. (The first session is gone from the list first,
    // so the one found below is the new one.)
    let deadline = Instant::now() + Duration::from_secs(10);
    while !serve.get("/api/v1/sessions").as_array().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the first session is still listed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let probe = connect("12s", &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let id = loop {
        let sessions = serve.get("/api/v1/sessions");
        if let Some(id) = sessions[0]["id"].as_str() {
            break id.to_string();
        }
        assert!(Instant::now() < deadline, "the session never appeared");
        std::thread::sleep(Duration::from_millis(100));
    };
    let launch_path = format!("/api/v1/sessions/{id}/launch");
    let unknown = serve.call(
        "POST",
        &launch_path,
        Some(&serde_json::json!({"title_id": "desktop:nope"})),
    );
    assert_eq!(unknown.status, 404, "{}", unknown.error());
    let missing = serve.call(
        "POST",
        "/api/v1/sessions/00000000/launch",
        Some(&serde_json::json!({"title_id": "desktop:red-square"})),
    );
    assert_eq!(missing.status, 404, "{}", missing.error());
    let launched = serve.call(
        "POST",
        &launch_path,
        Some(&serde_json::json!({"title_id": "desktop:red-square"})),
    );
    assert_eq!(launched.status, 204, "{:?}", launched.body);
    assert_eq!(
        serve.get(&format!("/api/v1/sessions/{id}"))["app"],
        "desktop:red-square"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(process_running(marker), "the game runs");
    let ended = serve.call("DELETE", &format!("/api/v1/sessions/{id}/app"), None);
    assert_eq!(ended.status, 204, "{:?}", ended.body);
    let deadline = Instant::now() + Duration::from_secs(6);
    while process_running(marker) || !serve.get(&format!("/api/v1/sessions/{id}"))["app"].is_null()
    {
        assert!(Instant::now() < deadline, "End game left the game running");
        std::thread::sleep(Duration::from_millis(100));
    }
    let again = serve.call("DELETE", &format!("/api/v1/sessions/{id}/app"), None);
    assert_eq!(again.status, 404, "nothing left to end");
    let report = finish(probe);
    let rgb = centre(&report);
    let near = |a: u64, b: u64| a.abs_diff(b) <= 8;
    assert!(
        near(rgb[0], 0x3a) && near(rgb[1], 0x6e) && near(rgb[2], 0xa5),
        "after End game the desktop shows again: centre {rgb:?}"
    );
}

/// The pattern the colour test shows: a 1-px red line every 4 px on blue (thin coloured strokes
/// on a contrasting background, as text is).
fn stroke_pattern(x: usize) -> [u8; 3] {
    if x.is_multiple_of(4) {
        [255, 0, 0]
    } else {
        [0, 0, 255]
    }
}

/// Mean absolute error per colour component of a dumped P6 picture against [`stroke_pattern`],
/// over the picture's centre (away from edges the encoder treats differently).
fn stroke_error(ppm: &[u8]) -> f64 {
    let header_end = ppm
        .windows(4)
        .position(|w| w == b"255\n")
        .expect("a P6 header")
        + 4;
    let header = std::str::from_utf8(&ppm[..header_end]).unwrap();
    let dims: Vec<usize> = header
        .split_whitespace()
        .skip(1)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    let (w, h) = (dims[0], dims[1]);
    let rgb = &ppm[header_end..];
    assert_eq!(rgb.len(), w * h * 3, "{header:?}");
    let (mut sum, mut n) = (0u64, 0u64);
    for y in h / 4..h * 3 / 4 {
        for x in w / 4..w * 3 / 4 {
            let want = stroke_pattern(x);
            for c in 0..3 {
                sum += u64::from(rgb[(y * w + x) * 3 + c].abs_diff(want[c]));
                n += 1;
            }
        }
    }
    sum as f64 / n as f64
}

#[test]
fn punktfunk1_streams_4_4_4_and_10_bit_when_the_client_asks() {
    let config = TempDir::new("serve-colour");
    let client = TempDir::new("serve-colour-client");
    let stores = TempDir::new("serve-colour-stores");
    // The pattern, exactly the display's size, shown full screen by a "game" the probe launches.
    let pattern = stores.path().join("strokes.png");
    let made = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(
            "nullsrc=s=640x360,format=gbrp,\
             geq=r='if(eq(mod(X\\,4)\\,0)\\,255\\,0)':g='0':b='if(eq(mod(X\\,4)\\,0)\\,0\\,255)'",
        )
        .args(["-frames:v", "1", "-pix_fmt", "rgb24"])
        .arg(&pattern)
        .status()
        .expect("run ffmpeg");
    assert!(made.success(), "ffmpeg made no pattern");
    let applications = stores.path().join("share/applications");
    std::fs::create_dir_all(&applications).unwrap();
    std::fs::write(
        applications.join("strokes.desktop"),
        format!(
            "[Desktop Entry]\nType=Application\nName=Strokes\nCategories=Game;\n\
             Exec=env SDL_VIDEODRIVER=wayland ffplay -loglevel error -an -fs -loop 0 {}\n",
            pattern.display()
        ),
    )
    .unwrap();
    let wrapper = vec![
        "env".to_string(),
        format!("XDG_DATA_HOME={}", stores.path().join("share").display()),
        format!("XDG_CONFIG_HOME={}", stores.path().join("config").display()),
        format!("XDG_DATA_DIRS={}", stores.path().join("none").display()),
    ];
    let serve = Serve::start_with(config.path(), wrapper, &["--open"]);
    let stream = |color: &str| -> (Value, f64) {
        // Kept for a look afterwards: target/test-artifacts/colour-<format>.ppm.
        let name = if color.is_empty() { "420" } else { color };
        let dump = common::artifacts_dir().join(format!("colour-{name}.ppm"));
        let quic = serve.quic();
        let mut probe = serve.probe(client.path(), &["connect", &quic]);
        probe.args([
            "--tofu",
            "--mode",
            "640x360@30",
            "--duration",
            "6s",
            "--codec",
            "hevc",
            "--no-stamps",
            "--bitrate-kbps",
            "20000",
            "--name",
            "colour-e2e",
            "--json",
            "--launch",
            "desktop:strokes",
            "--color",
            color,
            "--dump-frame",
        ]);
        probe.arg(&dump);
        let out = probe.output().unwrap();
        assert!(
            out.status.success(),
            "probe --color {color:?}: {}",
            stderr(&out)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("probe JSON");
        let error = stroke_error(&std::fs::read(&dump).expect("the probe dumped a picture"));
        // One client after the other: the next one gets this display back from the pool.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !serve.get("/api/v1/sessions").as_array().unwrap().is_empty() {
            assert!(Instant::now() < deadline, "the session outlived its client");
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "--color {color:?}: stroke error {error:.1}: {}",
            report["video_format"]
        );
        (report, error)
    };

    let (plain, error_420) = stream("");
    assert_eq!(plain["color_format"], 0, "{plain}");
    assert_eq!(plain["video_format"]["chroma"], "4:2:0", "{plain}");
    assert_eq!(plain["video_format"]["bit_depth"], 8, "{plain}");

    let (full, error_444) = stream("444");
    assert_eq!(full["color_format"], 2, "{full}");
    assert_eq!(full["video_format"]["chroma"], "4:4:4", "{full}");
    assert_eq!(full["video_format"]["bit_depth"], 8, "{full}");

    let (deep, _) = stream("10bit");
    assert_eq!(deep["color_format"], 1, "{deep}");
    assert_eq!(deep["video_format"]["bit_depth"], 10, "{deep}");
    assert_eq!(deep["video_format"]["chroma"], "4:2:0", "{deep}");

    let (full_deep, error_444_10) = stream("444,10bit");
    assert_eq!(full_deep["color_format"], 3, "{full_deep}");
    assert_eq!(full_deep["video_format"]["chroma"], "4:4:4", "{full_deep}");
    assert_eq!(full_deep["video_format"]["bit_depth"], 10, "{full_deep}");
    for report in [&plain, &full, &deep, &full_deep] {
        // SDR desktop captures: BT.709, as the Welcome says and the bitstream signals.
        assert_eq!(report["color"]["primaries"], 1, "{report}");
        assert_eq!(report["video_format"]["primaries"], "bt709", "{report}");
        assert_eq!(report["video_format"]["matrix"], "bt709", "{report}");
        assert_eq!(report["video_format"]["transfer"], "bt709", "{report}");
    }
    // Thin coloured strokes survive 4:4:4; 4:2:0 halves their colour resolution.
    for (name, error) in [("4:4:4", error_444), ("10-bit 4:4:4", error_444_10)] {
        assert!(
            error * 2.0 < error_420,
            "{name} stroke error {error:.1} is not well below 4:2:0's {error_420:.1}"
        );
    }
}
