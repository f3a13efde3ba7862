//! Input end to end: `punktfunk-probe --input` → QUIC (motion datagrams, the input stream) → the
//! host's session → the compositor's virtual pointer and keyboard → a real Wayland window on that
//! client's own display, which decodes the keys through the keymap it was sent.
//!
//! Two clients with displays of different sizes: each one's click must land at its own
//! coordinates in its own window, and each one's text must arrive in its own window only.

use punktfunk_e2e::input_window as window;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use window::{InputWindow, wait_for};

/// `BTN_LEFT`, `BTN_RIGHT`.
const BTN_LEFT: u32 = 0x110;
const BTN_RIGHT: u32 = 0x111;

struct Host {
    child: Child,
    quic: String,
    fingerprint: String,
    wayland: PathBuf,
    config: PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.config);
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Starts `punktfunk1-host --source display` on `compositor` (`None`: detected, here its own
/// private headless sway; `Some("mutter")`: a private headless Mutter) and finds the compositor's
/// Wayland socket in its "… backend ready" log line.
fn start_host(tag: &str, compositor: Option<&str>) -> Host {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let config =
        std::env::temp_dir().join(format!("pf-input-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&config).unwrap();
    let mut cmd = Command::new(punktfunk_e2e::host_bin());
    cmd.args([
        "punktfunk1-host",
        "--source",
        "display",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--open",
    ])
    .env("PUNKTFUNK_CONFIG_DIR", &config)
    .env("RUST_LOG", "info")
    .env("NO_COLOR", "1")
    .env_remove("WAYLAND_DISPLAY")
    .env_remove("SWAYSOCK")
    .env_remove("PUNKTFUNK_COMPOSITOR")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if let Some(compositor) = compositor {
        cmd.args(["--compositor", compositor]);
    }
    if compositor == Some("mutter") {
        // Without a session bus the backend starts its own headless Mutter instead of using a
        // desktop's (the test's window must be on the same Mutter).
        cmd.env_remove("DBUS_SESSION_BUS_ADDRESS");
    }
    let mut child = cmd.spawn().expect("start punktfunk-host");
    let lines = merge_lines(&mut child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut ready, mut wayland) = (None, None);
    while ready.is_none() || wayland.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .expect("host printed no READY line and compositor socket");
        let line = strip_ansi(&line);
        if let Some(fields) = line.strip_prefix("READY ") {
            ready = Some(fields.to_owned());
        }
        if line.contains("backend ready") {
            wayland = line
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix("wayland=").map(PathBuf::from));
        }
    }
    // Keep draining so the host never blocks on a full pipe.
    std::thread::spawn(move || while lines.recv().is_ok() {});
    let ready = ready.unwrap();
    let field = |name: &str| {
        ready
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_owned))
            .unwrap_or_else(|| panic!("READY line without {name}: {ready}"))
    };
    Host {
        quic: field("quic"),
        fingerprint: field("fingerprint"),
        child,
        wayland: wayland.unwrap(),
        config,
    }
}

/// stdout and stderr of `child`, line by line; stderr is echoed for the test log.
fn merge_lines(child: &mut Child) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("host: {line}");
            let _ = tx2.send(line);
        }
    });
    rx
}

fn probe_bin() -> PathBuf {
    let host = PathBuf::from(punktfunk_e2e::host_bin());
    let probe = host.with_file_name("punktfunk-probe");
    assert!(
        probe.exists(),
        "{} missing: build the workspace (cargo build --workspace --bins)",
        probe.display()
    );
    probe
}

/// Starts a probe streaming `mode` for `seconds` that plays `script` once the stream runs.
fn probe(host: &Host, name: &str, mode: &str, seconds: u32, script: &str) -> Child {
    Command::new(probe_bin())
        .args(["connect", &host.quic, "--fingerprint", &host.fingerprint])
        .args(["--codec", "h264", "--no-stamps"])
        .args(["--bitrate-kbps", "2000", "--name", name, "--mode", mode])
        .args(["--duration", &format!("{seconds}s"), "--input", script])
        .env(
            "PUNKTFUNK_CLIENT_DIR",
            host.config.join(format!("client-{name}")),
        )
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .spawn()
        .expect("start punktfunk-probe")
}

