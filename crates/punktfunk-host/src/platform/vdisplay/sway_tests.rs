//! Acceptance tests against a real private headless sway (installed by scripts/setup.sh).
//!
//! Each test starts its own sway; a file lock runs them one at a time, so the rate measurements
//! are not disturbed by a sibling test's compositor.

use super::headless::find_in_path;
use super::process_group::live_group_members;
use super::sway::{FIRST_OUTPUT_MODE, PARK_MODE, Release, SwayBackend};
use super::{DEFAULT_BACKGROUND, DisplayHandle, Mode, Rgb, VirtualDisplay};
use crate::platform::capture::{self, CaptureOptions, CaptureSource, CapturedFrame, Capturer};
use crate::platform::vdisplay::test_client::Animator;
use std::time::{Duration, Instant};

/// Serialises the tests that start a sway, across threads and across processes (nextest runs
/// each test in its own process): an exclusive flock held for the test's life.
struct SwayTestLock(#[allow(dead_code)] std::fs::File);

fn lock() -> SwayTestLock {
    let path = std::env::temp_dir().join("punktfunk-sway-tests.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .expect("open the sway test lock file");
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).expect("flock");
    SwayTestLock(file)
}

fn start_sway() -> SwayBackend {
    assert!(
        find_in_path("sway").is_some(),
        "sway is not installed: run scripts/setup.sh (it installs sway; CI runs it before the tests)"
    );
    SwayBackend::start_private().expect("start a private headless sway")
}

fn capturer(display: &dyn DisplayHandle, damage: bool) -> Box<dyn Capturer> {
    capture::open(
        &display.capture_source(),
        CaptureOptions {
            cursor: true,
            damage,
        },
    )
    .expect("open capturer")
}

/// Captures until the centre pixel shows `colour` (swaybg repaints asynchronously).
fn wait_for_centre(cap: &mut dyn Capturer, colour: Rgb) -> CapturedFrame {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(frame) = cap.next_frame(Duration::from_millis(250)).expect("capture") {
            let centre = frame.rgb_at(frame.width / 2, frame.height / 2);
            if centre == Some((colour.0, colour.1, colour.2)) {
                return frame.clone();
            }
            last = centre;
        }
    }
    panic!("centre pixel never became {colour:?}; last seen {last:?}");
}

/// CPU time (user + system) from a /proc/.../stat file, in seconds.
fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the comm: state is field 3, utime 14, stime 15 → indices 11 and 12 here.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

fn output_mode(backend: &SwayBackend, name: &str) -> Option<(u32, u32, u32)> {
    backend
        .outputs()
        .expect("get_outputs")
        .into_iter()
        .find(|o| o.name == name)
        .and_then(|o| o.current_mode)
        .map(|m| (m.width, m.height, m.refresh))
}

