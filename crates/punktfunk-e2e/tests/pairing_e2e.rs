//! punktfunk/1 pairing end to end: the real host binary and the real probe. PINs are armed with the
//! host's `--arm-pin` flag (the `PIN <digits>` line on stdout), clients live in their own client
//! dirs, hosts keep their config dir (and port) across restarts.

use punktfunk_e2e::common;

use common::{HostCommand, HostProcess, LOOPBACK_SERVE, TempDir, workspace_bin};
use punktfunk_client::identity::ClientIdentity;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A UDP port nothing listens on right now (the host binds it again a moment later).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `punktfunk1-host` on 127.0.0.1:`port` with the config in `dir`.
fn host(dir: &Path, port: u16, extra: &[&str]) -> HostProcess {
    let port = port.to_string();
    let mut args = vec![
        "punktfunk1-host",
        "--bind",
        "127.0.0.1",
        "--port",
        &port,
        "--data-port",
        "0",
        "--no-mdns",
    ];
    args.extend_from_slice(extra);
    let mut command = HostCommand::new(&args);
    command.config_dir = Some(dir.to_path_buf());
    HostProcess::start("pairing", command)
}

fn pin(host: &HostProcess) -> String {
    host.wait_line("PIN ", Duration::from_secs(10))
        .expect("the host printed no PIN line")
}

fn probe(client: &Path) -> Command {
    let mut c = Command::new(workspace_bin("punktfunk-probe"));
    c.env("PUNKTFUNK_CLIENT_DIR", client);
    c
}

fn pair(client: &Path, host: &HostProcess, pin: &str) -> Output {
    probe(client)
        .args([
            "pair",
            &host.quic.to_string(),
            "--pin",
            pin,
            "--name",
            "e2e",
        ])
        .output()
        .unwrap()
}

