//! A userspace UDP impairment relay — `tc netem` for machines (and CI runners) that do not have it.
//!
//! The relay listens on one UDP socket for a client, forwards what it receives to an upstream server
//! from an ephemeral socket connected to that server, and relays the server's replies back to the
//! client. Each direction applies its own [`Impairment`]: loss (iid or Gilbert–Elliott bursts),
//! fixed delay with uniform jitter, reordering, duplication and a serialization-rate limit with a
//! bounded, tail-dropping queue.
//!
//! The decisions are made by [`ImpairmentState`], which is pure (sans-IO) and deterministic per seed;
//! [`Relay`] only moves datagrams and keeps a min-heap of scheduled releases per direction.

use crate::impair::{LossModel, LossProcess, Rng};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Largest datagram the relay forwards.
pub const MAX_DATAGRAM: usize = 65_535;
/// Default extra delay of a reordered packet.
pub const DEFAULT_REORDER_EXTRA: Duration = Duration::from_millis(10);
/// Default size of the rate limiter's queue.
pub const DEFAULT_QUEUE_BYTES: usize = 256 * 1024;
/// Longest a worker blocks in `recv` before looking at its release heap again.
const TICK: Duration = Duration::from_millis(1);
/// Shortest read timeout (a zero timeout is an error for `set_read_timeout`).
const MIN_TICK: Duration = Duration::from_micros(50);
/// Safety cap on packets scheduled but not yet released, per direction.
const MAX_SCHEDULED: usize = 1 << 17;

/// What happens to the packets of one direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Which packets are lost (decided once per packet, before duplication).
    pub loss: LossModel,
    /// Fixed one-way delay added to every packet.
    pub delay: Duration,
    /// Each packet's delay varies uniformly within `delay ± jitter` (never below zero).
    pub jitter: Duration,
    /// Probability that a packet gets an extra `reorder_extra` delay, so it arrives after later ones.
    pub reorder: f64,
    /// Extra delay of a reordered packet.
    pub reorder_extra: Duration,
    /// Probability that a packet is sent twice (each copy gets its own jitter).
    pub duplicate: f64,
    /// Serialization-rate limit in bits per second; `None` = unlimited.
    pub rate_bps: Option<u64>,
    /// Bytes the rate limiter may queue; a packet that would exceed it is dropped, like a router
    /// tail-drops. A packet arriving at an empty queue is always accepted.
    pub queue_bytes: usize,
    /// Seed for all random decisions of this direction.
    pub seed: u64,
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment {
            loss: LossModel::None,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: 0.0,
            reorder_extra: DEFAULT_REORDER_EXTRA,
            duplicate: 0.0,
            rate_bps: None,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            seed: 1,
        }
    }
}

/// The fate of one packet, as decided by [`ImpairmentState::on_packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Dropped by the loss model.
    Lost,
    /// Dropped because the rate limiter's queue is full.
    QueueFull,
    /// Released once, at this time.
    Deliver(Instant),
    /// Duplicated: released twice, at these times.
    Duplicate(Instant, Instant),
}

impl Fate {
    /// The release times: none (dropped), one, or two (duplicated).
    pub fn releases(self) -> impl Iterator<Item = Instant> {
        let times = match self {
            Fate::Lost | Fate::QueueFull => [None, None],
            Fate::Deliver(t) => [Some(t), None],
            Fate::Duplicate(a, b) => [Some(a), Some(b)],
        };
        times.into_iter().flatten()
    }

    pub fn is_dropped(self) -> bool {
        matches!(self, Fate::Lost | Fate::QueueFull)
    }
}

/// The impairment of one direction with its state: loss-model state, random streams and the rate
/// limiter's queue. Pure: time comes in as an argument and fates come out.
#[derive(Debug, Clone)]
pub struct ImpairmentState {
    imp: Impairment,
    stream: u64,
    loss: LossProcess,
    rng: Rng,
    /// When the rate-limited link finishes sending everything queued so far.
    link_free_at: Option<Instant>,
}

/// splitmix64 finalizer: turns related seeds into unrelated ones.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn nanos(d: Duration) -> i128 {
    d.as_nanos() as i128
}

impl ImpairmentState {
    pub fn new(imp: Impairment) -> Self {
        Self::with_stream(imp, 0)
    }

    /// Like [`new`](Self::new), with the random streams also keyed by `stream`, so identical
    /// impairments on different streams (e.g. the two directions of a relay) make independent decisions.
    pub fn with_stream(imp: Impairment, stream: u64) -> Self {
        let (loss_seed, rng_seed) = Self::seeds(imp.seed, stream);
        ImpairmentState {
            imp,
            stream,
            loss: LossProcess::new(imp.loss, loss_seed),
            rng: Rng::new(rng_seed),
            link_free_at: None,
        }
    }