/// Opens the test window on the display of `width`×`height` once the host has created it.
fn window_on(host: &Host, width: i32, height: i32) -> InputWindow {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match InputWindow::open(&host.wayland, width, height) {
            Ok(w) => return w,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for the {width}x{height} display: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("no window on the {width}x{height} display: {e}"),
        }
    }
}

fn close_to(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1.0
}

#[test]
fn sway_probe_input_lands_in_the_clients_own_window() {
    let host = start_host("sway", None);
    // The script waits until the test's window is up (the display only exists once the session
    // runs). Enter (evdev 28) ends the text; xkb turns it into "\r".
    let text_a = "Hello, wörld ☺ 123!";
    let mut a = probe(
        &host,
        "alpha",
        "640x360@30",
        12,
        &format!("wait 4s; move 100,50; click; wait 300ms; type {text_a}; key 28"),
    );
    let win_a = window_on(&host, 640, 360);
    let want_a = format!("{text_a}\r");
    let seen_a = wait_for(&win_a, Duration::from_secs(15), |s| s.text == want_a);
    eprintln!("window A saw {seen_a:?}");
    assert_eq!(seen_a.text, want_a);
    assert_eq!(seen_a.clicks.len(), 1, "{seen_a:?}");
    let (x, y, button) = seen_a.clicks[0];
    assert!(close_to(x, 100.0) && close_to(y, 50.0), "click at {x},{y}");
    assert_eq!(button, BTN_LEFT);
    assert!(seen_a.keyboard_focus);
    // The text keymap came and the US keymap was restored after it.
    assert!(seen_a.keymaps >= 2, "{seen_a:?}");

    // A second client with another display size: its click lands on its own display at its own
    // coordinates, its text in its own window, and nothing of it reaches client A's window.
    let mut b = probe(
        &host,
        "beta",
        "480x272@30",
        10,
        "wait 4s; move 479,271; click right; move 240,136; click; wait 300ms; type beta",
    );
    let win_b = window_on(&host, 480, 272);
    let seen_b = wait_for(&win_b, Duration::from_secs(15), |s| s.text == "beta");
    eprintln!("window B saw {seen_b:?}");
    eprintln!("window A after client B: {:?}", win_a.seen());
    assert_eq!(seen_b.text, "beta");
    assert_eq!(seen_b.clicks.len(), 2, "{seen_b:?}");
    let (x, y, button) = seen_b.clicks[0];
    assert!(
        close_to(x, 479.0) && close_to(y, 271.0),
        "corner click at {x},{y}"
    );
    assert_eq!(button, BTN_RIGHT);
    let (x, y, _) = seen_b.clicks[1];
    assert!(
        close_to(x, 240.0) && close_to(y, 136.0),
        "centre click at {x},{y}"
    );
    let after = win_a.seen();
    assert_eq!(after.text, want_a, "client B's text reached client A");
    assert_eq!(after.clicks.len(), 1, "client B's clicks reached client A");

    for p in [&mut a, &mut b] {
        let status = p.wait().expect("probe exit");
        assert!(status.success(), "probe failed: {status}");
    }
}

