//! Attack traffic for tests/hostile_e2e.rs: what a hostile machine on the LAN can throw at every
//! port of the host, sent from loopback source addresses of its own (127.0.0.2, 127.0.0.3, …: all of
//! 127/8 is loopback on Linux, while the real clients stay on 127.0.0.1). Bounded in count (a fixed
//! number of connection slots per attacker, a fixed datagram rate) and time (everything stops at
//! [`Flood::stop`] or at the deadline given to [`Flood::start`], whichever comes first).
//!
//! - TCP: slowloris on nvhttp (HTTP and HTTPS), the management API and RTSP — silent connections,
//!   silent TLS sessions, partial request lines and headers dripped a few bytes at a time, an HTTP/2
//!   preface with no request after it, a body that never arrives in full, RTSP garbage. A slot whose
//!   connection the host closes opens the next one (at most one per [`RECONNECT_GAP`]).
//! - ENet: half-open peers on the GameStream control port — CONNECT commands from a rusty_enet host
//!   whose socket never receives, so the host's VERIFY_CONNECT is never acknowledged.
//! - QUIC: handshakes started and abandoned at the punktfunk/1 listener and the browser client's
//!   WebTransport endpoint (the client's endpoint vanishes without a CONNECTION_CLOSE), plus
//!   Initial-looking garbage at both.
//! - UDP: random datagrams at every data port (GameStream video, control, audio; punktfunk/1 data).
//!
//! One concept, one file (longer than most): the attacker, one bounded flood per port kind.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::RngCore;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How often a slowloris connection sends its next few bytes.
const DRIP: Duration = Duration::from_secs(2);
/// Least time between two connections of one slot (the host closing them must not turn the flood
/// into a busy loop on a two-core machine).
const RECONNECT_GAP: Duration = Duration::from_secs(2);
/// Datagrams per second each attacker sends to each UDP target.
const UDP_RATE: u32 = 100;
/// Half-open ENet peers each attacker opens per round (a round every [`ENET_ROUND`]).
const ENET_PEERS: usize = 16;
const ENET_ROUND: Duration = Duration::from_secs(2);
/// QUIC handshakes each attacker starts and abandons per round (a round every [`QUIC_ROUND`]).
const QUIC_CONNECTS: usize = 16;
const QUIC_ROUND: Duration = Duration::from_secs(1);

/// The attacker addresses 127.0.0.2 ..= 127.0.0.(n+1).
pub fn attacker_ips(n: u8) -> Vec<Ipv4Addr> {
    (2..2 + n)
        .map(|last| Ipv4Addr::new(127, 0, 0, last))
        .collect()
}

/// Every port of a `serve --gamestream` host.
#[derive(Clone, Debug)]
pub struct Targets {
    pub nvhttp: SocketAddr,
    pub nvhttps: SocketAddr,
    pub rtsp: SocketAddr,
    pub api: SocketAddr,
    pub gs_video: SocketAddr,
    pub gs_control: SocketAddr,
    pub gs_audio: SocketAddr,
    pub quic: SocketAddr,
    pub data: SocketAddr,
    /// The browser client's WebTransport (HTTP/3) endpoint.
    pub webtransport: SocketAddr,
}

/// What one slowloris connection does once connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TcpAttack {
    /// Connects and sends nothing (on a TLS port: not even a ClientHello).
    Silent,
    /// `GET /serverinfo?uniqueid=` and then one more byte of the request line per drip.
    PartialRequestLine,
    /// A request line and one more header line per drip; the head never ends.
    PartialHeaders,
    /// A complete head announcing a 1 MB body, then one body byte per drip.
    HalfBody,
    /// Binary garbage, more of it per drip.
    Garbage,
    /// A TLS session (no client certificate) and then nothing.
    TlsSilent,
    /// [`TcpAttack::PartialHeaders`] inside TLS.
    TlsPartialHeaders,
    /// [`TcpAttack::HalfBody`] inside TLS.
    TlsHalfBody,
    /// TLS with ALPN h2, the HTTP/2 preface and an empty SETTINGS frame, then no request ever.
    TlsH2Preface,
}

impl TcpAttack {
    fn tls(self) -> bool {
        matches!(
            self,
            TcpAttack::TlsSilent
                | TcpAttack::TlsPartialHeaders
                | TcpAttack::TlsHalfBody
                | TcpAttack::TlsH2Preface
        )
    }