    fn seeds(seed: u64, stream: u64) -> (u64, u64) {
        let base = mix(seed ^ mix(stream));
        (mix(base ^ 1), mix(base ^ 2))
    }

    pub fn impairment(&self) -> &Impairment {
        &self.imp
    }

    /// Replaces the impairment for subsequent packets. Packets already queued by the rate limiter stay
    /// queued and the random streams keep running, unless the seed changes (then they restart).
    pub fn set_impairment(&mut self, imp: Impairment) {
        if imp.seed != self.imp.seed {
            let (loss_seed, rng_seed) = Self::seeds(imp.seed, self.stream);
            self.loss = LossProcess::new(imp.loss, loss_seed);
            self.rng = Rng::new(rng_seed);
        } else {
            self.loss.set_model(imp.loss);
        }
        if imp.rate_bps.is_none() {
            self.link_free_at = None;
        }
        self.imp = imp;
    }

    /// Decides the fate of a packet of `len` bytes arriving at `now`. Call in arrival order.
    pub fn on_packet(&mut self, now: Instant, len: usize) -> Fate {
        if self.loss.drop_next() {
            return Fate::Lost;
        }
        let duplicate = self.imp.duplicate > 0.0 && self.rng.unit() < self.imp.duplicate;
        let Some(first) = self.release(now, len) else {
            return Fate::QueueFull;
        };
        if !duplicate {
            return Fate::Deliver(first);
        }
        match self.release(now, len) {
            Some(second) => Fate::Duplicate(first, second),
            None => Fate::Deliver(first),
        }
    }

    /// Shapes one copy through the rate limiter, then adds delay, jitter and reordering.
    fn release(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let departure = match self.imp.rate_bps {
            None => now,
            Some(rate) => {
                let rate = u128::from(rate.max(1));
                let start = self.link_free_at.map_or(now, |t| t.max(now));
                let backlog_bytes = (start - now).as_nanos() * rate / 8_000_000_000;
                if backlog_bytes > 0 && backlog_bytes + len as u128 > self.imp.queue_bytes as u128 {
                    return None;
                }
                let tx_nanos = (len as u128 * 8 * 1_000_000_000).div_ceil(rate);
                let done =
                    start + Duration::from_nanos(u64::try_from(tx_nanos).unwrap_or(u64::MAX));
                self.link_free_at = Some(done);
                done
            }
        };
        let mut delay = nanos(self.imp.delay);
        if !self.imp.jitter.is_zero() {
            let offset = (self.rng.unit() * 2.0 - 1.0) * self.imp.jitter.as_nanos() as f64;
            delay += offset as i128;
        }
        if self.imp.reorder > 0.0 && self.rng.unit() < self.imp.reorder {
            delay += nanos(self.imp.reorder_extra);
        }
        let delay = u64::try_from(delay.max(0)).unwrap_or(u64::MAX);
        Some(departure + Duration::from_nanos(delay))
    }
}

/// A direction through the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client → server.
    Up,
    /// Server → client.
    Down,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::Up => 0,
            Direction::Down => 1,
        }
    }
}

/// Counters of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Datagrams received.
    pub packets_in: u64,
    pub bytes_in: u64,
    /// Datagrams sent (duplicates count twice).
    pub packets_out: u64,
    pub bytes_out: u64,
    /// All drops: `lost + queue_dropped + undeliverable`.
    pub dropped: u64,
    /// Dropped by the loss model.
    pub lost: u64,
    /// Dropped by the rate limiter's full queue (or the relay's in-flight cap).
    pub queue_dropped: u64,
    /// Could not be sent: no client known yet (downstream), or the send failed.
    pub undeliverable: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Scheduled but not yet released.
    pub in_flight: u64,
}

/// Counters of both directions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Client → server.
    pub up: DirectionStats,
    /// Server → client.
    pub down: DirectionStats,
}

#[derive(Default)]
struct Counters {
    packets_in: AtomicU64,
    bytes_in: AtomicU64,
    packets_out: AtomicU64,
    bytes_out: AtomicU64,
    lost: AtomicU64,
    queue_dropped: AtomicU64,
    undeliverable: AtomicU64,
    duplicated: AtomicU64,
    in_flight: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, AtomicOrdering::Relaxed);
    }

    fn snapshot(&self) -> DirectionStats {
        let get = |c: &AtomicU64| c.load(AtomicOrdering::Relaxed);
        let (lost, queue_dropped, undeliverable) = (
            get(&self.lost),
            get(&self.queue_dropped),
            get(&self.undeliverable),
        );
        DirectionStats {
            packets_in: get(&self.packets_in),
            bytes_in: get(&self.bytes_in),
            packets_out: get(&self.packets_out),
            bytes_out: get(&self.bytes_out),
            dropped: lost + queue_dropped + undeliverable,
            lost,
            queue_dropped,
            undeliverable,
            duplicated: get(&self.duplicated),
            in_flight: get(&self.in_flight),
        }
    }
}

