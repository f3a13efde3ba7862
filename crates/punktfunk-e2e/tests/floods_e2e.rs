//! Floods that used to lock users out, against the real host on loopback. The attacker uses the
//! source addresses 127.0.0.2… (all of 127/8 is loopback on Linux; the host sees other machines),
//! the owner stays on 127.0.0.1:
//!
//! - management API: silent TCP, silent TLS, HTTP/2 without requests and half-sent bodies from a
//!   few addresses; the owner's request is answered at once, the owner's event stream outlives the
//!   idle deadline, and every silent connection is closed by its deadline;
//! - console logins: five addresses spending their attempts do not lock the owner out;
//! - nvhttp: one address opening every slot, slow TLS and slow request heads;
//! - punktfunk/1: one address holding QUIC connections, an oversized Hello, and the cap on devices
//!   an open host remembers.
//!
//! Every loop is bounded and every wait has a deadline.

use punktfunk_e2e::api_common;
use punktfunk_e2e::common;
use punktfunk_e2e::gamestream_harness as harness;

use api_common::{Request, open_from, read_until, send_from, tcp_from};
use common::{HostCommand, HostProcess, LOOPBACK_SERVE, TempDir, workspace_bin};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const OWNER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn attacker(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// The management API's limits and deadlines (crates/punktfunk-host/src/mgmt/{server,deadlines}.rs).
const API_PER_ADDRESS: usize = 32;
const API_TLS_DEADLINE: Duration = Duration::from_secs(5);
const API_HEAD_DEADLINE: Duration = Duration::from_secs(10);
const API_BODY_DEADLINE: Duration = Duration::from_secs(10);
const API_IDLE_DEADLINE: Duration = Duration::from_secs(20);
/// How late a deadline may fire on this busy two-core machine.
const SLACK: Duration = Duration::from_secs(6);

/// Starts `serve` with the API on 127.0.0.1; returns the host and the API address.
fn serve(tag: &str, extra: &[&str]) -> (HostProcess, SocketAddr) {
    let mut args = LOOPBACK_SERVE.to_vec();
    args.extend_from_slice(extra);
    let host = HostProcess::start(tag, HostCommand::new(&args));
    let api = host
        .wait_line("API https://", Duration::from_secs(60))
        .expect("serve printed no API line")
        .trim()
        .parse()
        .expect("API address");
    (host, api)
}

fn bearer(host: &HostProcess) -> (String, String) {
    let token = std::fs::read_to_string(host.config_dir.join("admin-token")).expect("admin token");
    ("authorization".into(), format!("Bearer {}", token.trim()))
}

/// Reads until the peer closes (or resets) the connection; how long that took, `None` if it was
/// still open after `limit`. Everything read is returned too.
async fn wait_closed<S: AsyncRead + Unpin>(
    mut stream: S,
    limit: Duration,
) -> (Option<Duration>, Vec<u8>) {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let outcome = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    (outcome.ok().map(|_| started.elapsed()), seen)
}

/// TLS to the API from `source`, pinned to the host's certificate, offering `alpn`.
async fn tls_from(
    source: IpAddr,
    connect: SocketAddr,
    fingerprint: &str,
    alpn: &[u8],
) -> TlsStream<TcpStream> {
    let verifier = punktfunk_client::tls::PinnedVerifier::new(Some(fingerprint.to_string()));
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(verifier))
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = tcp_from(Some(source), connect).await;
    let name = rustls::pki_types::ServerName::try_from("punktfunk").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the API")
}