#[test]
fn sway_three_displays_sizes_colours_and_release() {
    let _guard = lock();
    let backend = start_sway();
    let sway_pid = backend.private_sway().expect("private").pid() as i32;
    let runtime_dir = backend
        .private_sway()
        .expect("private")
        .runtime_dir()
        .to_owned();
    println!(
        "sway {} ({:?}), {}",
        backend.version().human_readable,
        backend.release_strategy(),
        backend.private_sway().expect("private").describe()
    );

    let wanted = [
        (Mode::new(1280, 720, 60), Rgb(0xd0, 0x20, 0x20)),
        (Mode::new(1920, 1080, 120), Rgb(0x20, 0xb0, 0x30)),
        (Mode::new(1366, 768, 30), Rgb(0xe0, 0xc0, 0x10)),
    ];
    let mut displays = Vec::new();
    for (i, (mode, colour)) in wanted.iter().enumerate() {
        let t = Instant::now();
        let mut d = backend
            .create(*mode, &format!("client-{i}"))
            .expect("create display");
        let created = t.elapsed();
        d.set_background(*colour).expect("paint");
        assert_eq!(d.mode(), *mode);
        assert_eq!(
            output_mode(&backend, d.name()),
            Some((mode.width, mode.height, mode.refresh_mhz)),
            "sway reports the exact mode for {}",
            d.name()
        );
        println!("created {} at {mode} in {created:?}", d.name());
        displays.push(d);
    }

    // Capture each: exact size, its own colour in the centre.
    for (d, (mode, colour)) in displays.iter().zip(&wanted) {
        let mut cap = capturer(d.as_ref(), true);
        let t = Instant::now();
        let frame = wait_for_centre(cap.as_mut(), *colour);
        println!(
            "{}: {}x{} {:?} stride {} centre {:?} after {:?} (timestamp {:?})",
            d.name(),
            frame.width,
            frame.height,
            frame.format,
            frame.stride,
            frame.rgb_at(frame.width / 2, frame.height / 2),
            t.elapsed(),
            frame.timestamp
        );
        assert_eq!((frame.width, frame.height), (mode.width, mode.height));
        assert!(frame.stride >= frame.width * 4);
        assert!(frame.timestamp > Duration::ZERO, "presentation timestamp");
        // Corners too: the whole display is painted.
        assert_eq!(
            frame.rgb_at(0, 0),
            Some((colour.0, colour.1, colour.2)),
            "top-left of {}",
            d.name()
        );
        assert_eq!(
            frame.rgb_at(frame.width - 1, frame.height - 1),
            Some((colour.0, colour.1, colour.2))
        );

        // Unchanged display + damage tracking: no frame, no copy.
        let before = cap.stats();
        let t = Instant::now();
        let next = cap
            .next_frame(Duration::from_millis(300))
            .expect("capture")
            .is_some();
        let after = cap.stats();
        println!(
            "{}: unchanged for {:?} → {}; bytes read meanwhile: {}",
            d.name(),
            t.elapsed(),
            if next { "a frame" } else { "no frame" },
            after.bytes_read - before.bytes_read
        );
        assert!(
            !next,
            "an unchanged display must not yield frames with damage tracking"
        );
        assert_eq!(
            after.bytes_read, before.bytes_read,
            "no copy while unchanged"
        );
    }

    // Change one display: the damaged copy arrives and shows the new colour.
    {
        let d = &mut displays[0];
        let mut cap = capturer(d.as_ref(), true);
        wait_for_centre(cap.as_mut(), wanted[0].1);
        let new = Rgb(0x10, 0x10, 0xe0);
        d.set_background(new).expect("repaint");
        let frame = wait_for_centre(cap.as_mut(), new);
        println!(
            "repaint of {} arrived with damage {:?}",
            d.name(),
            frame.damage
        );
    }

    // Capture time of a 1280×720 frame without damage tracking (full copy every time).
    {
        let d = &displays[0];
        let mut cap = capturer(d.as_ref(), false);
        cap.next_frame(Duration::from_secs(5))
            .expect("capture")
            .expect("frame");
        let before = cap.stats();
        let n = 30;
        let t = Instant::now();
        for _ in 0..n {
            cap.next_frame(Duration::from_secs(5))
                .expect("capture")
                .expect("frame");
        }
        let per = t.elapsed() / n;
        let read = (cap.stats().read_time - before.read_time) / n;
        println!(
            "1280x720 full capture: {:.2} ms per frame from request to pixels (each copy waits for \
             the compositor's next render of this static display), of which reading the pixels \
             out of the shm buffer {:.2} ms ({n} frames)",
            per.as_secs_f64() * 1e3,
            read.as_secs_f64() * 1e3,
        );
    }

    // Mode change under a running capturer: the next frame has the new size.
    {
        let d = &mut displays[2];
        let mut cap = capturer(d.as_ref(), true);
        wait_for_centre(cap.as_mut(), wanted[2].1);
        let new = Mode::new(1024, 600, 75);
        d.set_mode(new).expect("set_mode");
        assert_eq!(output_mode(&backend, d.name()), Some((1024, 600, 75000)));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            assert!(Instant::now() < deadline, "no frame at the new mode");
            if let Some(f) = cap.next_frame(Duration::from_millis(250)).expect("capture")
                && (f.width, f.height) == (1024, 600)
            {
                assert_eq!(f.rgb_at(512, 300), Some((0xe0, 0xc0, 0x10)));
                break;
            }
        }
        println!("{} switched to {new} under a running capturer", d.name());
    }

    // Release: sway 1.7 parks and pools (no warm outputs here: sway_warm_pool_* covers those);
    // ≥ 1.8 unplugs.
    backend.set_warm_pool(0, Duration::ZERO);
    let names: Vec<String> = displays.iter().map(|d| d.name().to_owned()).collect();
    for d in displays {
        d.destroy().expect("destroy");
    }
    let outputs = backend.outputs().expect("get_outputs");
    match backend.release_strategy() {
        Release::Park => {
            for name in &names {
                let o = outputs
                    .iter()
                    .find(|o| &o.name == name)
                    .expect("parked output still listed");
                let m = o.current_mode.expect("mode");
                assert_eq!(
                    (m.width, m.height, m.refresh),
                    (PARK_MODE.width, PARK_MODE.height, PARK_MODE.refresh_mhz),
                    "{name} is parked"
                );
            }
            let mut pooled = backend.pooled();
            pooled.sort();
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(pooled, sorted, "released outputs are pooled");
            println!("released {names:?}: parked at {PARK_MODE} and pooled (sway 1.7)");

            // Reuse: a new display takes a pooled output, at its own mode, with the default
            // background again (not the previous client's colour).
            let d = backend
                .create(Mode::new(1600, 900, 60), "reuse")
                .expect("create from pool");
            assert!(
                names.iter().any(|n| n == d.name()),
                "{} came from the pool",
                d.name()
            );
            assert_eq!(output_mode(&backend, d.name()), Some((1600, 900, 60000)));
            let mut cap = capturer(d.as_ref(), true);
            let frame = wait_for_centre(cap.as_mut(), DEFAULT_BACKGROUND);
            assert_eq!((frame.width, frame.height), (1600, 900));
            drop(cap);
            d.destroy().expect("destroy reused");
        }
        Release::Unplug => {
            for name in &names {
                assert!(
                    !outputs.iter().any(|o| &o.name == name),
                    "{name} was unplugged"
                );
            }
            println!("released {names:?}: unplugged (sway ≥ 1.8)");
        }
    }

    // Teardown: no sway or helper (swaybg) process of ours remains; the runtime dir is gone.
    assert!(
        !live_group_members(sway_pid).is_empty(),
        "sway is running before teardown"
    );
    drop(backend);
    let left = live_group_members(sway_pid);
    assert!(left.is_empty(), "processes left after teardown: {left:?}");
    assert!(!runtime_dir.exists(), "runtime dir removed");
}

