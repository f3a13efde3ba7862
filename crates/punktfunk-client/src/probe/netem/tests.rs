//! Unit tests of the impairment relay (`super`): the pure impairment decisions (loss, delay, jitter,
//! reordering, rate limit, duplicates, determinism per seed) and the relay on real loopback sockets.

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
    let run = |mut s: ImpairmentState| (0..500).map(|_| s.on_packet(now, 64)).collect::<Vec<_>>();
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
    let relay = Relay::start("127.0.0.1:0", echo.addr, blackhole, Impairment::default()).unwrap();
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
