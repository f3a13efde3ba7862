//! GameStream control transport as the host runs it: arbitrary datagrams from a few source addresses
//! into a `rusty_enet::Host` configured like the control server (`control_server.rs`: 8 peers, 0x30
//! channels) over an in-memory socket, serviced until idle after each one; every packet a peer
//! delivers goes through core's `HostControl::open` (fixed key) into a `ClientMessage`. Nothing may
//! panic; a message that opens re-encodes to plaintext that decodes the same.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use punktfunk_core::gamestream::control::{ClientMessage, HostControl};
use rusty_enet::{EventNoRef, Host, HostSettings, MTU_MAX, PacketReceived, Socket};
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const KEY: [u8; 16] = *b"punktfunk-fuzzer";
/// As the host's control server.
const PEER_LIMIT: usize = 8;
const CHANNELS: usize = 0x30;
/// Bound on service calls per datagram (each returns at most one event).
const MAX_EVENTS: usize = 64;

#[derive(Arbitrary, Debug)]
struct Datagram {
    /// Which of four client addresses sent it.
    from: u8,
    /// Milliseconds that pass before it arrives (ENet's timers: retransmits, timeouts).
    delay_ms: u8,
    bytes: Vec<u8>,
}

/// A socket whose receive side is a queue the fuzzer fills; sends go nowhere.
#[derive(Default)]
struct MemorySocket {
    inbox: VecDeque<(SocketAddr, Vec<u8>)>,
}

impl Socket for MemorySocket {
    type Address = SocketAddr;
    type Error = std::io::Error;

    fn send(&mut self, _address: SocketAddr, buffer: &[u8]) -> Result<usize, std::io::Error> {
        Ok(buffer.len())
    }

    fn receive(
        &mut self,
        buffer: &mut [u8; MTU_MAX],
    ) -> Result<Option<(SocketAddr, PacketReceived)>, std::io::Error> {
        let Some((from, bytes)) = self.inbox.pop_front() else {
            return Ok(None);
        };
        if bytes.len() > MTU_MAX {
            return Ok(Some((from, PacketReceived::Partial)));
        }
        buffer[..bytes.len()].copy_from_slice(&bytes);
        Ok(Some((from, PacketReceived::Complete(bytes.len()))))
    }
}

fuzz_target!(|datagrams: Vec<Datagram>| {
    // A deterministic clock the input moves forward.
    let now_ms = Arc::new(AtomicU64::new(1_000));
    let clock = now_ms.clone();
    let settings = HostSettings {
        peer_limit: PEER_LIMIT,
        channel_limit: CHANNELS,
        time: Box::new(move || Duration::from_millis(clock.load(Ordering::Relaxed))),
        seed: Some(7),
        ..HostSettings::default()
    };
    let Ok(mut host) = Host::new(MemorySocket::default(), settings) else {
        return;
    };
    let Ok(mut cipher) = HostControl::new(&KEY) else {
        return;
    };
    for datagram in datagrams.into_iter().take(256) {
        now_ms.fetch_add(u64::from(datagram.delay_ms), Ordering::Relaxed);
        let from = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1 + datagram.from % 4), 47_000));
        host.socket_mut().inbox.push_back((from, datagram.bytes));
        for _ in 0..MAX_EVENTS {
            let event = match host.service() {
                Ok(Some(event)) => event.no_ref(),
                Ok(None) | Err(_) => break,
            };
            if let EventNoRef::Receive { packet, .. } = event {
                if let Ok(message) = cipher.open(packet.data()) {
                    let plaintext = message.to_plaintext();
                    let again =
                        ClientMessage::from_plaintext(&plaintext).expect("re-encoded message decodes");
                    assert_eq!(again.to_plaintext(), plaintext);
                }
            }
        }
    }
});