/// The same path through Mutter: the host's private headless Mutter creates the client's display
/// (RecordVirtual) and injects through RemoteDesktop. Text goes by keysym (Mutter maps each one
/// through its own layout), so no keymap is sent to the window — and the text is what that (us)
/// layout can type: Mutter 43 drops keysyms without a key in it ("No keycode found for keyval f6
/// in current group" for "ö" in its log; "wörld ☺" arrives as "wrld ").
#[test]
fn mutter_probe_input_lands_in_the_clients_own_window() {
    let host = start_host("mutter", Some("mutter"));
    // The wait covers opening the window once the display exists and Mutter's zoom-in of a new
    // window: input before it is fully shown lands off target (see inject/mutter_tests.rs).
    let text = "Hello, World 123!";
    let mut p = probe(
        &host,
        "alpha",
        "640x360@30",
        10,
        &format!(
            "wait 4s; move 100,50; click; move 639,359; click right; wait 300ms; type {text}; key 28"
        ),
    );
    let win = window_on(&host, 640, 360);
    let focused = wait_for(&win, Duration::from_secs(5), |s| s.keyboard_focus);
    assert!(focused.keyboard_focus, "no keyboard focus: {focused:?}");
    let want = format!("{text}\r");
    let seen = wait_for(&win, Duration::from_secs(15), |s| {
        s.text == want && s.clicks.len() == 2
    });
    eprintln!("window saw {seen:?}");
    assert_eq!(seen.text, want);
    assert_eq!(seen.clicks.len(), 2, "{seen:?}");
    let (x, y, button) = seen.clicks[0];
    assert!(close_to(x, 100.0) && close_to(y, 50.0), "click at {x},{y}");
    assert_eq!(button, BTN_LEFT);
    let (x, y, button) = seen.clicks[1];
    assert!(
        close_to(x, 639.0) && close_to(y, 359.0),
        "corner click at {x},{y}"
    );
    assert_eq!(button, BTN_RIGHT);

    let status = p.wait().expect("probe exit");
    assert!(status.success(), "probe failed: {status}");
}

/// Virtual gamepads for real: this kernel has no uinput or uhid, so scripts/input-vm.sh boots
/// Debian's kernel in a small qemu VM and runs pad-vm-check there — the host's own uinput/UHID
/// code creates an Xbox 360, Xbox One, DualSense and DualShock 4 pad, sends state, reads it back
/// through evdev / hidraw (with the kernel's own drivers bound), and sees rumble and LED output
/// reports come back as feedback.
#[test]
fn gamepads_in_a_vm_state_in_feedback_out() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash")
        .arg(root.join("scripts/input-vm.sh"))
        .arg(punktfunk_e2e::common::workspace_bin("pad-vm-check"))
        .output()
        .expect("run scripts/input-vm.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the VM check failed");
    assert!(stdout.lines().any(|l| l == "PADCHECK OK"));
    for pad in ["Xbox360", "XboxOne", "DualSense", "DualShock4"] {
        let ok = |what: &str| {
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("CHECK {pad} {what} ok")))
        };
        assert!(ok("ids"), "{pad}: ids");
        assert!(
            ok("state read back") || ok("input report read back"),
            "{pad}: state"
        );
        assert!(
            ok("rumble feedback") || ok("LED + rumble feedback"),
            "{pad}: feedback"
        );
    }
    assert!(!stdout.contains(" FAIL "), "a check failed");
}

/// Mutter input through RemoteDesktop, against a private headless Mutter: a window on the client's
/// virtual monitor receives the click where it was aimed and the typed text.
/// (The display's own input sink, without a client: the seam `serve` hands each session.)
mod mutter_tests {

    use punktfunk_core::control::input::{MouseButton, normalize};
    use punktfunk_e2e::input_window::{InputWindow, wait_for};
    use punktfunk_host::platform::capture::{self, CaptureOptions, Capturer};
    use punktfunk_host::platform::inject::{InputEvent, InputSink};
    use punktfunk_host::platform::vdisplay::mutter::MutterBackend;
    use punktfunk_host::platform::vdisplay::{Mode, VirtualDisplay};
    use std::time::{Duration, Instant};

