//! The management API's authentication, end to end against a real `punktfunk-host serve`: every
//! operation in the served OpenAPI document refuses requests without credentials, the admin token
//! works from loopback only, and the console login sets a properly locked-down cookie.

use punktfunk_e2e::api_common;

use api_common::{Host, Request, concrete, open, operations, read_until, send};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr, UdpSocket};

/// A non-loopback address of this machine (the interface of the default route), if it has one.
fn non_loopback_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    // connect() on UDP only picks a route and a source address; nothing is sent.
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

async fn served_document(host: &Host) -> Value {
    let (name, value) = host.bearer();
    let answer = send(
        host.api,
        &host.fingerprint,
        Request::new("GET", "/api/v1/openapi.json").header(&name, &value),
    )
    .await;
    assert_eq!(answer.status, 200);
    answer.json()
}

fn request_for<'a>(method: &'a str, path: &'a str, has_body: bool) -> Request<'a> {
    let request = Request::new(method, path);
    if has_body {
        request.json(&json!({}))
    } else {
        request
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_refuses_without_credentials() {
    // Bound to every interface so a non-loopback peer can be simulated with this machine's own
    // address.
    let mut host = Host::start("noauth", "0.0.0.0");
    let loopback = SocketAddr::from(([127, 0, 0, 1], host.api.port()));
    host.api = loopback;
    let doc = served_document(&host).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = operations(&doc);
    assert!(ops.len() >= 20, "{} operations", ops.len());

    let public: Vec<(String, String)> = ops
        .iter()
        .filter(|op| op.3)
        .map(|op| (op.0.clone(), op.1.clone()))
        .collect();
    assert_eq!(
        public,
        [
            ("POST".to_string(), "/api/v1/auth/login".to_string()),
            ("GET".to_string(), "/api/v1/health".to_string())
        ],
        "nothing but health (and the login itself) is documented as public"
    );

    let health = send(
        loopback,
        &host.fingerprint,
        Request::new("GET", "/api/v1/health"),
    )
    .await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    let login = send(
        loopback,
        &host.fingerprint,
        Request::new("POST", "/api/v1/auth/login").json(&json!({"password": "not set yet"})),
    )
    .await;
    assert_eq!(login.status, 401, "no password is set: nobody logs in");

    let remote = non_loopback_address();
    let (bearer_name, bearer) = host.bearer();
    for (method, path, has_body, is_public) in &ops {
        if *is_public {
            continue;
        }
        let path = concrete(path);
        let plain = send(
            loopback,
            &host.fingerprint,
            request_for(method, &path, *has_body),
        )
        .await;
        assert_eq!(plain.status, 401, "{method} {path} without credentials");
        assert!(!plain.error().is_empty());

        let forged = send(
            loopback,
            &host.fingerprint,
            request_for(method, &path, *has_body).header("cookie", "pf_session=00112233"),
        )
        .await;
        assert_eq!(
            forged.status, 401,
            "{method} {path} with an unknown session"
        );

        let wrong = send(
            loopback,
            &host.fingerprint,
            request_for(method, &path, *has_body)
                .header("authorization", &format!("Bearer {}", "f".repeat(64))),
        )
        .await;
        assert_eq!(wrong.status, 401, "{method} {path} with a wrong token");

        if let Some(ip) = remote {
            let from_lan = send(
                SocketAddr::new(ip, host.api.port()),
                &host.fingerprint,
                request_for(method, &path, *has_body).header(&bearer_name, &bearer),
            )
            .await;
            assert_eq!(
                from_lan.status, 403,
                "{method} {path}: the right token from {ip} (not loopback)"
            );
        }
    }
    if remote.is_none() {
        // The peer check itself is unit-tested in mgmt::auth (bearer_only_from_loopback).
        eprintln!(
            "no non-loopback address on this machine: token-from-LAN case not exercised here"
        );
    }

    let unknown = send(
        loopback,
        &host.fingerprint,
        Request::new("GET", "/api/v1/nope"),
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert!(
        !unknown.error().is_empty(),
        "unknown routes answer the JSON error shape too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_token_every_read_answers() {
    let host = Host::start("token", "127.0.0.1");
    let doc = served_document(&host).await;
    let (name, value) = host.bearer();
    for (method, path, _, _) in operations(&doc) {
        if method != "GET" {
            continue;
        }
        let path = concrete(&path);
        let mut request = Request::new("GET", &path).header(&name, &value);
        request.head_only = path.ends_with("/events");
        let answer = send(host.api, &host.fingerprint, request).await;
        assert!(
            (200..300).contains(&answer.status) || answer.status == 404,
            "GET {path}: {}",
            answer.status
        );
        if answer.status == 404 {
            assert!(
                path.contains("0000000000000000"),
                "only unknown ids are 404: {path}"
            );
            assert!(!answer.error().is_empty());
        } else if request_is_stream(&path) {
            assert_eq!(answer.header("content-type"), Some("text/event-stream"));
            // The SSE response sets its own (no-cache: never served from a cache either).
            assert_eq!(answer.header("cache-control"), Some("no-cache"));
        } else {
            answer.json();
            assert_eq!(answer.header("cache-control"), Some("no-store"));
        }
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    }

    let me = send(
        host.api,
        &host.fingerprint,
        Request::new("GET", "/api/v1/auth/me").header(&name, &value),
    )
    .await;
    assert_eq!(me.json()["method"], "token");

    let status = send(
        host.api,
        &host.fingerprint,
        Request::new("GET", "/api/v1/status").header(&name, &value),
    )
    .await
    .json();
    assert_eq!(status["fingerprint"], host.fingerprint.as_str());
    assert_eq!(status["ports"]["api"], host.api.port());

    let moonlight = send(
        host.api,
        &host.fingerprint,
        Request::new("POST", "/api/v1/pairing/moonlight")
            .header(&name, &value)
            .json(&json!({"pin": "1234"})),
    )
    .await;
    assert_eq!(moonlight.status, 409);
    assert!(
        moonlight.error().contains("--gamestream"),
        "{}",
        moonlight.error()
    );

    let bad_pin = send(
        host.api,
        &host.fingerprint,
        Request::new("POST", "/api/v1/pairing/moonlight")
            .header(&name, &value)
            .json(&json!({"pin": "12a4"})),
    )
    .await;
    assert_eq!(bad_pin.status, 400);

    let bad_settings = send(
        host.api,
        &host.fingerprint,
        Request::new("PATCH", "/api/v1/settings")
            .header(&name, &value)
            .json(&json!({"max_sessions": 0})),
    )
    .await;
    assert_eq!(bad_settings.status, 400);
    assert!(
        bad_settings.error().contains("max_sessions"),
        "{}",
        bad_settings.error()
    );

    // The CLI clients: same config dir, loopback, the token from the file, the pinned certificate.
    let cli = |args: &[&str]| {
        std::process::Command::new(punktfunk_e2e::host_bin())
            .arg("pair")
            .args(args)
            .args(["--api-port", &host.api.port().to_string()])
            .env("PUNKTFUNK_CONFIG_DIR", &host.config.0)
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("run punktfunk-host pair")
    };
    let armed = cli(&["--native"]);
    assert!(armed.status.success(), "{armed:?}");
    let stdout = String::from_utf8_lossy(&armed.stdout);
    let pin = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PIN "))
        .unwrap_or_else(|| panic!("no PIN line: {stdout}"));
    assert!(
        pin.len() >= 4 && pin.bytes().all(|b| b.is_ascii_digit()),
        "{pin}"
    );
    let pairing = send(
        host.api,
        &host.fingerprint,
        Request::new("GET", "/api/v1/pairing").header(&name, &value),
    )
    .await
    .json();
    assert_eq!(pairing["native"]["armed"], true);
    let moonlight = cli(&["--pin", "1234"]);
    assert!(!moonlight.status.success());
    let stderr = String::from_utf8_lossy(&moonlight.stderr);
    assert!(
        stderr.contains("409") && stderr.contains("--gamestream"),
        "{stderr}"
    );

    let console = send(host.api, &host.fingerprint, Request::new("GET", "/")).await;
    assert_eq!(console.status, 200, "the console shell needs no login");
    assert_eq!(
        console.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = console
        .header("content-security-policy")
        .unwrap_or_default();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(console.header("x-frame-options"), Some("DENY"));
    let script = send(
        host.api,
        &host.fingerprint,
        Request::new("GET", "/assets/app.js"),
    )
    .await;
    assert_eq!(script.status, 200);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
}

fn request_is_stream(path: &str) -> bool {
    path.ends_with("/events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_login_cookie_csrf_logout_and_rate_limit() {
    let host = Host::start("login", "127.0.0.1");
    let (name, value) = host.bearer();
    let login = |password: &str| {
        Request::new("POST", "/api/v1/auth/login").json(&json!({ "password": password }))
    };

    let short = send(
        host.api,
        &host.fingerprint,
        Request::new("PUT", "/api/v1/auth/password")
            .header(&name, &value)
            .json(&json!({"password": "short"})),
    )
    .await;
    assert_eq!(short.status, 400);
    let set = send(
        host.api,
        &host.fingerprint,
        Request::new("PUT", "/api/v1/auth/password")
            .header(&name, &value)
            .json(&json!({"password": "correct horse battery"})),
    )
    .await;
    assert_eq!(set.status, 204);
    let stored = std::fs::read_to_string(host.config.0.join("console-password")).unwrap();
    assert!(stored.starts_with("$argon2id$"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in ["console-password", "admin-token"] {
            let mode = std::fs::metadata(host.config.0.join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }

    // The CLI sets it the same way (stdin, through the API); the API hashes and stores it.
    let mut child = std::process::Command::new(punktfunk_e2e::host_bin())
        .args([
            "console-password",
            "--api-port",
            &host.api.port().to_string(),
        ])
        .env("PUNKTFUNK_CONFIG_DIR", &host.config.0)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"correct horse battery\n").unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_ne!(
        std::fs::read_to_string(host.config.0.join("console-password")).unwrap(),
        stored,
        "a fresh salt each time"
    );

    // Attempt 1 of 5 this minute.
    let wrong = send(host.api, &host.fingerprint, login("wrong horse battery")).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("set-cookie").is_none());

    // Attempt 2.
    let right = send(host.api, &host.fingerprint, login("correct horse battery")).await;
    assert_eq!(right.status, 204);
    let cookie = right
        .header("set-cookie")
        .expect("a session cookie")
        .to_string();
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    for required in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(
            attributes.contains(&required),
            "{required} missing: {cookie}"
        );
    }
    let id = attributes[0]
        .strip_prefix("pf_session=")
        .expect("pf_session cookie");
    assert_eq!(id.len(), 64, "256-bit session id");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let session = format!("pf_session={id}");

    let me = send(
        host.api,
        &host.fingerprint,
        Request::new("GET", "/api/v1/auth/me").header("cookie", &session),
    )
    .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["method"], "session");

    let unmarked = send(
        host.api,
        &host.fingerprint,
        Request::new("POST", "/api/v1/pairing/native").header("cookie", &session),
    )
    .await;
    assert_eq!(
        unmarked.status, 403,
        "cookie state changes need the console header"
    );
    assert!(unmarked.error().contains("X-Punktfunk-Console"));
    let marked = send(
        host.api,
        &host.fingerprint,
        Request::new("POST", "/api/v1/pairing/native")
            .header("cookie", &session)
            .header("x-punktfunk-console", "1"),
    )
    .await;
    assert_eq!(marked.status, 200);
    let pin = marked.json()["pin"].as_str().unwrap().to_string();
    assert!(
        pin.len() >= 4 && pin.bytes().all(|b| b.is_ascii_digit()),
        "{pin}"
    );

    let logout = send(
        host.api,
        &host.fingerprint,
        Request::new("POST", "/api/v1/auth/logout")
            .header("cookie", &session)
            .header("x-punktfunk-console", "1"),
    )
    .await;
    assert_eq!(logout.status, 204);
    assert!(
        logout
            .header("set-cookie")
            .unwrap_or_default()
            .contains("Max-Age=0")
    );
    let after = send(
        host.api,
        &host.fingerprint,
        Request::new("GET", "/api/v1/status").header("cookie", &session),
    )
    .await;
    assert_eq!(after.status, 401, "the session ended with the logout");

    // Attempts 3, 4, 5 are answered; the 6th within the minute is refused unchecked.
    for _ in 0..3 {
        let answer = send(host.api, &host.fingerprint, login("guess")).await;
        assert_eq!(answer.status, 401);
    }
    let limited = send(host.api, &host.fingerprint, login("correct horse battery")).await;
    assert_eq!(
        limited.status, 429,
        "even the right password waits out the limit"
    );
    let retry: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=61).contains(&retry), "{retry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_delivers_host_events_and_log_lines() {
    let mut host = Host::start("events", "127.0.0.1");
    let (name, value) = host.bearer();
    let (status, headers, mut body) = open(
        host.api,
        &host.fingerprint,
        Request::new("GET", "/api/v1/events").header(&name, &value),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let armed = send(
        host.api,
        &host.fingerprint,
        Request::new("POST", "/api/v1/pairing/native").header(&name, &value),
    )
    .await;
    assert_eq!(armed.status, 200);
    let text = read_until(
        &mut body,
        "event: pairing_armed",
        std::time::Duration::from_secs(10),
    )
    .await;
    let data = text
        .split("event: pairing_armed\n")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .and_then(|line| line.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no pairing_armed event in the stream: {text:?}"));
    let event: Value = serde_json::from_str(data).unwrap();
    assert_eq!(event["type"], "pairing_armed");
    assert!(event["expires_in_secs"].as_u64().unwrap() > 100);
    // Arming logs a line (just before the event above); the log buffer publishes it on the same
    // stream.
    let mut text = text;
    if !text.contains("event: log") {
        text += &read_until(&mut body, "event: log", std::time::Duration::from_secs(10)).await;
    }
    assert!(text.contains("event: log"), "no log event: {text:?}");

    let logs = send(
        host.api,
        &host.fingerprint,
        Request::new("GET", "/api/v1/logs?after=0&limit=1000").header(&name, &value),
    )
    .await
    .json();
    let lines = logs["lines"].as_array().unwrap();
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .unwrap_or("")
            .contains("pairing PIN armed")),
        "{logs}"
    );
    let next = logs["next"].as_u64().unwrap();
    assert_eq!(next, lines.last().unwrap()["seq"].as_u64().unwrap());
    let later = send(
        host.api,
        &host.fingerprint,
        Request::new("GET", &format!("/api/v1/logs?after={next}")).header(&name, &value),
    )
    .await
    .json();
    assert!(
        later["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["seq"].as_u64().unwrap() > next),
        "paging by sequence number never repeats a line"
    );

    // The stream is still open: shutting down ends it instead of waiting for it.
    let (took, clean) = host.terminate();
    assert!(clean, "the host exits cleanly on SIGTERM");
    assert!(
        took < std::time::Duration::from_secs(1),
        "shutdown with an open event stream took {took:?}"
    );
    // What was sent before the end (the "shutting down" log line) may still be in flight.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Some(Ok(_)) = body.frame().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream ended with the host");
}