    /// The bytes sent right after connecting (after the TLS handshake for the TLS attacks).
    fn opener(self, host: &str) -> Vec<u8> {
        match self {
            TcpAttack::Silent | TcpAttack::TlsSilent => Vec::new(),
            TcpAttack::PartialRequestLine => b"GET /serverinfo?uniqueid=".to_vec(),
            TcpAttack::PartialHeaders | TcpAttack::TlsPartialHeaders => {
                format!("GET /api/v1/health HTTP/1.1\r\nHost: {host}\r\n").into_bytes()
            }
            TcpAttack::HalfBody | TcpAttack::TlsHalfBody => format!(
                "POST /api/v1/auth/login HTTP/1.1\r\nHost: {host}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{{\"pass"
            )
            .into_bytes(),
            TcpAttack::Garbage => {
                let mut junk = b"OPTIONS rtsp://\x00\xff\x16\x03\x01".to_vec();
                junk.extend(random_bytes(64));
                junk
            }
            TcpAttack::TlsH2Preface => {
                let mut preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
                // SETTINGS: length 0, type 4, flags 0, stream 0.
                preface.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
                preface
            }
        }
    }

    /// What is sent at every drip (nothing: the connection just sits there).
    fn drip(self) -> Vec<u8> {
        match self {
            TcpAttack::Silent | TcpAttack::TlsSilent | TcpAttack::TlsH2Preface => Vec::new(),
            TcpAttack::PartialRequestLine => b"a".to_vec(),
            TcpAttack::PartialHeaders | TcpAttack::TlsPartialHeaders => b"X-Slow: 1\r\n".to_vec(),
            TcpAttack::HalfBody | TcpAttack::TlsHalfBody => b"w".to_vec(),
            TcpAttack::Garbage => random_bytes(8),
        }
    }
}

/// One kind of slowloris against one port, from every attacker.
#[derive(Clone, Debug)]
pub struct TcpPlan {
    /// A name for reports, e.g. `api`.
    pub target_name: &'static str,
    pub target: SocketAddr,
    pub attack: TcpAttack,
    /// Connection slots per attacker address.
    pub slots_per_ip: usize,
}

/// What happened to one plan's connections.
#[derive(Default, Debug)]
pub struct TcpTally {
    pub connected: AtomicU64,
    pub connect_failed: AtomicU64,
    /// The host closed (or reset, or refused the TLS handshake of) a connection.
    pub closed_by_host: AtomicU64,
    /// Connections the host answered (some bytes came back) — e.g. a 400 or 408.
    pub answered: AtomicU64,
    /// Longest time a connection stayed open, in ms (connections still open at the end count
    /// with their age then).
    pub longest_open_ms: AtomicU64,
}