struct DirShared {
    state: Mutex<ImpairmentState>,
    counters: Counters,
}

struct Shared {
    stop: AtomicBool,
    /// The client's address: learned from the newest datagram on the listening socket.
    client: Mutex<Option<SocketAddr>>,
    dirs: [DirShared; 2],
}

impl Shared {
    fn dir(&self, dir: Direction) -> &DirShared {
        &self.dirs[dir.index()]
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A datagram waiting for its release time. Ordered so that `BinaryHeap` pops the earliest first
/// (ties in arrival order).
struct Scheduled {
    at: Instant,
    seq: u64,
    data: Vec<u8>,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The UDP impairment relay; see [`Relay::start`].
#[derive(Debug)]
pub struct Relay;

impl Relay {
    /// Binds `listen`, connects an ephemeral socket to `upstream`, and starts one thread per
    /// direction. `up` impairs client → server, `down` server → client; the directions draw
    /// independent random streams even when their impairments (and seeds) are equal.
    pub fn start(
        listen: impl ToSocketAddrs,
        upstream: impl ToSocketAddrs,
        up: Impairment,
        down: Impairment,
    ) -> io::Result<RelayHandle> {
        let upstream = upstream.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "upstream resolves to nothing")
        })?;
        let client_sock = UdpSocket::bind(listen)?;
        let local = client_sock.local_addr()?;
        let bind_ip: IpAddr = match (upstream.ip().is_loopback(), upstream) {
            (true, SocketAddr::V4(_)) => Ipv4Addr::LOCALHOST.into(),
            (true, SocketAddr::V6(_)) => Ipv6Addr::LOCALHOST.into(),
            (false, SocketAddr::V4(_)) => Ipv4Addr::UNSPECIFIED.into(),
            (false, SocketAddr::V6(_)) => Ipv6Addr::UNSPECIFIED.into(),
        };
        let upstream_sock = UdpSocket::bind((bind_ip, 0))?;
        upstream_sock.connect(upstream)?;
        client_sock.set_read_timeout(Some(TICK))?;
        upstream_sock.set_read_timeout(Some(TICK))?;

        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            client: Mutex::new(None),
            dirs: [
                DirShared {
                    state: Mutex::new(ImpairmentState::with_stream(up, 1)),
                    counters: Counters::default(),
                },
                DirShared {
                    state: Mutex::new(ImpairmentState::with_stream(down, 2)),
                    counters: Counters::default(),
                },
            ],
        });
        let mut handle = RelayHandle {
            shared: shared.clone(),
            local,
            upstream,
            threads: Vec::with_capacity(2),
        };
        for (dir, rx, tx, name) in [
            (
                Direction::Up,
                client_sock.try_clone()?,
                upstream_sock.try_clone()?,
                "netem-up",
            ),
            (Direction::Down, upstream_sock, client_sock, "netem-down"),
        ] {
            let shared = shared.clone();
            // On error `handle` is dropped, which stops and joins the threads started so far.
            let thread = thread::Builder::new()
                .name(name.into())
                .spawn(move || pump(&shared, dir, &rx, &tx))?;
            handle.threads.push(thread);
        }
        Ok(handle)
    }
}

/// Sends one released datagram on its way.
fn send(shared: &Shared, dir: Direction, tx: &UdpSocket, data: &[u8]) {
    let counters = &shared.dir(dir).counters;
    let sent = match dir {
        Direction::Up => tx.send(data),
        Direction::Down => match *lock(&shared.client) {
            Some(client) => tx.send_to(data, client),
            None => Err(io::ErrorKind::NotConnected.into()),
        },
    };
    match sent {
        Ok(n) => {
            Counters::add(&counters.packets_out, 1);
            Counters::add(&counters.bytes_out, n as u64);
        }
        Err(e) => {
            tracing::debug!(?dir, error = %e, "netem relay: send failed");
            Counters::add(&counters.undeliverable, 1);
        }
    }
}