/// Creates a display at `mode` the way a session does (create, then start capturing) and times
/// it up to the first captured frame that shows the default background at the right size: the
/// display's share of a session's connect → first datagram.
fn create_until_first_frame(
    backend: &SwayBackend,
    mode: Mode,
    label: &str,
) -> (Box<dyn DisplayHandle>, Duration) {
    let t = Instant::now();
    let d = backend.create(mode, label).expect("create display");
    let mut cap = capturer(d.as_ref(), true);
    let frame = wait_for_centre(cap.as_mut(), DEFAULT_BACKGROUND);
    let took = t.elapsed();
    assert_eq!((frame.width, frame.height), (mode.width, mode.height));
    (d, took)
}

/// What one display at `mode` costs to get going, whatever the pool holds: well under the
/// 300 ms connect → first datagram budget even on a loaded 2-core box. (Parked at 1 Hz, re-moding
/// took 0–1 s, waiting for wlroots' old frame timer.)
const FIRST_FRAME_BUDGET: Duration = Duration::from_millis(400);

#[test]
fn sway_warm_pool_reuses_outputs_fast_and_parks_them_later() {
    let _guard = lock();
    let backend = start_sway();
    if backend.release_strategy() != Release::Park {
        println!("sway ≥ 1.8 unplugs released outputs: no pool to test");
        return;
    }
    // The defaults, spelled out so the counts below do not depend on them.
    backend.set_warm_pool(2, Duration::from_secs(600));
    let hd = Mode::new(1280, 720, 60);

    // Our own sway starts with one output in the pool, so the first session does not wait for
    // one to be made.
    let pool = backend.pool();
    assert_eq!(pool.len(), 1, "{pool:?}");
    assert_eq!(pool[0].mode, FIRST_OUTPUT_MODE);
    assert_eq!(
        output_mode(&backend, &pool[0].name),
        Some((1920, 1080, 60000)),
        "sway agrees"
    );

    // The first display takes it, is painted by its client, then released: it stays warm at its
    // mode, with the default background painted again.
    let (mut d, fresh) = create_until_first_frame(&backend, hd, "first");
    assert_eq!(d.name(), pool[0].name);
    let name = d.name().to_owned();
    d.set_background(Rgb(0xd0, 0x20, 0x20)).expect("paint");
    d.destroy().expect("destroy");
    let pool = backend.pool();
    assert_eq!(pool.len(), 1, "{pool:?}");
    assert!(pool[0].is_warm() && pool[0].mode == hd, "{pool:?}");
    assert_eq!(output_mode(&backend, &name), Some((1280, 720, 60000)));
    println!("first output {name} re-moded to {hd}: first frame after {fresh:?}");
    assert!(fresh < FIRST_FRAME_BUDGET, "{fresh:?}");

    // The same mode again: the same output, no re-mode, not the last client's colour.
    let (d, same) = create_until_first_frame(&backend, hd, "same mode");
    assert_eq!(d.name(), name);
    assert!(backend.pool().is_empty());
    d.destroy().expect("destroy");
    println!("warm output at the same mode: first frame after {same:?}");
    assert!(same < FIRST_FRAME_BUDGET, "{same:?}");

    // Another mode: the warm output is re-moded.
    let fhd = Mode::new(1920, 1080, 60);
    let (d, other) = create_until_first_frame(&backend, fhd, "other mode");
    assert_eq!(d.name(), name);
    d.destroy().expect("destroy");
    println!("warm output re-moded to {fhd}: first frame after {other:?}");
    assert!(other < FIRST_FRAME_BUDGET, "{other:?}");

    // Someone else re-modes the pooled output (a session's own sway is shared with its user): the
    // pool notices and sets the mode again instead of trusting its books.
    let swaymsg = std::process::Command::new("swaymsg")
        .arg("-s")
        .arg(backend.ipc_socket())
        .args(["--", "output", &name, "mode", "--custom", "800x600@60Hz"])
        .output()
        .expect("swaymsg");
    assert!(swaymsg.status.success(), "{swaymsg:?}");
    assert_eq!(output_mode(&backend, &name), Some((800, 600, 60000)));
    let (d, _) = create_until_first_frame(&backend, fhd, "re-moded behind our back");
    assert_eq!(d.name(), name);
    assert_eq!(output_mode(&backend, &name), Some((1920, 1080, 60000)));
    d.destroy().expect("destroy");

    // Three at once, released: the pool holds exactly those three (released outputs are reused,
    // never leaked), at most two of them warm — the most recently released — the rest parked.
    let modes = [hd, fhd, Mode::new(1366, 768, 30)];
    let displays: Vec<_> = modes
        .iter()
        .map(|&m| backend.create(m, "trio").expect("create"))
        .collect();
    let mut names: Vec<String> = displays.iter().map(|d| d.name().to_owned()).collect();
    assert!(names.contains(&name), "the pooled output is reused");
    for d in displays {
        d.destroy().expect("destroy");
    }
    let pool = backend.pool();
    let mut pooled: Vec<String> = pool.iter().map(|p| p.name.clone()).collect();
    pooled.sort();
    names.sort();
    assert_eq!(
        pooled, names,
        "every released output is pooled, nothing else"
    );
    let warm: Vec<_> = pool.iter().filter(|p| p.is_warm()).collect();
    assert_eq!(warm.len(), 2, "{pool:?}");
    for p in &pool {
        let m = if p.is_warm() { p.mode } else { PARK_MODE };
        assert_eq!(
            output_mode(&backend, &p.name),
            Some((m.width, m.height, m.refresh_mhz)),
            "sway agrees on {}'s mode",
            p.name
        );
    }
    // The last two released (1366×768, 1920×1080) are the warm ones.
    let mut warm_modes: Vec<Mode> = warm.iter().map(|p| p.mode).collect();
    warm_modes.sort_by_key(|m| m.width);
    assert_eq!(warm_modes, vec![modes[2], modes[1]]);

    // Idle warm outputs cost sway next to nothing: no views, no screencopy client, no damage.
    let sway_stat = format!(
        "/proc/{}/stat",
        backend.private_sway().expect("private").pid()
    );
    let (cpu0, t) = (cpu_seconds(&sway_stat), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let idle = (cpu_seconds(&sway_stat) - cpu0) / t.elapsed().as_secs_f64() * 100.0;
    println!(
        "sway with {} warm + parked outputs idle: {idle:.1} % of a core",
        warm.len()
    );
    assert!(idle < 10.0, "idle warm outputs cost sway {idle:.1} %");

    // Warm for a while only: the housekeeping thread parks them once that is over.
    backend.set_warm_pool(2, Duration::from_millis(300));
    let deadline = Instant::now() + Duration::from_secs(5);
    while backend.pool().iter().any(|p| p.is_warm()) {
        assert!(Instant::now() < deadline, "warm outputs never parked");
        std::thread::sleep(Duration::from_millis(50));
    }
    for n in &names {
        assert_eq!(
            output_mode(&backend, n),
            Some((PARK_MODE.width, PARK_MODE.height, PARK_MODE.refresh_mhz)),
            "{n} parked"
        );
    }

    // Parked outputs come back fast too, every time (the old 1 Hz parking cost 0–1 s each).
    backend.set_warm_pool(0, Duration::ZERO);
    for (i, mode) in [hd, fhd, Mode::new(1600, 900, 60)].into_iter().enumerate() {
        // Parked a moment ago: wait past one frame period of the park mode so this measures a
        // parked output, not one still settling.
        std::thread::sleep(Duration::from_millis(200));
        let (d, took) = create_until_first_frame(&backend, mode, &format!("parked-{i}"));
        println!(
            "parked output {} re-moded to {mode}: first frame after {took:?}",
            d.name()
        );
        assert!(took < FIRST_FRAME_BUDGET, "{mode}: {took:?}");
        d.destroy().expect("destroy");
    }
    assert_eq!(
        backend.pool().len(),
        3,
        "still no more outputs than ever in use"
    );
}

#[test]
fn sway_capture_rate_and_cost_on_animated_display() {
    let _guard = lock();
    let backend = start_sway();
    let sway_pid = backend.private_sway().expect("private").pid();
    let sway_stat = format!("/proc/{sway_pid}/stat");

    for (mode, damage, min_fps) in [
        (Mode::new(1280, 720, 60), true, Some(58.0)),
        (Mode::new(1280, 720, 60), false, None),
        (Mode::new(1920, 1080, 60), true, None),
        (Mode::new(1920, 1080, 60), false, None),
    ] {
        let display = backend.create(mode, "rate").expect("create");
        let CaptureSource::WlrOutput { wayland_socket, .. } = display.capture_source() else {
            panic!("sway displays are captured with wlr-screencopy");
        };
        let animator = Animator::start(&wayland_socket, display.name()).expect("animator");
        let mut cap = capturer(display.as_ref(), damage);
        // Warm up: first (full) frame and a few more.
        for _ in 0..5 {
            cap.next_frame(Duration::from_secs(2))
                .expect("capture")
                .expect("animated display yields frames");
        }
        let before = cap.stats();
        let (ours0, sway0) = (
            cpu_seconds("/proc/thread-self/stat"),
            cpu_seconds(&sway_stat),
        );
        let t = Instant::now();
        let mut frames = 0u32;
        let mut busy = Duration::ZERO;
        while t.elapsed() < Duration::from_secs(3) {
            let start = Instant::now();
            if let Some(frame) = cap.next_frame(Duration::from_millis(100)).expect("capture") {
                assert_eq!((frame.width, frame.height), (mode.width, mode.height));
                frames += 1;
            }
            busy += start.elapsed();
        }
        let secs = t.elapsed().as_secs_f64();
        let (ours, sway) = (
            cpu_seconds("/proc/thread-self/stat") - ours0,
            cpu_seconds(&sway_stat) - sway0,
        );
        let after = cap.stats();
        let fps = f64::from(frames) / secs;
        let bytes_per_frame = (after.bytes_read - before.bytes_read) as f64 / f64::from(frames);
        println!(
            "{mode} {}: {fps:.1} frames/s, {:.2} ms per frame waiting+copying, {:.0} KiB read per \
             frame in {:.3} ms; CPU: capture thread {:.1} % ({:.2} ms/frame), sway {:.1} % \
             ({:.2} ms/frame)",
            if damage { "damage" } else { "full copy" },
            busy.as_secs_f64() * 1e3 / f64::from(frames),
            bytes_per_frame / 1024.0,
            (after.read_time - before.read_time).as_secs_f64() * 1e3 / f64::from(frames),
            ours / secs * 100.0,
            ours * 1e3 / f64::from(frames),
            sway / secs * 100.0,
            sway * 1e3 / f64::from(frames),
        );
        if let Some(min) = min_fps {
            assert!(fps >= min, "{mode}: {fps:.1} frames/s < {min}");
        }
        if damage {
            assert!(
                bytes_per_frame < f64::from(mode.width * 4 * mode.height) / 4.0,
                "damage tracking reads only the changed rows"
            );
        }
        drop(cap);
        let drawn = animator.stop().expect("animator");
        assert!(drawn > 0);
        display.destroy().expect("destroy");
    }
}

#[test]
fn compositor_probe_on_a_bare_box() {
    let _guard = lock();
    assert!(
        find_in_path("sway").is_some(),
        "sway is not installed: run scripts/setup.sh (it installs sway; CI runs it before the tests)"
    );
    // On a bare box (CI) detection itself must pick the private headless sway; on a developer's
    // desktop, force it so the session does not change the test. CI runs as root, so this also
    // covers sway being started as an unprivileged user.
    let bare = super::detect(&super::SessionEnv::from_process()).kind
        == super::CompositorKind::PrivateSway;
    let report =
        super::compositor_probe(if bare { None } else { Some("headless") }).expect("probe");
    if bare {
        assert!(report.contains("no desktop session"), "{report}");
    }
    println!("{report}");
    assert!(report.contains("sway 1."), "{report}");
    assert!(report.contains("frame: 1280x720"), "{report}");
    assert!(report.contains("zwlr_screencopy_manager_v1"), "{report}");
}