fn connect(client: &Path, host: &HostProcess, seconds: u32, extra: &[&str]) -> Output {
    probe(client)
        .args([
            "connect",
            &host.quic.to_string(),
            "--duration",
            &format!("{seconds}s"),
            "--json",
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn report(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {} {}",
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    })
}

fn wrong(pin: &str) -> String {
    let n: u32 = pin.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

/// The ids in the host's paired file (which must parse).
fn paired_ids(config: &Path) -> Vec<String> {
    let path = config.join("paired.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("{}: {e}", path.display()),
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{} does not parse ({e})", path.display()));
    v["devices"]
        .as_array()
        .expect("devices list")
        .iter()
        .map(|d| d["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn pairing_pin_then_stream_and_a_wrong_pin_uses_the_pin_up() {
    let config = TempDir::new("pair-stream");
    let client = TempDir::new("pair-stream-client");
    let port = free_port();
    let h = host(config.path(), port, &["--arm-pin"]);
    let the_pin = pin(&h);
    assert_eq!(the_pin.len(), 6);

    let out = pair(client.path(), &h, &the_pin);
    assert!(out.status.success(), "pairing failed: {}", stderr(&out));
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(line.contains(&h.fingerprint), "{line}");
    let id = ClientIdentity::load_or_create(client.path())
        .unwrap()
        .fingerprint();
    assert_eq!(paired_ids(config.path()), vec![id]);

    // No --fingerprint: the pin from pairing is used.
    let out = connect(client.path(), &h, 3, &[]);
    assert!(
        out.status.success(),
        "paired client refused: {}",
        stderr(&out)
    );
    let r = report(&out);
    assert_eq!(r["integrity_failures"], 0, "{r}");
    assert!(r["frames_ok"].as_u64().unwrap() >= 170, "{r}");
    drop(h);

    // A new PIN; a wrong guess is refused with exit 3 and uses the PIN up.
    let other = TempDir::new("pair-wrong-client");
    let h = host(config.path(), port, &["--arm-pin"]);
    let the_pin = pin(&h);
    let out = pair(other.path(), &h, &wrong(&the_pin));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("wrong PIN"), "{}", stderr(&out));
    let out = pair(other.path(), &h, &the_pin);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("already used"), "{}", stderr(&out));
    assert_eq!(paired_ids(config.path()).len(), 1, "nothing new stored");
    // And the unpaired client still cannot stream.
    let out = connect(other.path(), &h, 1, &["--fingerprint", &h.fingerprint]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("not paired"), "{}", stderr(&out));
}

#[test]
fn pairing_survives_restarts_and_unpaired_clients_need_open() {
    let config = TempDir::new("pair-restart");
    let paired = TempDir::new("pair-restart-a");
    let stranger = TempDir::new("pair-restart-b");
    let port = free_port();
    let h = host(config.path(), port, &["--arm-pin"]);
    let first_fingerprint = h.fingerprint.clone();
    let out = pair(paired.path(), &h, &pin(&h));
    assert!(out.status.success(), "{}", stderr(&out));
    drop(h);

    let h = host(config.path(), port, &[]);
    assert_eq!(h.fingerprint, first_fingerprint, "host identity changed");
    let out = connect(paired.path(), &h, 2, &[]);
    assert!(out.status.success(), "after restart: {}", stderr(&out));

    // An unknown client is told what to do, with or without trusting the host on first use.
    let out = connect(stranger.path(), &h, 1, &["--tofu"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not paired: arm a PIN on the host"),
        "{}",
        stderr(&out)
    );
    // Without a pin, --fingerprint or --tofu the probe does not even try.
    let out = connect(stranger.path(), &h, 1, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a known host"),
        "{}",
        stderr(&out)
    );
    drop(h);

    // --open: trusted on first use and remembered, so it stays allowed without --open.
    let h = host(config.path(), port, &["--open"]);
    let out = connect(stranger.path(), &h, 2, &["--tofu"]);
    assert!(out.status.success(), "open host refused: {}", stderr(&out));
    assert!(stderr(&out).contains("pinned"), "{}", stderr(&out));
    drop(h);
    let h = host(config.path(), port, &[]);
    let out = connect(stranger.path(), &h, 2, &[]);
    assert!(out.status.success(), "remembered client: {}", stderr(&out));
    assert_eq!(paired_ids(config.path()).len(), 2);

    // `forget` drops the pin: the probe no longer trusts the host until it pairs again.
    let forget = |client: &Path| {
        probe(client)
            .args(["forget", &h.quic.to_string()])
            .output()
            .unwrap()
    };
    let out = forget(paired.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let out = connect(paired.path(), &h, 1, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a known host"),
        "{}",
        stderr(&out)
    );
    let out = forget(paired.path());
    assert_eq!(
        out.status.code(),
        Some(3),
        "forgetting twice: {}",
        stderr(&out)
    );
}

#[test]
fn pairing_another_host_behind_the_address_is_refused() {
    let real = TempDir::new("pair-mitm-real");
    let impostor = TempDir::new("pair-mitm-impostor");
    let client = TempDir::new("pair-mitm-client");
    let port = free_port();
    let h = host(real.path(), port, &["--arm-pin"]);
    let out = pair(client.path(), &h, &pin(&h));
    assert!(out.status.success(), "{}", stderr(&out));
    let real_fingerprint = h.fingerprint.clone();
    drop(h);

    // Someone else answers at the same address, with its own certificate and even a PIN the user
    // might type: the pinned fingerprint stops both pairing and streaming before any PIN is used.
    let fake = host(impostor.path(), port, &["--arm-pin", "--open"]);
    assert_ne!(fake.fingerprint, real_fingerprint);
    let fake_pin = pin(&fake);
    let out = pair(client.path(), &fake, &fake_pin);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("fingerprint mismatch"),
        "{}",
        stderr(&out)
    );
    let out = connect(client.path(), &fake, 1, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&real_fingerprint), "{}", stderr(&out));
    assert!(paired_ids(impostor.path()).is_empty());
}

/// A tiny deterministic generator for the kill moments.
struct XorShift(u64);
impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Removes one device from the paired file while the host is down, the way the file is always
/// written: a complete new file renamed over the old one.
fn unpair_offline(config: &Path, id: &str) {
    let path = config.join("paired.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["devices"]
        .as_array_mut()
        .unwrap()
        .retain(|d| d["id"] != id);
    let tmp = config.join("paired.json.test-tmp");
    std::fs::write(&tmp, serde_json::to_vec(&v).unwrap()).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

#[test]
fn pairing_store_survives_kill_9_at_random_moments() {
    let config = TempDir::new("pair-kill9");
    let clients = TempDir::new("pair-kill9-clients");
    let port = free_port();
    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    let mut expected: Vec<String> = Vec::new();
    let (mut completed, mut killed_mid_way) = (0, 0);
    // How long one pairing takes here (process start, QUIC, SPAKE2, the durable write), so the
    // kills below land before, during and after it.
    let calibration = {
        let h = host(config.path(), port, &["--arm-pin"]);
        let the_pin = pin(&h);
        let client = clients.path().join("calibration");
        ClientIdentity::load_or_create(&client).unwrap();
        let started = Instant::now();
        let out = pair(&client, &h, &the_pin);
        assert!(out.status.success(), "{}", stderr(&out));
        expected.push(
            ClientIdentity::load_or_create(&client)
                .unwrap()
                .fingerprint(),
        );
        started.elapsed()
    };
    // Kill moments are uniform in [0, window); the window follows the outcomes (longer after a
    // cut-off pairing, shorter after a completed one), so it settles where about half of the
    // pairings complete — whatever this machine's load makes a pairing cost right now.
    let mut window_ms = (calibration.as_millis() as u64 * 2).max(20);
    let start = Instant::now();
    for cycle in 0..100 {
        let h = host(config.path(), port, &["--arm-pin"]);
        let the_pin = pin(&h);
        let client = clients.path().join(format!("c{cycle}"));
        let id = ClientIdentity::load_or_create(&client)
            .unwrap()
            .fingerprint();
        let mut probe = probe(&client)
            .args(["pair", &h.quic.to_string(), "--pin", &the_pin])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.below(window_ms)));
        let mut h = h;
        h.child.kill().unwrap();
        let _ = h.child.wait();
        // Whatever the host sent before it died has arrived by now; a probe still waiting has no
        // PairDone and would only wait for its timeout.
        let deadline = Instant::now() + Duration::from_millis(150);
        let status = loop {
            if let Some(status) = probe.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = probe.kill();
                let _ = probe.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let succeeded = status.is_some_and(|s| s.success());
        window_ms = if succeeded {
            (window_ms * 9 / 10).max(20)
        } else {
            (window_ms * 11 / 10).min(5_000)
        };
        if succeeded {
            completed += 1;
            expected.push(id.clone());
        } else {
            killed_mid_way += 1;
        }
        let stored = paired_ids(config.path());
        for want in &expected {
            assert!(
                stored.contains(want),
                "cycle {cycle}: completed pairing {want} lost; file holds {stored:?}"
            );
        }
        // Unpair every third completed client again, so the file shrinks as well as grows.
        if succeeded && cycle % 3 == 0 {
            unpair_offline(config.path(), &id);
            expected.retain(|e| *e != id);
        }
        drop(h);
    }
    eprintln!(
        "100 cycles in {:?} (one pairing takes {calibration:?}): {completed} pairings completed, {killed_mid_way} cut off by SIGKILL",
        start.elapsed()
    );
    assert!(
        completed > 0 && killed_mid_way > 0,
        "kills never hit a pairing or always did"
    );
    // The host starts on the file the last kill left behind.
    let h = host(config.path(), port, &[]);
    drop(h);
}

/// The way a user arms a PIN on a running host: `punktfunk-host pair --native` asks the management
/// API of `serve` (same config dir) and prints the PIN; the probe pairs with it.
#[test]
fn pairing_with_a_pin_armed_through_the_management_api() {
    let config = TempDir::new("pair-api");
    let client = TempDir::new("pair-api-client");
    let mut command = HostCommand::new(LOOPBACK_SERVE);
    command.config_dir = Some(config.path().to_path_buf());
    let h = HostProcess::start("pair-api", command);
    let api = h
        .wait_line("API https://", Duration::from_secs(60))
        .expect("serve printed no API line");
    let api_port = api.trim().rsplit(':').next().unwrap().to_string();
    let armed = Command::new(punktfunk_e2e::host_bin())
        .args(["pair", "--native", "--api-port", &api_port])
        .env("PUNKTFUNK_CONFIG_DIR", config.path())
        .output()
        .unwrap();
    assert!(armed.status.success(), "{}", stderr(&armed));
    let stdout = String::from_utf8_lossy(&armed.stdout);
    let the_pin = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PIN "))
        .unwrap_or_else(|| panic!("no PIN line: {stdout}"))
        .trim()
        .to_string();
    assert_eq!(pin(&h), the_pin, "the host announces the same PIN");

    let out = pair(client.path(), &h, &the_pin);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = ClientIdentity::load_or_create(client.path())
        .unwrap()
        .fingerprint();
    assert_eq!(paired_ids(config.path()), vec![id]);
}
