//! Runs inside the small VM of `scripts/input-vm.sh` (this machine's kernel has no uinput/uhid):
//! creates every virtual pad type through the host's real uinput/UHID code, sends state, reads it
//! back the way games do (evdev for the Xbox pads, hidraw for the PlayStation pads), and plays
//! rumble / writes LED output reports to see them come back as feedback.
//!
//! Prints one `CHECK <pad> <what> ok|FAIL <detail>` line per check and `PADCHECK OK` or
//! `PADCHECK FAIL` at the end.
// Needs `unsafe` for evdev/hidraw ioctls to read the pads back as games do; every block says why it is sound (`// SAFETY:`).
#![allow(unsafe_code)]

use punktfunk_core::control::input::{Feedback, InputEvent};
use punktfunk_core::control::input::{PadKind, PadState, pad_buttons};
use punktfunk_host::platform::inject::hid_descriptors::{Extras, PsModel, input_report};
use punktfunk_host::platform::inject::uhid::PsPad;
use punktfunk_host::platform::inject::uinput::{XboxModel, XboxPad};
use rustix::fs::{Mode, OFlags};
use rustix::ioctl::{Getter, ioctl, opcode};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[repr(C)]
#[derive(Default)]
struct InputId {
    bustype: u16,
    vendor: u16,
    product: u16,
    version: u16,
}

#[repr(C)]
#[derive(Default)]
struct HidrawInfo {
    bustype: u32,
    vendor: i16,
    product: i16,
}

#[repr(C)]
struct FfEffect {
    kind: u16,
    id: i16,
    direction: u16,
    trigger: [u16; 2],
    replay: [u16; 2],
    _pad: u16,
    union: [u64; 4],
}

const EVIOCGID: rustix::ioctl::Opcode = opcode::read::<InputId>(b'E', 0x02);
const EVIOCSFF: rustix::ioctl::Opcode = opcode::write::<FfEffect>(b'E', 0x80);
const HIDIOCGRAWINFO: rustix::ioctl::Opcode = opcode::read::<HidrawInfo>(b'H', 0x03);

struct Report {
    failed: bool,
}

impl Report {
    fn check(&mut self, pad: &str, what: &str, ok: bool, detail: String) {
        println!(
            "CHECK {pad} {what} {} {detail}",
            if ok { "ok" } else { "FAIL" }
        );
        self.failed |= !ok;
    }
}

/// The device node of the input or hidraw device whose sysfs text `file` contains `needle`.
fn find_node(class: &str, file: &str, needle: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(format!("/sys/class/{class}"))
        .ok()?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(entry.path().join(file)).unwrap_or_default();
        let node = match class {
            "input" if name.starts_with("event") => format!("/dev/input/{name}"),
            "hidraw" => format!("/dev/{name}"),
            _ => continue,
        };
        if text.contains(needle) && Path::new(&node).exists() {
            return Some(PathBuf::from(node));
        }
    }
    None
}

/// Calls `find` until it finds something, for up to 10 s (the VM is emulated, and slow), running
/// `between` in between (a pad answering its driver's requests).
fn wait_for<T>(mut find: impl FnMut() -> Option<T>, mut between: impl FnMut()) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(found) = find() {
            return Some(found);
        }
        between();
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn open(path: &Path, nonblock: bool) -> std::io::Result<OwnedFd> {
    let mut flags = OFlags::RDWR | OFlags::CLOEXEC;
    if nonblock {
        flags |= OFlags::NONBLOCK;
    }
    Ok(rustix::fs::open(path, flags, Mode::empty())?)
}

