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

use crate::probe::impair::LossModel;
pub use crate::probe::impair::{
    DEFAULT_QUEUE_BYTES, DEFAULT_REORDER_EXTRA, Fate, Impairment, ImpairmentState,
};
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
/// Longest a worker blocks in `recv` before looking at its release heap again.
const TICK: Duration = Duration::from_millis(1);
/// Shortest read timeout (a zero timeout is an error for `set_read_timeout`).
const MIN_TICK: Duration = Duration::from_micros(50);
/// Safety cap on packets scheduled but not yet released, per direction.
const MAX_SCHEDULED: usize = 1 << 17;

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
mod tests;