fn assert_within(what: &str, took: Option<Duration>, from: Duration, to: Duration) {
    let took = took.unwrap_or_else(|| panic!("{what}: still open after {to:?}"));
    assert!(
        took >= from && took <= to,
        "{what}: closed after {took:?}, expected {from:?}..{to:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_the_owner_while_silent_connections_hold_slots_and_closes_them() {
    let (host, api) = serve("floods-api", &[]);
    let fp = host.fingerprint.clone();
    let (name, value) = bearer(&host);

    // The owner's event stream: open through the whole flood, longer than the idle deadline.
    let (status, _, mut events) = open_from(
        Some(OWNER),
        api,
        &fp,
        Request::new("GET", "/api/v1/events").header(&name, &value),
    )
    .await;
    assert_eq!(status, 200);

    let mut watchers = tokio::task::JoinSet::new();
    // 127.0.0.2: more plain TCP connections than one address may hold, all silent.
    for i in 0..API_PER_ADDRESS + 8 {
        let tcp = tcp_from(Some(attacker(2)), api).await;
        watchers.spawn(async move {
            let (took, _) = wait_closed(tcp, API_TLS_DEADLINE + SLACK).await;
            ("silent tcp", i, took)
        });
    }
    // 127.0.0.3: TLS done (HTTP/1.1), then no request head.
    for i in 0..8 {
        let tls = tls_from(attacker(3), api, &fp, b"http/1.1").await;
        watchers.spawn(async move {
            let (took, _) = wait_closed(tls, API_HEAD_DEADLINE + SLACK).await;
            ("silent http/1.1", i, took)
        });
    }
    // 127.0.0.4: HTTP/2 from a real client stack (it answers pings) that never sends a request.
    let mut h2_senders = Vec::new();
    for i in 0..4 {
        let tls = tls_from(attacker(4), api, &fp, b"h2").await;
        let (sender, connection) = hyper::client::conn::http2::handshake::<_, _, Empty<Bytes>>(
            TokioExecutor::new(),
            TokioIo::new(tls),
        )
        .await
        .expect("HTTP/2 handshake");
        h2_senders.push(sender);
        watchers.spawn(async move {
            let started = Instant::now();
            let ended = tokio::time::timeout(API_IDLE_DEADLINE + SLACK, connection).await;
            ("idle http/2", i, ended.ok().map(|_| started.elapsed()))
        });
    }
    // 127.0.0.5: console logins whose body stops half-way.
    let mut half_bodies = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let mut tls = tls_from(attacker(5), api, &fp, b"http/1.1").await;
        tls.write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nhost: punktfunk\r\n\
              content-type: application/json\r\ncontent-length: 64\r\n\r\n{\"password\": \"",
        )
        .await
        .unwrap();
        tls.flush().await.unwrap();
        half_bodies.spawn(wait_closed(tls, API_BODY_DEADLINE + SLACK));
    }

    // With all of that held, the owner is answered at once.
    let asked = Instant::now();
    let status = tokio::time::timeout(
        Duration::from_secs(5),
        send_from(
            OWNER,
            api,
            &fp,
            Request::new("GET", "/api/v1/status").header(&name, &value),
        ),
    )
    .await
    .expect("the owner was answered within 5 s during the flood");
    assert_eq!(status.status, 200);
    tracing_free_note(asked.elapsed());

    let mut early = 0;
    while let Some(joined) = watchers.join_next().await {
        let (what, i, took) = joined.unwrap();
        match what {
            "silent tcp" => {
                // Over the per-address limit: closed right away; the rest at the TLS deadline.
                if took.is_some_and(|t| t < Duration::from_secs(2)) {
                    early += 1;
                } else {
                    assert_within(
                        &format!("{what} #{i}"),
                        took,
                        API_TLS_DEADLINE - Duration::from_secs(1),
                        API_TLS_DEADLINE + SLACK,
                    );
                }
            }
            "silent http/1.1" => assert_within(
                &format!("{what} #{i}"),
                took,
                API_HEAD_DEADLINE - Duration::from_secs(1),
                API_HEAD_DEADLINE + SLACK,
            ),
            _ => assert_within(
                &format!("{what} #{i}"),
                took,
                API_IDLE_DEADLINE - Duration::from_secs(1),
                API_IDLE_DEADLINE + SLACK,
            ),
        }
    }
    assert_eq!(
        early, 8,
        "exactly the connections over the per-address limit ({API_PER_ADDRESS}) are closed at once"
    );
    drop(h2_senders);
    while let Some(joined) = half_bodies.join_next().await {
        let (took, answer) = joined.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "half-sent body: {answer:?}"
        );
        assert_within(
            "half-sent body",
            took,
            API_BODY_DEADLINE - Duration::from_secs(1),
            API_BODY_DEADLINE + SLACK,
        );
    }

    // The owner's event stream lived through all of it (longer than the idle deadline).
    let armed = send_from(
        OWNER,
        api,
        &fp,
        Request::new("POST", "/api/v1/pairing/native").header(&name, &value),
    )
    .await;
    assert_eq!(armed.status, 200);
    let text = read_until(&mut events, "event: pairing_armed", Duration::from_secs(10)).await;
    assert!(
        text.contains("event: pairing_armed"),
        "the event stream did not survive the flood: {text:?}"
    );
}

