//! Connection accounting per peer address, shared by every listener (management API, nvhttp, RTSP,
//! punktfunk/1 QUIC): at most `max_total` connections at once, and at most `max_per_address` of them
//! from one address, so that a single machine on the network cannot take every slot and lock
//! everyone else out. A slot is a guard: it is given back when the connection's task drops it,
//! however the connection ends.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Refusals are logged at most this often per listener (with the number left out in between).
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// The address a limit is counted against. IPv4 (also IPv4-mapped IPv6) counts per address; other
/// IPv6 per /64, because one machine usually owns a whole /64 (privacy addresses) and could
/// otherwise open a fresh budget with every address it makes up.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) if v6.is_loopback() => IpAddr::V6(v6),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

/// Why a connection got no slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("all {limit} connection slots are in use")]
    Total { limit: usize },
    #[error("this address already holds {limit} connections, the most one address may")]
    PerAddress { limit: usize },
}

#[derive(Default)]
struct Counts {
    total: usize,
    /// Only addresses that hold at least one slot: the table never outgrows `max_total`.
    per_address: HashMap<IpAddr, usize>,
}

struct Inner {
    max_total: usize,
    max_per_address: usize,
    counts: Mutex<Counts>,
    /// When a refusal was last logged, and how many went unlogged since.
    refusal_log: Mutex<(Option<Instant>, u64)>,
}

impl Inner {
    fn counts(&self) -> MutexGuard<'_, Counts> {
        // Every critical section is a counter step that cannot panic half-way: a poisoned lock
        // still holds consistent numbers.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Total and per-address connection limits of one listener; cheap to clone (shared counts).
#[derive(Clone)]
pub struct ConnectionLimiter {
    inner: Arc<Inner>,
}

/// One connection's slot; dropping it frees the slot.
#[must_use = "the slot is freed as soon as the guard is dropped"]
pub struct ConnectionSlot {
    inner: Arc<Inner>,
    key: IpAddr,
}

impl ConnectionLimiter {
    /// At most `max_total` slots, at most `max_per_address` for one address (both at least 1).
    pub fn new(max_total: usize, max_per_address: usize) -> ConnectionLimiter {
        let max_total = max_total.max(1);
        ConnectionLimiter {
            inner: Arc::new(Inner {
                max_total,
                max_per_address: max_per_address.clamp(1, max_total),
                counts: Mutex::default(),
                refusal_log: Mutex::default(),
            }),
        }
    }

    /// Takes a slot for a connection from `ip`, or says which limit it ran into.
    pub fn try_acquire(&self, ip: IpAddr) -> Result<ConnectionSlot, Refused> {
        let key = limit_key(ip);
        let mut counts = self.inner.counts();
        let held = counts.per_address.get(&key).copied().unwrap_or(0);
        // The per-address limit first: it is the more specific reason to log.
        if held >= self.inner.max_per_address {
            return Err(Refused::PerAddress {
                limit: self.inner.max_per_address,
            });
        }
        if counts.total >= self.inner.max_total {
            return Err(Refused::Total {
                limit: self.inner.max_total,
            });
        }
        counts.total += 1;
        counts.per_address.insert(key, held + 1);
        Ok(ConnectionSlot {
            inner: self.inner.clone(),
            key,
        })
    }

    /// A slot for a new connection from `peer`, or `None` (the caller closes the connection): the
    /// refusal is logged for `listener` at most once per [`REFUSAL_LOG_INTERVAL`].
    pub fn admit(&self, peer: std::net::SocketAddr, listener: &str) -> Option<ConnectionSlot> {
        match self.try_acquire(peer.ip()) {
            Ok(slot) => Some(slot),
            Err(refused) => {
                if let Some(suppressed) = self.log_refusal() {
                    tracing::warn!(%peer, suppressed, "{listener}: refusing a new connection: {refused}");
                }
                None
            }
        }
    }