    /// Pulls frames until the first arrives: the virtual monitor exists once its consumer negotiated.
    fn first_frame(capturer: &mut dyn Capturer) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = capturer.next_frame(Duration::from_millis(200)) {
                return;
            }
        }
        panic!("no frame from the virtual monitor within 10 s");
    }

    /// Pulls frames until the (black) test window covers the whole virtual monitor. Mutter's
    /// default plugin zooms a new window in (a scaled actor for a few hundred ms), and it picks the
    /// surface under the pointer from what it painted: input before the window is fully shown lands
    /// off target or on the background — as it would for a user, who clicks on what the stream shows.
    fn window_shown(capturer: &mut dyn Capturer, mode: Mode) {
        let (r, b) = (mode.width - 1, mode.height - 1);
        let probes = [
            (0, 0),
            (r, 0),
            (0, b),
            (r, b),
            (mode.width / 2, mode.height / 2),
        ];
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(frame)) = capturer.next_frame(Duration::from_millis(200)) {
                // The embedded cursor may cover one probe; a zooming window misses all corners.
                let black = probes
                    .iter()
                    .filter(|(x, y)| frame.rgb_at(*x, *y) == Some((0, 0, 0)))
                    .count();
                if black >= probes.len() - 1 {
                    return;
                }
            }
        }
        panic!("the test window did not cover the virtual monitor within 10 s");
    }

    fn click(sink: &mut dyn InputSink, (x, y): (u32, u32), mode: Mode, button: MouseButton) {
        let at = InputEvent::PointerAbs {
            x: normalize(x, mode.width),
            y: normalize(y, mode.height),
        };
        sink.handle(&at).expect("move");
        for down in [true, false] {
            sink.handle(&InputEvent::Button { button, down })
                .expect("button");
        }
    }

    #[test]
    fn remote_desktop_text_and_clicks_land_in_the_window() {
        let backend = MutterBackend::start_private().expect("start private mutter backend");
        let wayland = backend.private_session().expect("private").wayland_socket();
        let mode = Mode::new(640, 360, 30);
        let display = backend.create(mode, "input-test").expect("RecordVirtual");
        let mut capturer =
            capture::open(&display.capture_source(), CaptureOptions::default()).expect("capturer");
        first_frame(capturer.as_mut());
        let window = InputWindow::open(&wayland, 640, 360).unwrap_or_else(|e| {
            let log = backend.private_session().map(|s| {
                (
                    s.log_tail("compositor", 30),
                    s.pids()
                        .iter()
                        .map(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
                        .collect::<Vec<_>>(),
                )
            });
            panic!("test window: {e}; mutter log: {log:?}")
        });
        window_shown(capturer.as_mut(), mode);
        let focused = wait_for(&window, Duration::from_secs(5), |s| s.keyboard_focus);
        assert!(focused.keyboard_focus, "no keyboard focus: {focused:?}");
        let mut sink = display.input_sink().expect("RemoteDesktop sink");

        click(sink.as_mut(), (100, 50), mode, MouseButton::Left);
        click(sink.as_mut(), (639, 359), mode, MouseButton::Right);
        // Text by keysym (Mutter maps each through its layout), then Enter by keycode.
        let text = "Hello, World 123!";
        sink.handle(&InputEvent::Text(text.into())).expect("text");
        for down in [true, false] {
            sink.handle(&InputEvent::Key { code: 28, down })
                .expect("key");
        }
        let want = format!("{text}\r");
        let seen = wait_for(&window, Duration::from_secs(10), |s| {
            s.text == want && s.clicks.len() == 2
        });
        eprintln!("window saw {seen:?}");
        if seen.text != want || seen.clicks.len() != 2 {
            // With MUTTER_DEBUG=input,remote-desktop this shows every injected event.
            if let Some(s) = backend.private_session() {
                eprintln!("mutter log:\n{}", s.log_tail("compositor", 200));
            }
        }
        assert_eq!(seen.text, want);
        assert_eq!(seen.clicks.len(), 2, "{seen:?}");
        let (x, y, button) = seen.clicks[0];
        assert!(
            (x - 100.0).abs() <= 1.0 && (y - 50.0).abs() <= 1.0,
            "{seen:?}"
        );
        assert_eq!(button, 0x110);
        let (x, y, button) = seen.clicks[1];
        assert!(
            (x - 639.0).abs() <= 1.0 && (y - 359.0).abs() <= 1.0,
            "{seen:?}"
        );
        assert_eq!(button, 0x111);
        drop(sink);
        drop(window);
        drop(capturer);
        display.destroy().expect("destroy");
    }
}