/// The worker of one direction: receive from `rx`, schedule, release through `tx`.
fn pump(shared: &Shared, dir: Direction, rx: &UdpSocket, tx: &UdpSocket) {
    let ds = shared.dir(dir);
    let counters = &ds.counters;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut heap = BinaryHeap::<Scheduled>::new();
    let mut seq = 0u64;
    let mut timeout = TICK;
    while !shared.stop.load(AtomicOrdering::Relaxed) {
        let now = Instant::now();
        while heap.peek().is_some_and(|p| p.at <= now) {
            if let Some(p) = heap.pop() {
                send(shared, dir, tx, &p.data);
            }
        }
        counters
            .in_flight
            .store(heap.len() as u64, AtomicOrdering::Relaxed);

        let next = heap.peek().map_or(TICK, |p| {
            p.at.saturating_duration_since(now).clamp(MIN_TICK, TICK)
        });
        if next != timeout && rx.set_read_timeout(Some(next)).is_ok() {
            timeout = next;
        }

        let (n, from) = match rx.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) => {
                match e.kind() {
                    io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::Interrupted => {}
                    // ICMP port unreachable from an earlier send (server not up yet): keep going.
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset => {}
                    _ => {
                        tracing::debug!(?dir, error = %e, "netem relay: recv failed");
                        thread::sleep(TICK);
                    }
                }
                continue;
            }
        };
        let now = Instant::now();
        if dir == Direction::Up {
            let mut client = lock(&shared.client);
            if *client != Some(from) {
                if client.is_some() {
                    tracing::debug!(%from, "netem relay: client address changed");
                }
                *client = Some(from);
            }
        }
        Counters::add(&counters.packets_in, 1);
        Counters::add(&counters.bytes_in, n as u64);

        let fate = lock(&ds.state).on_packet(now, n);
        match fate {
            Fate::Lost => Counters::add(&counters.lost, 1),
            Fate::QueueFull => Counters::add(&counters.queue_dropped, 1),
            Fate::Deliver(_) => {}
            Fate::Duplicate(..) => Counters::add(&counters.duplicated, 1),
        }
        for at in fate.releases() {
            if at <= now && heap.is_empty() {
                send(shared, dir, tx, &buf[..n]);
            } else if heap.len() >= MAX_SCHEDULED {
                Counters::add(&counters.queue_dropped, 1);
            } else {
                seq += 1;
                heap.push(Scheduled {
                    at,
                    seq,
                    data: buf[..n].to_vec(),
                });
            }
        }
    }
    counters.in_flight.store(0, AtomicOrdering::Relaxed);
}

/// A running relay. Dropping it (or calling [`stop`](Self::stop)) stops and joins its threads;
/// packets still scheduled are discarded.
pub struct RelayHandle {
    shared: Arc<Shared>,
    local: SocketAddr,
    upstream: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for RelayHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayHandle")
            .field("local", &self.local)
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl RelayHandle {
    /// The address clients send to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The server the relay forwards to.
    pub fn upstream_addr(&self) -> SocketAddr {
        self.upstream
    }

    /// The client the relay currently answers to (the source of the newest client datagram).
    pub fn client_addr(&self) -> Option<SocketAddr> {
        *lock(&self.shared.client)
    }

    /// Replaces one direction's impairment; takes effect for packets received from now on.
    pub fn set_impairment(&self, dir: Direction, imp: Impairment) {
        lock(&self.shared.dir(dir).state).set_impairment(imp);
    }

    /// Replaces the impairment of both directions.
    pub fn set_impairment_both(&self, imp: Impairment) {
        self.set_impairment(Direction::Up, imp);
        self.set_impairment(Direction::Down, imp);
    }

    /// The current impairment of one direction.
    pub fn impairment(&self, dir: Direction) -> Impairment {
        *lock(&self.shared.dir(dir).state).impairment()
    }

    pub fn stats(&self) -> RelayStats {
        RelayStats {
            up: self.shared.dir(Direction::Up).counters.snapshot(),
            down: self.shared.dir(Direction::Down).counters.snapshot(),
        }
    }

    /// Stops the relay and joins its threads (within a few milliseconds).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, AtomicOrdering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for RelayHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Command-line options of the `netem` relay. Every impairment applies to both directions (each
/// direction draws its own random stream).
#[derive(Debug, Clone, clap::Args)]
pub struct NetemArgs {
    /// Address to listen on for the client; the bound address is printed as `listening on ADDR`.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// The server to relay to (host:port).
    #[arg(long, value_name = "ADDR")]
    pub upstream: String,
    /// Packet loss in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0)]
    pub loss: f64,
    /// Make loss bursty (Gilbert–Elliott) with this mean burst length in packets; iid otherwise.
    #[arg(long, value_name = "MEAN_LEN")]
    pub burst: Option<f64>,
    /// One-way delay in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0.0)]
    pub delay: f64,
    /// Uniform delay variation (±) in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0.0)]
    pub jitter: f64,
    /// Percentage of packets held back an extra 10 ms, so they arrive after later ones.
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0)]
    pub reorder: f64,
    /// Percentage of packets sent twice.
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0)]
    pub duplicate: f64,
    /// Rate limit in Mbit/s (serialization rate with a tail-drop queue); unlimited if absent.
    #[arg(long, value_name = "MBPS")]
    pub rate: Option<f64>,
    /// Size of the rate limiter's queue in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 256)]
    pub queue_kib: usize,
    /// Seed for all random decisions (runs are reproducible per seed).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop after this many seconds; run until killed otherwise.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
}

