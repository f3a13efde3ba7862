//! Shared by the management API tests: a real `punktfunk-host serve` on loopback with a private
//! config dir, and a small HTTPS client that pins the host's certificate fingerprint.

#![allow(dead_code)] // each test binary uses a different part

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running host; killed when dropped.
pub struct Host {
    child: Child,
    pub api: SocketAddr,
    pub fingerprint: String,
    pub token: String,
    pub config: TempDir,
}

impl Drop for Host {
    fn drop(&mut self) {
        // SIGTERM first: the host then stops its private compositor itself.
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Host {
    /// Starts `serve` with the API on `api_bind` port 0 and waits for its `API https://…` line.
    pub fn start(tag: &str, api_bind: &str) -> Host {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!("pf-api-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = TempDir(dir);
        let mut child = Command::new(crate::host_bin())
            .args(["serve", "--bind", "127.0.0.1", "--port", "0", "--no-mdns"])
            .args(["--api-bind", api_bind, "--api-port", "0"])
            .env("PUNKTFUNK_CONFIG_DIR", &config.0)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start punktfunk-host serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps reading after start-up too: a host whose stdout pipe closed would fail its later
        // `PIN …` lines.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut api, mut fingerprint) = (None, None);
        while api.is_none() || fingerprint.is_none() {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("host printed no READY and API lines within 60 s");
            if let Some(addr) = line.strip_prefix("API https://") {
                api = Some(addr.trim().parse::<SocketAddr>().expect("API line address"));
            }
            if line.starts_with("READY ") {
                fingerprint = line
                    .split_whitespace()
                    .find_map(|kv| kv.strip_prefix("fingerprint="))
                    .map(str::to_owned);
            }
        }
        let token = std::fs::read_to_string(config.0.join("admin-token"))
            .expect("the API created the admin token")
            .trim()
            .to_string();
        Host {
            child,
            api: api.unwrap(),
            fingerprint: fingerprint.unwrap(),
            token,
            config,
        }
    }

    /// Sends SIGTERM and waits for the exit; returns how long that took and whether it was clean.
    pub fn terminate(&mut self) -> (Duration, bool) {
        let started = std::time::Instant::now();
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(killed.success());
        let status = self.child.wait().expect("wait for the host");
        (started.elapsed(), status.success())
    }

    pub fn bearer(&self) -> (String, String) {
        ("authorization".into(), format!("Bearer {}", self.token))
    }
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `error` string every non-2xx answer carries.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error field: {:?}", String::from_utf8_lossy(&self.body)))
            .to_string()
    }
}

pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Return after the response head (endless streams).
    pub head_only: bool,
}

impl<'a> Request<'a> {
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Request {
            method,
            path,
            headers: Vec::new(),
            body: None,
            head_only: false,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.body = Some(body.to_string());
        self.header("content-type", "application/json")
    }
}

/// One API call with the admin token (`Authorization: Bearer`), from a test's own thread.
pub fn call_with_token(
    api: SocketAddr,
    fingerprint: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut request =
        Request::new(method, path).header("authorization", &format!("Bearer {token}"));
    if let Some(body) = body {
        request = request.json(body);
    }
    rt.block_on(send(api, fingerprint, request))
}

/// One request over a fresh TLS connection to `connect` (which may differ from the API's bound
/// address: another local interface), pinning `fingerprint`.
pub async fn send(connect: SocketAddr, fingerprint: &str, request: Request<'_>) -> Answer {
    let head_only = request.head_only;
    let (status, headers, body) = open(connect, fingerprint, request).await;
    let body = if head_only {
        Bytes::new()
    } else {
        body.collect().await.unwrap().to_bytes()
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// Reads an endless body (the event stream) until `wanted` appears in it or `within` passes;
/// returns everything read.
pub async fn read_until(
    body: &mut hyper::body::Incoming,
    wanted: &str,
    within: Duration,
) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + within;
    while !text.contains(wanted) {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    text.push_str(&String::from_utf8_lossy(data));
                }
            }
            _ => break,
        }
    }
    text
}

/// Sends `request` and returns the response head and its body unread.
pub async fn open(
    connect: SocketAddr,
    fingerprint: &str,
    request: Request<'_>,
) -> (u16, hyper::HeaderMap, hyper::body::Incoming) {
    open_from(None, connect, fingerprint, request).await
}

/// [`send`] from the local address `source` (any of 127/8 on Linux: another machine, as the host
/// sees it).
pub async fn send_from(
    source: IpAddr,
    connect: SocketAddr,
    fingerprint: &str,
    request: Request<'_>,
) -> Answer {
    let (status, headers, body) = open_from(Some(source), connect, fingerprint, request).await;
    Answer {
        status,
        headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// A TCP connection to `connect` from `source` (the system's choice when `None`).
pub async fn tcp_from(source: Option<IpAddr>, connect: SocketAddr) -> tokio::net::TcpStream {
    let Some(source) = source else {
        return tokio::net::TcpStream::connect(connect)
            .await
            .expect("connect to the host");
    };
    let socket = if source.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .expect("TCP socket");
    socket
        .bind(SocketAddr::new(source, 0))
        .unwrap_or_else(|e| panic!("bind {source}: {e}"));
    socket
        .connect(connect)
        .await
        .unwrap_or_else(|e| panic!("connect {source} → {connect}: {e}"))
}

/// [`open`] from the local address `source`.
pub async fn open_from(
    source: Option<IpAddr>,
    connect: SocketAddr,
    fingerprint: &str,
    request: Request<'_>,
) -> (u16, hyper::HeaderMap, hyper::body::Incoming) {
    let verifier = punktfunk_client::tls::PinnedVerifier::new(Some(fingerprint.to_string()));
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(verifier))
    .with_no_client_auth();
    let tcp = tcp_from(source, connect).await;
    let name = rustls::pki_types::ServerName::try_from("punktfunk").unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(name, tcp)
        .await
        .expect("TLS handshake pinned to the host fingerprint");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut builder = hyper::Request::builder()
        .method(request.method)
        .uri(request.path)
        .header("host", connect.to_string());
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = Full::new(Bytes::from(request.body.unwrap_or_default()));
    let response = tokio::time::timeout(
        Duration::from_secs(30),
        sender.send_request(builder.body(body).unwrap()),
    )
    .await
    .expect("the API answered within 30 s")
    .expect("HTTP exchange");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.into_body())
}

/// Every operation in an OpenAPI document: (METHOD, path, has a request body, is public).
pub fn operations(doc: &Value) -> Vec<(String, String, bool, bool)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if ![
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                continue;
            }
            let public = op["security"].as_array().is_some_and(|reqs| {
                reqs.iter()
                    .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            out.push((
                method.to_uppercase(),
                path.clone(),
                op.get("requestBody").is_some(),
                public,
            ));
        }
    }
    out
}

/// A concrete path for a templated one (`{id}` → an id that does not exist).
pub fn concrete(path: &str) -> String {
    path.replace("{id}", "0000000000000000")
}