/// Reads evdev events until all of `want` (type, code, value) were seen or time runs out; returns
/// which were seen.
fn wait_events(fd: &OwnedFd, want: &[(u16, u16, i32)]) -> Vec<bool> {
    let mut seen = vec![false; want.len()];
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 24 * 32];
    while Instant::now() < deadline && !seen.iter().all(|s| *s) {
        match rustix::io::read(fd, &mut buf) {
            Ok(n) => {
                for ev in buf[..n].chunks_exact(24) {
                    let t = u16::from_le_bytes([ev[16], ev[17]]);
                    let c = u16::from_le_bytes([ev[18], ev[19]]);
                    let v = i32::from_le_bytes([ev[20], ev[21], ev[22], ev[23]]);
                    if let Some(i) = want.iter().position(|w| *w == (t, c, v)) {
                        seen[i] = true;
                    }
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    seen
}

fn state() -> PadState {
    PadState {
        buttons: pad_buttons::A | pad_buttons::RIGHT,
        left_x: 12_000,
        left_y: -20_000,
        right_x: 0,
        right_y: 0,
        left_trigger: 0,
        right_trigger: 128,
    }
}

fn xbox(report: &mut Report, kind: PadKind, index: u8) {
    let label = format!("{kind:?}");
    let Some(model) = XboxModel::of(kind) else {
        return;
    };
    let mut pad = match XboxPad::create(Path::new("/dev/uinput"), index, model) {
        Ok(p) => p,
        Err(e) => return report.check(&label, "create", false, format!("{e:#}")),
    };
    let Some(node) = wait_for(|| find_node("input", "device/name", model.name), || ()) else {
        return report.check(&label, "evdev node", false, "not found".into());
    };
    let Ok(ev) = open(&node, true) else {
        return report.check(&label, "open evdev", false, node.display().to_string());
    };
    // SAFETY: EVIOCGID fills one `struct input_id`.
    let id = unsafe { ioctl(&ev, Getter::<EVIOCGID, InputId>::new()) }.unwrap_or_default();
    report.check(
        &label,
        "ids",
        (id.bustype, id.vendor, id.product) == (3, model.vendor, model.product),
        format!(
            "{:04x}:{:04x} bus {} on {}",
            id.vendor,
            id.product,
            id.bustype,
            node.display()
        ),
    );
    let s = state();
    let sent = pad.handle(&InputEvent::PadState {
        pad: index,
        state: s,
    });
    report.check(&label, "state written", sent.is_ok(), format!("{sent:?}"));
    // BTN_SOUTH pressed, ABS_X, ABS_Y flipped (evdev grows downwards), the right trigger at
    // half scale, the d-pad's right as HAT0X.
    let want = [
        (1, 0x130, 1),
        (3, 0x00, 12_000),
        (3, 0x01, 19_999),
        (3, 0x05, 128 * model.trigger_max / 255),
        (3, 0x10, 1),
    ];
    let seen = wait_events(&ev, &want);
    report.check(
        &label,
        "state read back",
        seen.iter().all(|s| *s),
        format!("{:?}", want.iter().zip(&seen).collect::<Vec<_>>()),
    );

    // Rumble as a game plays it: upload (answered by the pad's feedback loop), then play.
    let upload = std::thread::spawn(move || {
        let mut effect = FfEffect {
            kind: 0x50,
            id: -1,
            direction: 0,
            trigger: [0; 2],
            replay: [1000, 0],
            _pad: 0,
            union: [u64::from(0x8000u16) | (u64::from(0x4000u16) << 16), 0, 0, 0],
        };
        let fd = open(&node, false).ok()?;
        // SAFETY: EVIOCSFF reads one `struct ff_effect` and writes its id back.
        unsafe {
            ioctl(
                &fd,
                rustix::ioctl::Updater::<EVIOCSFF, FfEffect>::new(&mut effect),
            )
        }
        .ok()?;
        let mut play = vec![0u8; 16];
        play.extend_from_slice(&0x15u16.to_le_bytes());
        play.extend_from_slice(&(effect.id as u16).to_le_bytes());
        play.extend_from_slice(&1i32.to_le_bytes());
        rustix::io::write(&fd, &play).ok()?;
        Some(fd)
    });
    let mut feedback = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && feedback.is_empty() {
        if let Err(e) = pad.poll_feedback(&mut feedback) {
            report.check(&label, "feedback poll", false, format!("{e:#}"));
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Closing the game's evdev handle erases its effects, which the pad must answer too.
    if let Some(fd) = upload.join().ok().flatten() {
        let closer = std::thread::spawn(move || drop(fd));
        let mut ignored = Vec::new();
        while !closer.is_finished() {
            let _ = pad.poll_feedback(&mut ignored);
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let want = Feedback::Rumble {
        pad: index,
        low: 0x8000,
        high: 0x4000,
    };
    report.check(
        &label,
        "rumble feedback",
        feedback.contains(&want),
        format!("{feedback:?}"),
    );
}

fn playstation(report: &mut Report, model: PsModel, index: u8) {
    let label = format!("{model:?}");
    let mut pad = match PsPad::create(Path::new("/dev/uhid"), index, model) {
        Ok(p) => p,
        Err(e) => return report.check(&label, "create", false, format!("{e:#}")),
    };
    let mut feedback = Vec::new();
    // By ids: the DualShock 4 driver replaces the serial with the MAC address it reads.
    let (vendor, product) = model.ids();
    let hid_id = format!("HID_ID=0003:{vendor:08X}:{product:08X}");
    let node = wait_for(
        || find_node("hidraw", "device/uevent", &hid_id),
        || {
            let _ = pad.poll_feedback(&mut feedback);
        },
    );
    let Some(node) = node else {
        let present: Vec<String> = std::fs::read_dir("/sys/class/hidraw")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| {
                let uevent = std::fs::read_to_string(e.path().join("device/uevent"));
                format!("{:?}: {uevent:?}", e.file_name())
            })
            .collect();
        return report.check(
            &label,
            "hidraw node",
            false,
            format!("not found in {present:?}"),
        );
    };
    let Ok(raw) = open(&node, true) else {
        return report.check(&label, "open hidraw", false, node.display().to_string());
    };
    // SAFETY: HIDIOCGRAWINFO fills one `struct hidraw_devinfo`.
    let info =
        unsafe { ioctl(&raw, Getter::<HIDIOCGRAWINFO, HidrawInfo>::new()) }.unwrap_or_default();
    report.check(
        &label,
        "ids",
        (
            info.bustype,
            info.vendor as u16 as u32,
            info.product as u16 as u32,
        ) == (3, vendor, product),
        format!(
            "{:04x}:{:04x} bus {} on {}",
            info.vendor,
            info.product,
            info.bustype,
            node.display()
        ),
    );
    let s = state();
    let sent = pad.handle(&InputEvent::PadState {
        pad: index,
        state: s,
    });
    report.check(&label, "state written", sent.is_ok(), format!("{sent:?}"));
    // The counter byte differs per report: compare everything else with what the state encodes to.
    let want = input_report(
        model,
        &s,
        &Extras {
            battery: (100, false),
            ..Extras::default()
        },
    );
    let counter_at = match model {
        PsModel::DualSense => 7,
        PsModel::DualShock4 => 7,
    };
    let mut got = None;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 64];
    while Instant::now() < deadline {
        if let Ok(64) = rustix::io::read(&raw, &mut buf) {
            let mut a = buf;
            let mut b = want;
            if model == PsModel::DualShock4 {
                a[counter_at] &= 0x03;
                b[counter_at] &= 0x03;
            } else {
                a[counter_at] = 0;
                b[counter_at] = 0;
            }
            if a == b {
                got = Some(buf);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    report.check(
        &label,
        "input report read back",
        got.is_some(),
        format!("{:02x?}", &buf[..12]),
    );

    // A game sets the lightbar through the output report.
    let output: Vec<u8> = match model {
        PsModel::DualSense => {
            let mut r = vec![0u8; 48];
            r[0] = 0x02;
            r[1] = 0x03; // rumble
            r[2] = 0x04; // lightbar
            r[3] = 0x20;
            r[4] = 0x40;
            r[45..48].copy_from_slice(&[0x11, 0x22, 0x33]);
            r
        }
        PsModel::DualShock4 => {
            let mut r = vec![0u8; 32];
            r[0] = 0x05;
            r[1] = 0x03;
            r[4] = 0x20;
            r[5] = 0x40;
            r[6..9].copy_from_slice(&[0x11, 0x22, 0x33]);
            r
        }
    };
    let wrote = rustix::io::write(&raw, &output);
    report.check(
        &label,
        "output report written",
        wrote.is_ok(),
        format!("{wrote:?}"),
    );
    feedback.clear();
    let led = Feedback::Led {
        pad: index,
        r: 0x11,
        g: 0x22,
        b: 0x33,
    };
    let rumble = Feedback::Rumble {
        pad: index,
        low: 0x4000,
        high: 0x2000,
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && !(feedback.contains(&led) && feedback.contains(&rumble)) {
        let _ = pad.poll_feedback(&mut feedback);
        std::thread::sleep(Duration::from_millis(5));
    }
    report.check(
        &label,
        "LED + rumble feedback",
        feedback.contains(&led) && feedback.contains(&rumble),
        format!("{feedback:?}"),
    );
}

fn main() {
    let mut report = Report { failed: false };
    xbox(&mut report, PadKind::Xbox360, 0);
    xbox(&mut report, PadKind::XboxOne, 1);
    playstation(&mut report, PsModel::DualSense, 2);
    playstation(&mut report, PsModel::DualShock4, 3);
    println!("PADCHECK {}", if report.failed { "FAIL" } else { "OK" });
}