impl TcpTally {
    fn held(&self, since: Instant) {
        self.longest_open_ms
            .fetch_max(since.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// The numbers of one finished flood.
#[derive(Debug)]
pub struct FloodReport {
    pub tcp: Vec<(TcpPlan, TcpTallySnapshot)>,
    pub udp_datagrams: u64,
    pub enet_connects: u64,
    pub quic_handshakes: u64,
    pub ran_for: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpTallySnapshot {
    pub connected: u64,
    pub connect_failed: u64,
    pub closed_by_host: u64,
    pub answered: u64,
    pub longest_open: Duration,
}

/// A running flood; [`Flood::stop`] ends it and reports.
pub struct Flood {
    stop: Arc<AtomicBool>,
    stop_tx: tokio::sync::watch::Sender<bool>,
    started: Instant,
    tcp: Vec<(TcpPlan, Arc<TcpTally>)>,
    runtime_thread: Option<JoinHandle<()>>,
    threads: Vec<JoinHandle<()>>,
    udp_datagrams: Arc<AtomicU64>,
    enet_connects: Arc<AtomicU64>,
    quic_handshakes: Arc<AtomicU64>,
}

impl Flood {
    /// Starts every attack from every address in `attackers`; it all ends by itself after
    /// `limit` if [`Flood::stop`] does not come first.
    pub fn start(
        targets: &Targets,
        attackers: &[Ipv4Addr],
        plans: Vec<TcpPlan>,
        limit: Duration,
    ) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let deadline = Instant::now() + limit;
        let tcp: Vec<(TcpPlan, Arc<TcpTally>)> = plans
            .into_iter()
            .map(|p| (p, Arc::new(TcpTally::default())))
            .collect();
        let (udp_datagrams, enet_connects, quic_handshakes) = Default::default();
        let mut flood = Flood {
            stop: stop.clone(),
            stop_tx,
            started: Instant::now(),
            tcp,
            runtime_thread: None,
            threads: Vec::new(),
            udp_datagrams,
            enet_connects,
            quic_handshakes,
        };

        // TCP slowloris and the QUIC handshake flood: tasks on one small runtime.
        let tcp = flood.tcp.clone();
        let ips = attackers.to_vec();
        let (quic, webtransport) = (targets.quic, targets.webtransport);
        let handshakes = flood.quic_handshakes.clone();
        flood.runtime_thread = Some(
            std::thread::Builder::new()
                .name("attack-tcp".into())
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async move {
                        // The tasks stop on the caller's stop or at the deadline, whichever is first.
                        let (inner_tx, inner_rx) = tokio::sync::watch::channel(false);
                        let mut tasks = tokio::task::JoinSet::new();
                        let mut n = 0u64;
                        for (plan, tally) in &tcp {
                            for &ip in &ips {
                                for _ in 0..plan.slots_per_ip {
                                    // Spread the first connections over 2 s.
                                    let delay = Duration::from_millis((n * 7) % 2000);
                                    n += 1;
                                    tasks.spawn(tcp_slot(
                                        ip,
                                        plan.clone(),
                                        tally.clone(),
                                        inner_rx.clone(),
                                        delay,
                                    ));
                                }
                            }
                        }
                        for &ip in &ips {
                            for target in [quic, webtransport] {
                                let (count, stop) = (handshakes.clone(), inner_rx.clone());
                                tasks.spawn(quic_flood(ip, target, count, stop));
                            }
                        }
                        let mut stop_rx = stop_rx;
                        let left = deadline.saturating_duration_since(Instant::now());
                        let _ = tokio::time::timeout(left, stop_rx.wait_for(|&s| s)).await;
                        let _ = inner_tx.send(true);
                        let _ = tokio::time::timeout(Duration::from_secs(10), async {
                            while tasks.join_next().await.is_some() {}
                        })
                        .await;
                        tasks.abort_all();
                    });
                    rt.shutdown_timeout(Duration::from_secs(2));
                })
                .unwrap(),
        );

        // Random datagrams at every UDP port.
        let udp_targets = vec![
            targets.gs_video,
            targets.gs_control,
            targets.gs_audio,
            targets.quic,
            targets.data,
            targets.webtransport,
        ];
        for &ip in attackers {
            let (stop, count, targets) = (
                stop.clone(),
                flood.udp_datagrams.clone(),
                udp_targets.clone(),
            );
            flood.threads.push(
                std::thread::Builder::new()
                    .name("attack-udp".into())
                    .spawn(move || udp_flood(ip, &targets, &stop, deadline, &count))
                    .unwrap(),
            );
        }

        // Half-open ENet peers on the control port.
        let (enet_stop, enet_count, control) = (
            stop.clone(),
            flood.enet_connects.clone(),
            targets.gs_control,
        );
        let ips = attackers.to_vec();
        flood.threads.push(
            std::thread::Builder::new()
                .name("attack-enet".into())
                .spawn(move || enet_half_open(&ips, control, &enet_stop, deadline, &enet_count))
                .unwrap(),
        );
        flood
    }

    /// The flood's TCP numbers so far.
    pub fn tcp_snapshot(&self) -> Vec<(TcpPlan, TcpTallySnapshot)> {
        self.tcp
            .iter()
            .map(|(plan, t)| {
                (
                    plan.clone(),
                    TcpTallySnapshot {
                        connected: t.connected.load(Ordering::Relaxed),
                        connect_failed: t.connect_failed.load(Ordering::Relaxed),
                        closed_by_host: t.closed_by_host.load(Ordering::Relaxed),
                        answered: t.answered.load(Ordering::Relaxed),
                        longest_open: Duration::from_millis(
                            t.longest_open_ms.load(Ordering::Relaxed),
                        ),
                    },
                )
            })
            .collect()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops every attack (closing every attacker socket) and reports.
    pub fn stop(mut self) -> FloodReport {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.stop_tx.send(true);
        if let Some(t) = self.runtime_thread.take() {
            t.join().unwrap();
        }
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
        FloodReport {
            tcp: self.tcp_snapshot(),
            udp_datagrams: self.udp_datagrams.load(Ordering::Relaxed),
            enet_connects: self.enet_connects.load(Ordering::Relaxed),
            quic_handshakes: self.quic_handshakes.load(Ordering::Relaxed),
            ran_for: self.started.elapsed(),
        }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        // A test that panicked mid-flood still stops its attackers.
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.stop_tx.send(true);
    }
}

impl FloodReport {
    /// One line per TCP plan, for failure messages.
    pub fn describe(&self) -> String {
        let mut by_target: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (plan, t) in &self.tcp {
            by_target.entry(plan.target_name.to_string()).or_default().push(format!(
                "{:?}: connected {} failed {} closed-by-host {} answered {} longest-open {:.1}s",
                plan.attack,
                t.connected,
                t.connect_failed,
                t.closed_by_host,
                t.answered,
                t.longest_open.as_secs_f64()
            ));
        }
        let mut out = String::new();
        for (target, lines) in by_target {
            for line in lines {
                out.push_str(&format!("  {target} {line}\n"));
            }
        }
        out.push_str(&format!(
            "  udp datagrams {}, enet half-open connects {}, quic abandoned handshakes {}, {:.1}s\n",
            self.udp_datagrams,
            self.enet_connects,
            self.quic_handshakes,
            self.ran_for.as_secs_f64()
        ));
        out
    }
}

/// Resolves once the flood is told to stop (or its sender is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|&s| s).await;
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::rng().fill_bytes(&mut v);
    v
}