impl NetemArgs {
    /// The impairment these options describe.
    pub fn impairment(&self) -> anyhow::Result<Impairment> {
        let percent = |name: &str, v: f64| -> anyhow::Result<f64> {
            anyhow::ensure!(
                (0.0..=100.0).contains(&v),
                "--{name} must be a percentage in 0..=100, got {v}"
            );
            Ok(v / 100.0)
        };
        let millis = |name: &str, v: f64| -> anyhow::Result<Duration> {
            Duration::try_from_secs_f64(v / 1000.0).map_err(|_| {
                anyhow::anyhow!("--{name} must be a non-negative number of ms, got {v}")
            })
        };
        let p = percent("loss", self.loss)?;
        let loss = match self.burst {
            _ if p == 0.0 => LossModel::None,
            Some(b) => {
                anyhow::ensure!(b.is_finite() && b >= 1.0, "--burst must be >= 1, got {b}");
                LossModel::bursty(p, b)
            }
            None => LossModel::Iid { p },
        };
        let rate_bps = match self.rate {
            None => None,
            Some(mbps) => {
                anyhow::ensure!(
                    mbps.is_finite() && mbps > 0.0,
                    "--rate must be a positive number of Mbit/s, got {mbps}"
                );
                Some(((mbps * 1e6).round() as u64).max(1))
            }
        };
        Ok(Impairment {
            loss,
            delay: millis("delay", self.delay)?,
            jitter: millis("jitter", self.jitter)?,
            reorder: percent("reorder", self.reorder)?,
            reorder_extra: DEFAULT_REORDER_EXTRA,
            duplicate: percent("duplicate", self.duplicate)?,
            rate_bps,
            queue_bytes: self.queue_kib.saturating_mul(1024),
            seed: self.seed,
        })
    }
}

