//! `punktfunk-host compositor-probe`: what compositor is here, what can it do, and does a display
//! plus one captured frame actually work — with the time each step took.

use super::{Detection, Mode, SessionEnv, detect, open_detected};
use crate::platform::capture::{self, CaptureOptions, CaptureSource};
use anyhow::Result;
use std::fmt::Write as _;
use std::time::Instant;

const PROBE_MODE: Mode = Mode::new(1280, 720, 60);

/// Globals worth reporting, with what they give us.
const INTERESTING_GLOBALS: &[(&str, &str)] = &[
    ("zwlr_screencopy_manager_v1", "capture"),
    ("zwp_linux_dmabuf_v1", "dmabuf buffers"),
    ("zwlr_virtual_pointer_manager_v1", "virtual pointer"),
    ("zwp_virtual_keyboard_manager_v1", "virtual keyboard"),
    ("zxdg_output_manager_v1", "output names (xdg-output)"),
    ("wl_output", "outputs"),
];

struct Report {
    text: String,
}

impl Report {
    fn line(&mut self, s: impl AsRef<str>) {
        self.text.push_str(s.as_ref());
        self.text.push('\n');
    }

    fn step(&mut self, what: &str, since: Instant) {
        let ms = since.elapsed().as_secs_f64() * 1e3;
        let _ = writeln!(self.text, "  step {what}: {ms:.1} ms");
    }

    /// Ends the probe with the reason it could not go on.
    fn fail(self, step: &str, e: anyhow::Error) -> anyhow::Error {
        anyhow::anyhow!("{}cannot {step}: {e:#}", self.text)
    }
}

/// Runs the probe. `force` is the `--compositor` value. The report is returned on success; on
/// failure the error holds the report so far and the exact reason.
pub fn compositor_probe(force: Option<&str>) -> Result<String> {
    let mut r = Report {
        text: String::new(),
    };
    let env = SessionEnv::from_process();
    let detection = match force {
        Some(name) => Detection::forced(super::CompositorKind::parse(name)?),
        None => detect(&env),
    };
    r.line(format!(
        "compositor: {} — {}",
        detection.kind, detection.reason
    ));

    let t = Instant::now();
    let backend = match open_detected(&detection, &env) {
        Ok(b) => b,
        Err(e) => return Err(r.fail("open the compositor backend", e)),
    };
    r.step("open backend (start/connect compositor)", t);
    let info = backend.info();
    r.line(format!("version: {}", info.version));
    r.line(format!(
        "capabilities: custom modes: {}; removes outputs: {}; capture: {}",
        yes_no(info.capabilities.custom_modes),
        yes_no(info.capabilities.removes_outputs),
        info.capabilities.capture.join(", ")
    ));
    for note in &info.capabilities.notes {
        r.line(format!("  note: {note}"));
    }

    let t = Instant::now();
    let display = match backend.create(PROBE_MODE, "compositor-probe") {
        Ok(d) => d,
        Err(e) => return Err(r.fail(&format!("create a {PROBE_MODE} display"), e)),
    };
    r.step(
        &format!("create {PROBE_MODE} display {}", display.name()),
        t,
    );

    let source = display.capture_source();
    let globals = match &source {
        CaptureSource::WlrOutput { wayland_socket, .. } => {
            Some(capture::wlr_screencopy::list_globals(wayland_socket))
        }
        CaptureSource::PipeWire { .. } => None,
    };
    match globals {
        None => r.line(format!("capture source: {source:?}")),
        Some(Ok(globals)) => {
            let mut have = Vec::new();
            for (name, what) in INTERESTING_GLOBALS {
                let versions: Vec<String> = globals
                    .iter()
                    .filter(|(g, _)| g == name)
                    .map(|(_, v)| format!("v{v}"))
                    .collect();
                if versions.is_empty() {
                    have.push(format!("{what}: no {name}"));
                } else {
                    have.push(format!("{what}: {name} {}", versions.join("/")));
                }
            }
            r.line("wayland globals:");
            for h in have {
                r.line(format!("  {h}"));
            }
        }
        Some(Err(e)) => r.line(format!("wayland globals: cannot list: {e:#}")),
    }

    let t = Instant::now();
    let mut capturer = match capture::open(&source, CaptureOptions::default()) {
        Ok(c) => c,
        Err(e) => return Err(r.fail("open a capturer", e)),
    };
    r.step("connect capturer", t);

    let t = Instant::now();
    match capturer.next_frame(std::time::Duration::from_secs(5)) {
        Ok(Some(frame)) => {
            let centre = frame.rgb_at(frame.width / 2, frame.height / 2);
            let (w, h, stride, format, ts) = (
                frame.width,
                frame.height,
                frame.stride,
                frame.format,
                frame.timestamp,
            );
            r.step("capture first frame", t);
            r.line(format!(
                "  frame: {w}x{h} {format:?} stride {stride}, presented at {:.3} s (monotonic), \
                 centre pixel {}",
                ts.as_secs_f64(),
                centre.map_or("?".into(), |(r, g, b)| format!("#{r:02x}{g:02x}{b:02x}"))
            ));
        }
        Ok(None) => {
            return Err(r.fail("capture a frame", anyhow::anyhow!("no frame within 5 s")));
        }
        Err(e) => return Err(r.fail("capture a frame", e)),
    }
    let t = Instant::now();
    if capturer
        .next_frame(std::time::Duration::from_millis(100))?
        .is_none()
    {
        r.line("  unchanged display: no second frame within 100 ms (damage tracking: no copy)");
    } else {
        r.step("capture second frame", t);
    }
    r.line(format!("  capturer: {}", capturer.describe()));
    drop(capturer);

    let t = Instant::now();
    if let Err(e) = display.destroy() {
        return Err(r.fail("release the display", e));
    }
    r.step("release display", t);
    let t = Instant::now();
    drop(backend);
    r.step("close backend", t);
    Ok(r.text)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