/// Kept out of the assertions: how long the owner waited, for the test log.
fn tracing_free_note(waited: Duration) {
    eprintln!("owner's request during the flood answered in {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_from_other_addresses_do_not_lock_the_owner_out() {
    let (host, api) = serve("floods-login", &[]);
    let fp = host.fingerprint.clone();
    let (name, value) = bearer(&host);
    let set = send_from(
        OWNER,
        api,
        &fp,
        Request::new("PUT", "/api/v1/auth/password")
            .header(&name, &value)
            .json(&serde_json::json!({"password": "correct horse battery"})),
    )
    .await;
    assert_eq!(set.status, 204, "{:?}", set.body);
    let login = |password: &str| {
        Request::new("POST", "/api/v1/auth/login")
            .json(&serde_json::json!({ "password": password }))
    };
    // Five addresses spend their whole budget (25 attempts: more than the old global 20).
    for n in 2..=6 {
        for _ in 0..5 {
            let answer = send_from(attacker(n), api, &fp, login("guess")).await;
            assert_eq!(answer.status, 401, "attempt from {}", attacker(n));
        }
        let limited = send_from(attacker(n), api, &fp, login("guess")).await;
        assert_eq!(
            limited.status,
            429,
            "the sixth from {} is limited",
            attacker(n)
        );
    }
    let owner = send_from(OWNER, api, &fp, login("correct horse battery")).await;
    assert_eq!(owner.status, 204, "the owner logs in: {:?}", owner.body);
}

#[test]
fn nvhttp_answers_the_owner_while_one_address_holds_slots() {
    const PER_ADDRESS: usize = 16;
    const DEADLINE: Duration = Duration::from_secs(5);
    let config = TempDir::new("floods-nvhttp");
    let base = harness::free_port_base();
    let _host = harness::start_host(config.path(), base, true);
    let http = SocketAddr::new(OWNER, base);
    let https = SocketAddr::new(OWNER, base - harness::HTTPS_OFFSET);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut watchers = tokio::task::JoinSet::new();
        // 127.0.0.2: as many silent connections as the host has slots in total (64).
        for _ in 0..64 {
            let tcp = tcp_from(Some(attacker(2)), http).await;
            watchers
                .spawn(async move { ("silent http", wait_closed(tcp, DEADLINE + SLACK).await.0) });
        }
        // 127.0.0.3: HTTPS without a ClientHello.
        for _ in 0..8 {
            let tcp = tcp_from(Some(attacker(3)), https).await;
            watchers
                .spawn(async move { ("silent https", wait_closed(tcp, DEADLINE + SLACK).await.0) });
        }
        // 127.0.0.4: request heads that never end.
        for _ in 0..8 {
            let mut tcp = tcp_from(Some(attacker(4)), http).await;
            tcp.write_all(b"GET /serverinfo HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
            watchers
                .spawn(async move { ("slow head", wait_closed(tcp, DEADLINE + SLACK).await.0) });
        }

        let asked = Instant::now();
        let mut owner = tcp_from(Some(OWNER), http).await;
        owner
            .write_all(b"GET /serverinfo?uniqueid=0123456789ABCDEF HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let (took, answer) = wait_closed(owner, Duration::from_secs(5)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(took.is_some(), "the owner's answer took longer than 5 s");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("<root"), "{answer}");
        eprintln!(
            "owner's serverinfo during the flood took {:?}",
            asked.elapsed()
        );

        let mut early = 0;
        while let Some(joined) = watchers.join_next().await {
            let (what, took) = joined.unwrap();
            if what == "silent http" && took.is_some_and(|t| t < Duration::from_secs(2)) {
                early += 1;
                continue;
            }
            assert_within(
                what,
                took,
                DEADLINE - Duration::from_secs(1),
                DEADLINE + SLACK,
            );
        }
        assert_eq!(
            early,
            64 - PER_ADDRESS,
            "all but {PER_ADDRESS} closed at once"
        );
    });
}

/// A punktfunk/1 host's QUIC address and certificate fingerprint.
type Target = (SocketAddr, String);

/// `punktfunk-probe connect` as client `name` (its own identity under `clients`); exit code and
/// stderr.
fn probe(
    host: &Target,
    clients: &std::path::Path,
    name: &str,
    mode: &str,
    kbps: &str,
) -> (Option<i32>, String) {
    let out = Command::new(workspace_bin("punktfunk-probe"))
        .args(["connect", &host.0.to_string(), "--fingerprint", &host.1])
        .args(["--mode", mode, "--bitrate-kbps", kbps, "--duration", "1s"])
        .args(["--name", name])
        .env("PUNKTFUNK_CLIENT_DIR", clients.join(name))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run punktfunk-probe");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn punktfunk1_caps_connections_per_address_modes_and_open_devices() {
    let config = TempDir::new("floods-pkf1");
    std::fs::write(
        config.path().join("config.toml"),
        "max_paired_devices = 2\n",
    )
    .unwrap();
    let mut command = HostCommand::new(&[
        "punktfunk1-host",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--open",
        "--no-mdns",
    ]);
    command.config_dir = Some(config.path().to_path_buf());
    let host = HostProcess::start("floods-pkf1", command);
    let target: Target = (host.quic, host.fingerprint.clone());
    let clients = TempDir::new("floods-pkf1-clients");
    let clients_dir = clients.path().to_path_buf();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // 127.0.0.2 opens 12 QUIC connections and goes silent: 8 get a slot, 4 are refused; the held
    // ones are closed when no control stream comes (5 s). Meanwhile the owner (127.0.0.1) is
    // answered — and its 16384×16384@500 Hello at 5 Gbit/s refused with a reason the probe prints.
    let identity =
        punktfunk_client::identity::ClientIdentity::load_or_create(&clients_dir.join("attacker"))
            .expect("attacker identity");
    let (connected, refused, closed, owner) = rt.block_on(async {
        let verifier = Arc::new(punktfunk_client::tls::PinnedVerifier::new(Some(
            host.fingerprint.clone(),
        )));
        let config = punktfunk_client::tls::quic_client_config(verifier, Some(&identity)).unwrap();
        let mut endpoint =
            quinn::Endpoint::client(SocketAddr::new(attacker(2), 0)).expect("attacker endpoint");
        endpoint.set_default_client_config(config);
        let mut attempts = tokio::task::JoinSet::new();
        for _ in 0..12 {
            let connecting = endpoint
                .connect(host.quic, punktfunk_client::tls::SERVER_NAME)
                .unwrap();
            attempts.spawn(async move {
                tokio::time::timeout(Duration::from_secs(10), connecting).await
            });
        }
        let mut held = Vec::new();
        let mut refused = 0;
        while let Some(joined) = attempts.join_next().await {
            match joined.unwrap() {
                Ok(Ok(conn)) => held.push(conn),
                Ok(Err(_)) => refused += 1,
                Err(_) => panic!("a QUIC connection attempt got no answer within 10 s"),
            }
        }
        let started = Instant::now();
        let (owner_target, owner_dir) = (target.clone(), clients_dir.clone());
        let owner = tokio::task::spawn_blocking(move || {
            probe(
                &owner_target,
                &owner_dir,
                "one",
                "16384x16384@500",
                "5000000",
            )
        })
        .await
        .unwrap();
        eprintln!("the owner's refusal took {:?}", started.elapsed());
        let mut closed = 0;
        for conn in &held {
            if tokio::time::timeout(Duration::from_secs(5) + SLACK, conn.closed())
                .await
                .is_ok()
            {
                closed += 1;
            }
        }
        eprintln!(
            "silent QUIC connections closed after {:?}",
            started.elapsed()
        );
        (held.len(), refused, closed, owner)
    });
    assert_eq!((connected, refused), (8, 4), "8 connections per address");
    assert_eq!(closed, 8, "silent connections are closed by the host");
    let (code, stderr) = owner;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("display size 16384x16384 is larger than this host allows"),
        "{stderr}"
    );
    let (code, stderr) = probe(&target, &clients_dir, "one", "1280x720@60", "5000000");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("max_bitrate_kbps"), "{stderr}");

    // max_paired_devices = 2: a second new client is remembered, a third refused.
    let (_, stderr) = probe(&target, &clients_dir, "two", "16384x16384@500", "20000");
    assert!(stderr.contains("larger than this host allows"), "{stderr}");
    let (code, stderr) = probe(&target, &clients_dir, "three", "1280x720@60", "20000");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("2 paired devices"), "{stderr}");
    let paired = std::fs::read_to_string(config.path().join("paired.json")).unwrap();
    let paired: serde_json::Value = serde_json::from_str(&paired).unwrap();
    assert_eq!(paired["devices"].as_array().unwrap().len(), 2, "{paired}");
}