/// Runs the relay from the command line: prints `listening on ADDR`, logs the counters every
/// second, and returns after `--duration` (or never).
pub fn run(args: NetemArgs) -> anyhow::Result<()> {
    let imp = args.impairment()?;
    let deadline = match args.duration {
        None => None,
        Some(s) => Some(
            Instant::now()
                + Duration::try_from_secs_f64(s)
                    .map_err(|_| anyhow::anyhow!("--duration must be non-negative, got {s}"))?,
        ),
    };
    let relay = Relay::start(args.listen, args.upstream.as_str(), imp, imp).map_err(|e| {
        anyhow::anyhow!(
            "starting the relay on {} to {}: {e}",
            args.listen,
            args.upstream
        )
    })?;
    println!("listening on {}", relay.local_addr());
    io::stdout().flush()?;
    tracing::info!(
        listen = %relay.local_addr(),
        upstream = %relay.upstream_addr(),
        impairment = ?imp,
        "netem relay running"
    );

    let start = Instant::now();
    let mut tick = 0u32;
    loop {
        tick += 1;
        let mut wake = start + Duration::from_secs(u64::from(tick));
        let last = deadline.is_some_and(|d| d <= wake);
        if let Some(d) = deadline {
            wake = wake.min(d);
        }
        thread::sleep(wake.saturating_duration_since(Instant::now()));
        let s = relay.stats();
        tracing::info!(
            up_in = s.up.packets_in,
            up_out = s.up.packets_out,
            up_dropped = s.up.dropped,
            up_queue_dropped = s.up.queue_dropped,
            up_in_flight = s.up.in_flight,
            down_in = s.down.packets_in,
            down_out = s.down.packets_out,
            down_dropped = s.down.dropped,
            down_queue_dropped = s.down.queue_dropped,
            down_in_flight = s.down.in_flight,
            client = ?relay.client_addr(),
            "netem relay stats"
        );
        if last {
            break;
        }
    }
    relay.stop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn no_impairment_delivers_immediately() {
        let mut s = ImpairmentState::new(Impairment::default());
        let now = Instant::now();
        for i in 0..1000 {
            let t = now + Duration::from_micros(i);
            assert_eq!(s.on_packet(t, 1200), Fate::Deliver(t));
        }
    }

    #[test]
    fn loss_rates() {
        let now = Instant::now();
        for model in [LossModel::Iid { p: 0.2 }, LossModel::bursty(0.1, 5.0)] {
            let mut s = ImpairmentState::new(Impairment {
                loss: model,
                ..Default::default()
            });
            let n = 100_000;
            let lost = (0..n)
                .filter(|_| s.on_packet(now, 100) == Fate::Lost)
                .count();
            let rate = lost as f64 / f64::from(n);
            assert!((rate - model.mean_loss()).abs() < 0.01, "{model:?}: {rate}");
        }
    }

    #[test]
    fn delay_jitter_and_reorder_bounds() {
        let now = Instant::now();
        let mut s = ImpairmentState::new(Impairment {
            delay: ms(20),
            jitter: ms(5),
            ..Default::default()
        });
        let (mut lo, mut hi, mut sum) = (Duration::MAX, Duration::ZERO, 0.0);
        let n = 20_000;
        for _ in 0..n {
            let Fate::Deliver(t) = s.on_packet(now, 100) else {
                panic!("dropped without loss")
            };
            let d = t - now;
            assert!(d >= ms(15) && d <= ms(25), "{d:?}");
            lo = lo.min(d);
            hi = hi.max(d);
            sum += d.as_secs_f64();
        }
        assert!(lo < ms(16) && hi > ms(24), "{lo:?}..{hi:?}");
        let mean = sum / f64::from(n);
        assert!((mean - 0.020).abs() < 0.0005, "{mean}");

        let mut s = ImpairmentState::new(Impairment {
            delay: ms(20),
            jitter: ms(5),
            reorder: 0.1,
            ..Default::default()
        });
        let mut late = 0;
        for _ in 0..n {
            let Fate::Deliver(t) = s.on_packet(now, 100) else {
                panic!("dropped without loss")
            };
            let d = t - now;
            assert!(d >= ms(15) && d <= ms(35), "{d:?}");
            late += u32::from(d > ms(25));
        }
        let frac = f64::from(late) / f64::from(n);
        assert!((frac - 0.1).abs() < 0.01, "{frac}");
    }

    #[test]
    fn reordered_packets_arrive_after_later_ones() {
        let start = Instant::now();
        let mut s = ImpairmentState::new(Impairment {
            delay: ms(5),
            reorder: 0.2,
            ..Default::default()
        });
        let releases: Vec<Instant> = (0..1000u64)
            .map(
                |i| match s.on_packet(start + Duration::from_micros(500 * i), 100) {
                    Fate::Deliver(t) => t,
                    f => panic!("{f:?}"),
                },
            )
            .collect();
        let inversions = releases.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(inversions > 100, "{inversions}");
    }

    #[test]
    fn rate_limit_spacing_and_queue() {
        // 8 Mbit/s, 1000-byte packets: 1 ms each on the wire.
        let rate = 8_000_000;
        let imp = Impairment {
            rate_bps: Some(rate),
            queue_bytes: 1 << 20,
            ..Default::default()
        };
        let now = Instant::now();
        let mut s = ImpairmentState::new(imp);
        for i in 1..=50u32 {
            assert_eq!(s.on_packet(now, 1000), Fate::Deliver(now + ms(1) * i));
        }
        // Arrivals slower than the rate are not queued: each leaves one serialization time later.
        let mut s = ImpairmentState::new(imp);
        for i in 0..50u32 {
            let t = now + ms(3) * i;
            assert_eq!(
                s.on_packet(t, 500),
                Fate::Deliver(t + Duration::from_micros(500))
            );
        }
        // A 5000-byte queue holds five packets; the rest are tail-dropped until it drains.
        let mut s = ImpairmentState::new(Impairment {
            queue_bytes: 5000,
            ..imp
        });
        let fates: Vec<Fate> = (0..20).map(|_| s.on_packet(now, 1000)).collect();
        assert!(fates[..5].iter().all(|f| !f.is_dropped()), "{fates:?}");
        assert!(
            fates[5..].iter().all(|&f| f == Fate::QueueFull),
            "{fates:?}"
        );
        let later = now + ms(3);
        assert_eq!(s.on_packet(later, 1000), Fate::Deliver(now + ms(6)));
        // Rate-limited packets still get the propagation delay on top.
        let mut s = ImpairmentState::new(Impairment {
            delay: ms(10),
            ..imp
        });
        assert_eq!(s.on_packet(now, 1000), Fate::Deliver(now + ms(11)));
        assert_eq!(s.on_packet(now, 1000), Fate::Deliver(now + ms(12)));
    }

    #[test]
    fn duplicates() {
        let now = Instant::now();
        let mut s = ImpairmentState::new(Impairment {
            duplicate: 0.3,
            delay: ms(7),
            ..Default::default()
        });
        let n = 50_000;
        let mut dups = 0;
        for _ in 0..n {
            match s.on_packet(now, 100) {
                Fate::Deliver(t) => assert_eq!(t, now + ms(7)),
                Fate::Duplicate(a, b) => {
                    assert_eq!((a, b), (now + ms(7), now + ms(7)));
                    dups += 1;
                }
                f => panic!("{f:?}"),
            }
        }
        let frac = f64::from(dups) / f64::from(n);
        assert!((frac - 0.3).abs() < 0.01, "{frac}");
        assert_eq!(Fate::Duplicate(now, now).releases().count(), 2);
        assert_eq!(Fate::Lost.releases().count(), 0);
    }

    #[test]
    fn deterministic_per_seed_and_switchable() {
        let imp = Impairment {
            loss: LossModel::Iid { p: 0.3 },
            jitter: ms(3),
            duplicate: 0.1,
            seed: 42,
            ..Default::default()
        };
        let now = Instant::now();
        let run =
            |mut s: ImpairmentState| (0..500).map(|_| s.on_packet(now, 64)).collect::<Vec<_>>();
        assert_eq!(
            run(ImpairmentState::new(imp)),
            run(ImpairmentState::new(imp))
        );
        assert_ne!(
            run(ImpairmentState::with_stream(imp, 1)),
            run(ImpairmentState::with_stream(imp, 2))
        );

        let mut s = ImpairmentState::new(Impairment {
            loss: LossModel::Iid { p: 1.0 },
            ..Default::default()
        });
        assert!((0..100).all(|_| s.on_packet(now, 64) == Fate::Lost));
        s.set_impairment(Impairment::default());
        assert!((0..100).all(|_| s.on_packet(now, 64) == Fate::Deliver(now)));
    }

    #[test]
    fn args_to_impairment() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            netem: NetemArgs,
        }
        let cli = Cli::try_parse_from([
            "x",
            "--upstream",
            "127.0.0.1:9",
            "--loss",
            "5",
            "--burst",
            "4",
            "--delay",
            "20",
            "--jitter",
            "2.5",
            "--rate",
            "12.5",
        ])
        .unwrap();
        assert_eq!(cli.netem.listen, "127.0.0.1:0".parse().unwrap());
        let imp = cli.netem.impairment().unwrap();
        assert_eq!(imp.loss, LossModel::bursty(0.05, 4.0));
        assert_eq!(imp.delay, ms(20));
        assert_eq!(imp.jitter, Duration::from_micros(2500));
        assert_eq!(imp.rate_bps, Some(12_500_000));
        assert_eq!(imp.duplicate, 0.0);

        let cli = Cli::try_parse_from(["x", "--upstream", "h:1", "--loss", "3"]).unwrap();
        let imp = cli.netem.impairment().unwrap();
        assert_eq!(imp.loss, LossModel::Iid { p: 0.03 });
        assert_eq!(imp.rate_bps, None);
        let cli = Cli::try_parse_from(["x", "--upstream", "h:1", "--loss", "130"]).unwrap();
        assert!(cli.netem.impairment().is_err());
    }

    #[test]
    fn run_ends_after_duration() {
        let echo = Echo::start();
        let args = NetemArgs {
            listen: "127.0.0.1:0".parse().unwrap(),
            upstream: echo.addr.to_string(),
            loss: 10.0,
            burst: Some(3.0),
            delay: 1.0,
            jitter: 0.5,
            reorder: 1.0,
            duplicate: 1.0,
            rate: Some(100.0),
            queue_kib: 64,
            seed: 3,
            duration: Some(0.2),
        };
        let t = Instant::now();
        run(args).unwrap();
        assert!(t.elapsed() >= ms(200) && t.elapsed() < Duration::from_secs(2));
    }

    /// A UDP echo server on loopback, stopped and joined on drop.
    struct Echo {
        addr: SocketAddr,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Echo {
        fn start() -> Echo {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.set_read_timeout(Some(ms(5))).unwrap();
            let addr = sock.local_addr().unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let thread = thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !flag.load(AtomicOrdering::Relaxed) {
                    if let Ok((n, from)) = sock.recv_from(&mut buf) {
                        let _ = sock.send_to(&buf[..n], from);
                    }
                }
            });
            Echo {
                addr,
                stop,
                thread: Some(thread),
            }
        }
    }

    impl Drop for Echo {
        fn drop(&mut self) {
            self.stop.store(true, AtomicOrdering::Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// Sends `count` numbered datagrams from `sock` (paced), collecting the echoes on a second
    /// thread; returns how many distinct numbers came back.
    fn echo_round(sock: &UdpSocket, to: SocketAddr, count: u32) -> usize {
        let rx = sock.try_clone().unwrap();
        rx.set_read_timeout(Some(ms(5))).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let receiver = thread::spawn(move || {
            let mut seen = vec![false; count as usize];
            let mut buf = [0u8; 64];
            let mut quiet_since = None::<Instant>;
            let hard_stop = Instant::now() + Duration::from_secs(4);
            while Instant::now() < hard_stop {
                match rx.recv(&mut buf) {
                    Ok(n) if n >= 4 => {
                        quiet_since = None;
                        let i = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
                        if let Some(s) = seen.get_mut(i) {
                            *s = true;
                        }
                    }
                    _ => {
                        if flag.load(AtomicOrdering::Relaxed) {
                            let q = *quiet_since.get_or_insert_with(Instant::now);
                            if q.elapsed() > ms(150) {
                                break;
                            }
                        }
                    }
                }
            }
            seen.into_iter().filter(|&s| s).count()
        });
        let mut payload = [0u8; 16];
        for i in 0..count {
            payload[..4].copy_from_slice(&i.to_le_bytes());
            sock.send_to(&payload, to).unwrap();
            if i % 10 == 9 {
                thread::sleep(ms(1));
            }
        }
        done.store(true, AtomicOrdering::Relaxed);
        receiver.join().unwrap()
    }

    #[test]
    fn relay_loss_round_trip() {
        let started = Instant::now();
        let echo = Echo::start();
        let imp = Impairment {
            loss: LossModel::Iid { p: 0.2 },
            seed: 7,
            ..Default::default()
        };
        let relay = Relay::start("127.0.0.1:0", echo.addr, imp, imp).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let n = 2000;
        let got = echo_round(&client, relay.local_addr(), n);
        let rate = got as f64 / f64::from(n);
        assert!((rate - 0.64).abs() < 0.05, "round-trip delivery {rate}");

        let s = relay.stats();
        assert_eq!(relay.client_addr(), Some(client.local_addr().unwrap()));
        for d in [s.up, s.down] {
            assert_eq!(d.packets_in, d.packets_out + d.dropped, "{s:?}");
            assert_eq!(d.dropped, d.lost, "{s:?}");
            let loss = d.lost as f64 / d.packets_in as f64;
            assert!((loss - 0.2).abs() < 0.04, "{s:?}");
        }
        assert_eq!(s.down.packets_out as usize, got, "{s:?}");
        relay.stop();
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn relay_delay_rtt() {
        let echo = Echo::start();
        let imp = Impairment {
            delay: ms(20),
            jitter: ms(5),
            ..Default::default()
        };
        let relay = Relay::start("127.0.0.1:0", echo.addr, imp, imp).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut buf = [0u8; 64];
        let mut rtts = Vec::new();
        for i in 0u32..7 {
            let sent = Instant::now();
            client
                .send_to(&i.to_le_bytes(), relay.local_addr())
                .unwrap();
            let n = client.recv(&mut buf).expect("echo within 1 s");
            let rtt = sent.elapsed();
            assert_eq!(&buf[..n], &i.to_le_bytes());
            // Two one-way delays of 20 ms, each at most 5 ms early: a hard lower bound.
            assert!(rtt >= ms(30), "rtt {rtt:?}");
            rtts.push(rtt);
        }
        // The upper bound depends on scheduling; the median keeps one descheduled thread from
        // failing the test on a loaded machine.
        rtts.sort();
        assert!(rtts[rtts.len() / 2] < ms(100), "rtts {rtts:?}");
        // The relay counts a datagram after sending it: give the last count a moment to land.
        let deadline = Instant::now() + ms(500);
        while relay.stats().down.packets_out < 7 && Instant::now() < deadline {
            thread::sleep(ms(1));
        }
        let s = relay.stats();
        assert_eq!((s.up.packets_out, s.down.packets_out), (7, 7));
    }

    #[test]
    fn relay_switches_impairment_and_follows_client() {
        let echo = Echo::start();
        let blackhole = Impairment {
            loss: LossModel::Iid { p: 1.0 },
            ..Default::default()
        };
        let relay =
            Relay::start("127.0.0.1:0", echo.addr, blackhole, Impairment::default()).unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(echo_round(&a, relay.local_addr(), 50), 0);
        assert_eq!(relay.stats().up.lost, 50);

        relay.set_impairment(Direction::Up, Impairment::default());
        assert_eq!(relay.impairment(Direction::Up), Impairment::default());
        assert_eq!(echo_round(&a, relay.local_addr(), 50), 50);

        // A new source address takes over; replies follow it.
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(echo_round(&b, relay.local_addr(), 50), 50);
        assert_eq!(relay.client_addr(), Some(b.local_addr().unwrap()));

        let t = Instant::now();
        relay.stop();
        assert!(t.elapsed() < ms(250), "stop took {:?}", t.elapsed());
    }

    #[test]
    fn relay_drop_discards_scheduled_packets_promptly() {
        let echo = Echo::start();
        let slow = Impairment {
            delay: Duration::from_secs(30),
            ..Default::default()
        };
        let relay = Relay::start("127.0.0.1:0", echo.addr, slow, slow).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..10 {
            client.send_to(b"held", relay.local_addr()).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while relay.stats().up.in_flight < 10 && Instant::now() < deadline {
            thread::sleep(ms(1));
        }
        assert_eq!(relay.stats().up.in_flight, 10);
        let t = Instant::now();
        drop(relay);
        assert!(t.elapsed() < ms(250), "drop took {:?}", t.elapsed());
    }
}