    /// Whether to log a refusal now: `Some(refusals left unlogged since the last one)` at most once
    /// per [`REFUSAL_LOG_INTERVAL`], so that a flood cannot flood the log as well.
    pub fn log_refusal(&self) -> Option<u64> {
        let now = Instant::now();
        let mut log = self
            .inner
            .refusal_log
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (last, suppressed) = &mut *log;
        if last.is_some_and(|t| now.saturating_duration_since(t) < REFUSAL_LOG_INTERVAL) {
            *suppressed += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(suppressed))
    }

    /// Slots in use.
    pub fn in_use(&self) -> usize {
        self.inner.counts().total
    }

    /// Slots in use by `ip` (by its limit key).
    pub fn in_use_by(&self, ip: IpAddr) -> usize {
        self.inner
            .counts()
            .per_address
            .get(&limit_key(ip))
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.inner.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(held) = counts.per_address.get_mut(&self.key) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                counts.per_address.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_address_cannot_take_every_slot() {
        let limiter = ConnectionLimiter::new(10, 3);
        let attacker = ip("127.0.0.2");
        let held: Vec<_> = (0..3)
            .map(|_| limiter.try_acquire(attacker).unwrap())
            .collect();
        assert_eq!(
            limiter.try_acquire(attacker).err(),
            Some(Refused::PerAddress { limit: 3 })
        );
        assert!(
            limiter.try_acquire(ip("127.0.0.1")).is_ok(),
            "others still get in"
        );
        assert_eq!(limiter.in_use_by(attacker), 3);
        drop(held);
        assert_eq!(limiter.in_use(), 0, "dropping the guards frees the slots");
        assert_eq!(limiter.in_use_by(attacker), 0);
        assert!(limiter.try_acquire(attacker).is_ok());
    }

    #[test]
    fn the_total_holds_across_addresses() {
        let limiter = ConnectionLimiter::new(4, 2);
        let mut held = Vec::new();
        for i in 1..=4u8 {
            held.push(limiter.try_acquire(IpAddr::from([10, 0, 0, i])).unwrap());
        }
        assert_eq!(
            limiter.try_acquire(ip("10.0.0.9")).err(),
            Some(Refused::Total { limit: 4 })
        );
        held.pop();
        assert!(limiter.try_acquire(ip("10.0.0.9")).is_ok());
    }

    #[test]
    fn the_table_forgets_addresses_without_slots() {
        let limiter = ConnectionLimiter::new(8, 8);
        for i in 0..=255u8 {
            let slot = limiter.try_acquire(IpAddr::from([192, 0, 2, i])).unwrap();
            drop(slot);
        }
        assert!(limiter.inner.counts().per_address.is_empty());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let limiter = ConnectionLimiter::new(10, 2);
        let _a = limiter.try_acquire(ip("2001:db8:1:2::1")).unwrap();
        let _b = limiter.try_acquire(ip("2001:db8:1:2:aaaa::7")).unwrap();
        assert!(
            limiter.try_acquire(ip("2001:db8:1:2:ffff::1")).is_err(),
            "same /64: same budget"
        );
        assert!(limiter.try_acquire(ip("2001:db8:1:3::1")).is_ok());
        let _c = limiter.try_acquire(ip("::ffff:192.0.2.1")).unwrap();
        let _d = limiter.try_acquire(ip("192.0.2.1")).unwrap();
        assert!(limiter.try_acquire(ip("192.0.2.1")).is_err());
        assert_eq!(limit_key(ip("::1")), ip("::1"));
    }

    #[test]
    fn refusal_logs_are_throttled() {
        let limiter = ConnectionLimiter::new(1, 1);
        assert_eq!(limiter.log_refusal(), Some(0));
        assert_eq!(limiter.log_refusal(), None);
        assert_eq!(limiter.log_refusal(), None);
        std::thread::sleep(REFUSAL_LOG_INTERVAL);
        assert_eq!(
            limiter.log_refusal(),
            Some(2),
            "the next line says what it left out"
        );
    }

    #[test]
    fn limits_are_at_least_one() {
        let limiter = ConnectionLimiter::new(0, 0);
        let slot = limiter.try_acquire(ip("192.0.2.1")).unwrap();
        assert!(limiter.try_acquire(ip("192.0.2.2")).is_err());
        drop(slot);
    }
}
