//! Mutter input through RemoteDesktop, against a private headless Mutter: a window on the client's
//! virtual monitor receives the click where it was aimed and the typed text.

use super::test_window::{InputWindow, wait_for};
use super::{InputEvent, InputSink};
use crate::platform::capture::{self, CaptureOptions, Capturer};
use crate::platform::vdisplay::mutter::MutterBackend;
use crate::platform::vdisplay::{Mode, VirtualDisplay};
use punktfunk_core::control::input::{MouseButton, normalize};
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