/// A TLS client that takes any server certificate and shows none of its own.
fn tls_connector(alpn: &[u8]) -> tokio_rustls::TlsConnector {
    let verifier = punktfunk_client::tls::PinnedVerifier::new(None);
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(verifier))
    .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(tls))
}

/// One connection slot: connect from `ip`, attack, and when the host closes, connect again.
async fn tcp_slot(
    ip: Ipv4Addr,
    plan: TcpPlan,
    tally: Arc<TcpTally>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    first_delay: Duration,
) {
    let _ = tokio::time::timeout(first_delay, stop.wait_for(|&s| s)).await;
    let alpn: &[u8] = if plan.attack == TcpAttack::TlsH2Preface {
        b"h2"
    } else {
        b"http/1.1"
    };
    let connector = tls_connector(alpn);
    while !*stop.borrow() {
        let attempt = Instant::now();
        let connected = async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
            socket.connect(plan.target).await
        };
        match tokio::time::timeout(Duration::from_secs(5), connected).await {
            Ok(Ok(tcp)) => {
                tally.connected.fetch_add(1, Ordering::Relaxed);
                let since = Instant::now();
                let host = plan.target.to_string();
                let closed = if plan.attack.tls() {
                    let name = rustls::pki_types::ServerName::try_from("punktfunk").unwrap();
                    let handshake = tokio::select! {
                        h = connector.connect(name, tcp) => Some(h),
                        () = stopped(&mut stop) => None,
                    };
                    match handshake {
                        None => false,
                        Some(Ok(tls)) => hold(tls, plan.attack, &host, &tally, &mut stop).await,
                        // The host refused the session: it closed the connection.
                        Some(Err(_)) => true,
                    }
                } else {
                    hold(tcp, plan.attack, &host, &tally, &mut stop).await
                };
                tally.held(since);
                if closed {
                    tally.closed_by_host.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(Err(_)) | Err(_) => {
                tally.connect_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        let pause = RECONNECT_GAP.saturating_sub(attempt.elapsed());
        let _ = tokio::time::timeout(pause, stop.wait_for(|&s| s)).await;
    }
}

/// Sends the attack's opener, then drips until the host closes (true) or the flood stops (false).
async fn hold<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    attack: TcpAttack,
    host: &str,
    tally: &TcpTally,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> bool {
    let opener = attack.opener(host);
    if !opener.is_empty() && stream.write_all(&opener).await.is_err() {
        return true;
    }
    let mut answered = false;
    let mut buf = [0u8; 4096];
    let mut next_drip = tokio::time::Instant::now() + DRIP;
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return true,
                Ok(_) => {
                    if !answered {
                        answered = true;
                        tally.answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            },
            _ = tokio::time::sleep_until(next_drip) => {
                next_drip += DRIP;
                let drip = attack.drip();
                if !drip.is_empty() && stream.write_all(&drip).await.is_err() {
                    return true;
                }
            }
            () = stopped(stop) => return false,
        }
    }
}

/// punktfunk/1 handshakes started from `ip` and abandoned: each round's endpoint lives on a runtime
/// of its own that is dropped mid-handshake, so no CONNECTION_CLOSE ever leaves.
async fn quic_flood(
    ip: Ipv4Addr,
    target: SocketAddr,
    count: Arc<AtomicU64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let config = punktfunk_client::tls::quic_client_config(
        Arc::new(punktfunk_client::tls::PinnedVerifier::new(None)),
        None,
    )
    .unwrap();
    while !*stop.borrow() {
        let config = config.clone();
        let started = tokio::task::spawn_blocking(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let abandoned = rt.block_on(async {
                let mut endpoint =
                    quinn::Endpoint::client(SocketAddr::new(IpAddr::V4(ip), 0)).ok()?;
                endpoint.set_default_client_config(config);
                let mut connecting = Vec::new();
                for _ in 0..QUIC_CONNECTS {
                    if let Ok(c) = endpoint.connect(target, "punktfunk") {
                        connecting.push(c);
                    }
                }
                // Long enough for the Initials to leave and the host to answer.
                tokio::time::sleep(Duration::from_millis(30)).await;
                Some((endpoint, connecting))
            });
            // Shut down under them: their drivers are never polled again, so no CONNECTION_CLOSE
            // leaves when the handles drop afterwards.
            rt.shutdown_background();
            abandoned.map_or(0, |(_endpoint, connecting)| connecting.len() as u64)
        })
        .await
        .unwrap_or(0);
        count.fetch_add(started, Ordering::Relaxed);
        let _ = tokio::time::timeout(QUIC_ROUND, stop.wait_for(|&s| s)).await;
    }
}

/// Random datagrams (1–1400 bytes; to the QUIC ports shaped like a long-header Initial) at every
/// target, [`UDP_RATE`] per second each.
fn udp_flood(
    ip: Ipv4Addr,
    targets: &[SocketAddr],
    stop: &AtomicBool,
    deadline: Instant,
    count: &AtomicU64,
) {
    let socket = UdpSocket::bind((ip, 0)).unwrap();
    // The QUIC ports: the punktfunk/1 listener and the WebTransport endpoint.
    let quic = [targets.get(3).copied(), targets.get(5).copied()];
    let gap = Duration::from_secs(1) / UDP_RATE;
    let mut rng = rand::rng();
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let round = Instant::now();
        for &target in targets {
            let len = 1 + (rng.next_u32() as usize % 1400);
            let mut datagram = random_bytes(len);
            if quic.contains(&Some(target)) && len > 8 {
                // Long header, Initial, QUIC v1, then junk.
                datagram[0] = 0xc0 | (datagram[0] & 0x0f);
                datagram[1..5].copy_from_slice(&1u32.to_be_bytes());
            }
            if socket.send_to(&datagram, target).is_ok() {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        std::thread::sleep(gap.saturating_sub(round.elapsed()));
    }
}

/// A socket that sends but never receives: the ENet host behind it never sees the VERIFY_CONNECT,
/// so its peers stay half-open on the other side.
struct DeafSocket(UdpSocket);

impl rusty_enet::Socket for DeafSocket {
    type Address = SocketAddr;
    type Error = std::io::Error;

    fn init(&mut self, _options: rusty_enet::SocketOptions) -> Result<(), std::io::Error> {
        self.0.set_nonblocking(true)
    }

    fn send(&mut self, address: SocketAddr, buffer: &[u8]) -> Result<usize, std::io::Error> {
        match self.0.send_to(buffer, address) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn receive(
        &mut self,
        _buffer: &mut [u8; rusty_enet::MTU_MAX],
    ) -> Result<Option<(SocketAddr, rusty_enet::PacketReceived)>, std::io::Error> {
        Ok(None)
    }
}

/// Every [`ENET_ROUND`], each attacker opens [`ENET_PEERS`] fresh ENet connections to `control`
/// (new source port, new connect ids, connect data the host never handed out) and never answers.
fn enet_half_open(
    ips: &[Ipv4Addr],
    control: SocketAddr,
    stop: &AtomicBool,
    deadline: Instant,
    count: &AtomicU64,
) {
    let hosts: Mutex<Vec<rusty_enet::Host<DeafSocket>>> = Mutex::new(Vec::new());
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let round = Instant::now();
        let mut fresh = Vec::new();
        for &ip in ips {
            let Ok(socket) = UdpSocket::bind((ip, 0)) else {
                continue;
            };
            let settings = rusty_enet::HostSettings {
                peer_limit: ENET_PEERS,
                channel_limit: 0x30,
                ..rusty_enet::HostSettings::default()
            };
            let Ok(mut host) = rusty_enet::Host::new(DeafSocket(socket), settings) else {
                continue;
            };
            for _ in 0..ENET_PEERS {
                if host.connect(control, 0x30, rand::random()).is_ok() {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
            host.flush();
            fresh.push(host);
        }
        // Keep the previous round's hosts a round longer so their CONNECT retransmits go out.
        let mut kept = hosts.lock().unwrap();
        for h in kept.iter_mut() {
            let _ = h.service();
        }
        *kept = fresh;
        drop(kept);
        while round.elapsed() < ENET_ROUND
            && !stop.load(Ordering::Relaxed)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
