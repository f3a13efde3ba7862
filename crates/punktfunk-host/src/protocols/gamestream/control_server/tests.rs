//! The control thread against a real ENet client (rusty_enet over loopback UDP) that speaks the
//! encrypted envelope like moonlight-common-c: session matching by connect data, IDR requests,
//! the termination message, and a client disconnect ending the session.

use super::*;
use crate::protocols::gamestream::apps::GameStreamApp;
use crate::protocols::gamestream::stream_params::LaunchRequest;
use crate::protocols::gamestream::stream_session::Session;
use punktfunk_core::gamestream::control::{ControlCipher, Origin, TERMINATION_GRACEFUL};
use rusty_enet::Event;
use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;

const KEY: [u8; 16] = *b"0123456789abcdef";

fn session() -> Arc<Session> {
    let request = LaunchRequest {
        app: GameStreamApp {
            id: NonZeroU32::MIN,
            title: "Desktop".into(),
            config: None,
            art: None,
            title_id: None,
        },
        client_id: None,
        client_name: "test".into(),
        width: 640,
        height: 360,
        fps: 30,
        rikey: KEY,
        rikeyid: 7,
        encrypted_rtsp: true,
        local_ip: Ipv4Addr::LOCALHOST.into(),
        client_ip: Ipv4Addr::LOCALHOST.into(),
    };
    Session::new(request).expect("a session").0
}

/// A control server on loopback that knows `session` by its connect data.
fn server(session: &Arc<Session>) -> (ControlServer, JoinHandle<()>, SocketAddr) {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = socket.local_addr().unwrap();
    let known = session.clone();
    let server = ControlServer::new(socket, Box::new(move || Some(known.clone())));
    let thread = server.start().unwrap();
    (server, thread, addr)
}

struct Client {
    host: Host<UdpSocket>,
    cipher: ControlCipher,
    seq: u32,
}

#[derive(Debug, PartialEq)]
enum Seen {
    Connected,
    Disconnected,
    Message(HostMessage),
}

impl Client {
    fn connect(to: SocketAddr, data: u32) -> Client {
        Client::connect_from(Ipv4Addr::LOCALHOST, to, data)
    }

    /// A client on another loopback address (all of 127/8 is local): a stranger on the LAN.
    fn connect_from(ip: Ipv4Addr, to: SocketAddr, data: u32) -> Client {
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        let mut host = Host::new(
            socket,
            HostSettings {
                peer_limit: 1,
                channel_limit: CHANNELS,
                ..HostSettings::default()
            },
        )
        .unwrap();
        host.connect(to, CHANNELS, data).unwrap();
        Client {
            host,
            cipher: ControlCipher::new(&KEY).unwrap(),
            seq: 0,
        }
    }

    /// The next event within `limit`, if any.
    fn next(&mut self, limit: Duration) -> Option<Seen> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.host.service().unwrap() {
                Some(Event::Connect { .. }) => return Some(Seen::Connected),
                Some(Event::Disconnect { .. }) => return Some(Seen::Disconnected),
                Some(Event::Receive { packet, .. }) => {
                    let (_, plain) = self.cipher.open(Origin::Host, packet.data()).unwrap();
                    return Some(Seen::Message(HostMessage::from_plaintext(&plain).unwrap()));
                }
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        None
    }

    fn send(&mut self, channel: u8, message: &ClientMessage) {
        let packet = self.seal(message);
        self.send_sealed(channel, packet);
    }

    fn seal(&mut self, message: &ClientMessage) -> Vec<u8> {
        let packet = self
            .cipher
            .seal(Origin::Client, self.seq, &message.to_plaintext())
            .unwrap();
        self.seq += 1;
        packet
    }

    fn send_sealed(&mut self, channel: u8, packet: Vec<u8>) {
        let peer = self.host.peers_mut().next().unwrap();
        peer.send(channel, &Packet::reliable(packet)).unwrap();
        self.host.flush();
    }

    /// Keeps the connection serviced for `time` (ENet acknowledges and resends here).
    fn pump(&mut self, time: Duration) -> Vec<Seen> {
        let mut seen = Vec::new();
        let deadline = Instant::now() + time;
        while Instant::now() < deadline {
            if let Some(s) = self.next(Duration::from_millis(5)) {
                seen.push(s);
            }
        }
        seen
    }
}

#[test]
fn idr_requests_reach_the_session_and_termination_reaches_the_client() {
    let session = session();
    let (server, thread, addr) = server(&session);
    let mut client = Client::connect(addr, session.connect_data);
    assert_eq!(client.next(Duration::from_secs(5)), Some(Seen::Connected));
    client.pump(Duration::from_millis(100));
    assert!(session.control_connected.load(Ordering::Relaxed));

    session
        .video
        .keyframe_requested
        .store(false, Ordering::Relaxed);
    client.send(1, &ClientMessage::RequestIdr);
    client.pump(Duration::from_millis(200));
    assert!(
        session.video.keyframe_requested.load(Ordering::Relaxed),
        "IDR request seen"
    );

    // A packet the host cannot open (no envelope) is dropped without harm.
    let peer = client.host.peers_mut().next().unwrap();
    peer.send(0, &Packet::reliable(vec![0x00, 0x02, 0, 0]))
        .unwrap();
    client.send(0, &ClientMessage::PeriodicPing);

    server.command(ControlCommand::Terminate {
        connect_data: session.connect_data,
        code: TERMINATION_GRACEFUL,
    });
    let seen = client.pump(Duration::from_secs(2));
    assert!(
        seen.contains(&Seen::Message(HostMessage::Termination {
            code: TERMINATION_GRACEFUL
        })),
        "{seen:?}"
    );
    assert!(seen.contains(&Seen::Disconnected), "{seen:?}");
    // The host ended the stream itself: nothing reports the disconnect back as a client leaving.
    assert!(!session.ended());
    server.shutdown();
    thread.join().unwrap();
}

#[test]
fn a_peer_with_foreign_connect_data_is_turned_away() {
    let session = session();
    let (server, thread, addr) = server(&session);
    let mut client = Client::connect(addr, session.connect_data.wrapping_add(1));
    let seen = client.pump(Duration::from_secs(2));
    assert!(seen.contains(&Seen::Disconnected), "{seen:?}");
    assert!(!session.control_connected.load(Ordering::Relaxed));
    assert!(!session.ended());
    server.shutdown();
    thread.join().unwrap();
}

#[test]
fn a_client_disconnect_ends_the_session() {
    let session = session();
    let (server, thread, addr) = server(&session);
    let mut client = Client::connect(addr, session.connect_data);
    assert_eq!(client.next(Duration::from_secs(5)), Some(Seen::Connected));
    // Until the host has seen the handshake complete (before that ENet drops the peer silently,
    // and the launch's connect deadline is what ends the session).
    client.pump(Duration::from_millis(100));
    assert!(session.control_connected.load(Ordering::Relaxed));
    assert!(!session.ended());
    client.host.peers_mut().next().unwrap().disconnect(0);
    client.pump(Duration::from_millis(500));
    assert!(session.ended(), "the session ends with its control stream");
    assert!(session.stop.load(Ordering::Relaxed));
    server.shutdown();
    thread.join().unwrap();
}

#[test]
fn controllers_reach_the_injector_and_pad_feedback_reaches_the_client() {
    use punktfunk_core::control::input::{Feedback, InputEvent as PadEvent, PadKind};
    use punktfunk_core::gamestream::input::{
        ControllerKind, GamepadState, InputEvent as GsEvent, capability,
    };
    let session = session();
    let input = session.capture_input();
    let (server, thread, addr) = server(&session);
    let mut client = Client::connect(addr, session.connect_data);
    assert_eq!(client.next(Duration::from_secs(5)), Some(Seen::Connected));
    client.pump(Duration::from_millis(100));

    client.send(
        0,
        &ClientMessage::Input(GsEvent::ControllerArrival {
            controller: 0,
            kind: ControllerKind::Xbox,
            capabilities: capability::RUMBLE | capability::ANALOG_TRIGGERS,
            supported_buttons: 0xFFFF,
        }),
    );
    client.send(
        0,
        &ClientMessage::Input(GsEvent::Gamepad(GamepadState {
            controller: 0,
            active_mask: 1,
            buttons: 0x1000,
            left_trigger: 0,
            right_trigger: 255,
            left_stick: (0, 0),
            right_stick: (0, 0),
        })),
    );
    client.pump(Duration::from_millis(300));
    let events: Vec<PadEvent> = input.try_iter().collect();
    assert!(
        matches!(
            events.as_slice(),
            [
                PadEvent::PadArrive {
                    pad: 0,
                    kind: PadKind::XboxOne,
                    ..
                },
                PadEvent::PadState { pad: 0, .. }
            ]
        ),
        "{events:?}"
    );

    // A DualSense with motion sensors: the host asks for accelerometer and gyroscope reports.
    client.send(
        0,
        &ClientMessage::Input(GsEvent::ControllerArrival {
            controller: 1,
            kind: ControllerKind::PlayStation,
            capabilities: capability::ACCEL | capability::GYRO | capability::TOUCHPAD,
            supported_buttons: 0xFFFF,
        }),
    );
    let seen = client.pump(Duration::from_millis(400));
    let motion = |motion_type| {
        Seen::Message(HostMessage::MotionEventEnable {
            controller: 1,
            report_rate_hz: crate::protocols::gamestream::pad_bridge::MOTION_REPORT_HZ,
            motion_type,
        })
    };
    assert_eq!(seen, [motion(1), motion(2)]);
    assert!(matches!(
        input.try_iter().next(),
        Some(PadEvent::PadArrive {
            pad: 1,
            kind: PadKind::DualSense,
            ..
        })
    ));

    // The pad rumbles (a game wrote a force-feedback effect): the client hears about it.
    let mut feedback = server.feedback_sender(session.connect_data);
    feedback(Feedback::Rumble {
        pad: 0,
        low: 0x8000,
        high: 0x1000,
    });
    feedback(Feedback::PlayerLeds { pad: 0, bits: 1 });
    let seen = client.pump(Duration::from_millis(500));
    assert_eq!(
        seen,
        [Seen::Message(HostMessage::Rumble {
            controller: 0,
            low_frequency: 0x8000,
            high_frequency: 0x1000,
        })],
        "one rumble message; player lights have no GameStream message"
    );
    server.shutdown();
    thread.join().unwrap();
}

#[test]
fn a_second_peer_cannot_join_a_running_control_stream() {
    let session = session();
    let (server, thread, addr) = server(&session);
    let mut owner = Client::connect(addr, session.connect_data);
    assert_eq!(owner.next(Duration::from_secs(5)), Some(Seen::Connected));
    owner.pump(Duration::from_millis(100));
    assert!(session.control_connected.load(Ordering::Relaxed));

    // Same address, same connect data (it could have sniffed both): still turned away, because a
    // second cipher would reuse the host's nonces and its disconnect would end the stream.
    let mut intruder = Client::connect(addr, session.connect_data);
    let seen = intruder.pump(Duration::from_secs(1));
    assert!(seen.contains(&Seen::Disconnected), "{seen:?}");
    owner.pump(Duration::from_millis(100));
    assert!(!session.ended(), "the intruder's departure ends nothing");

    // The owner's stream is untouched: its requests still arrive.
    session
        .video
        .keyframe_requested
        .store(false, Ordering::Relaxed);
    owner.send(1, &ClientMessage::RequestIdr);
    owner.pump(Duration::from_millis(200));
    assert!(
        session.video.keyframe_requested.load(Ordering::Relaxed),
        "IDR request seen"
    );
    server.shutdown();
    thread.join().unwrap();
}

#[test]
fn strangers_never_reach_enet_and_the_client_still_connects() {
    let session = session();
    let (server, thread, addr) = server(&session);
    // Several half-open peers from another address, right data even: the gate drops them unread.
    let mut strangers: Vec<Client> = (0..PEER_LIMIT + 2)
        .map(|_| Client::connect_from(Ipv4Addr::new(127, 0, 0, 2), addr, session.connect_data))
        .collect();
    for stranger in &mut strangers {
        assert_eq!(stranger.next(Duration::from_millis(100)), None);
    }
    assert!(!session.control_connected.load(Ordering::Relaxed));
    let mut owner = Client::connect(addr, session.connect_data);
    assert_eq!(owner.next(Duration::from_secs(5)), Some(Seen::Connected));
    owner.pump(Duration::from_millis(100));
    assert!(session.control_connected.load(Ordering::Relaxed));
    for stranger in &mut strangers {
        assert!(
            !stranger
                .pump(Duration::from_millis(20))
                .contains(&Seen::Connected)
        );
    }
    server.shutdown();
    thread.join().unwrap();
}

#[test]
fn a_replayed_control_packet_is_acted_on_once() {
    use punktfunk_core::gamestream::input::{InputEvent as GsEvent, MouseButton};
    let session = session();
    let input = session.capture_input();
    let (server, thread, addr) = server(&session);
    let mut client = Client::connect(addr, session.connect_data);
    assert_eq!(client.next(Duration::from_secs(5)), Some(Seen::Connected));
    client.pump(Duration::from_millis(100));
    let click = client.seal(&ClientMessage::Input(GsEvent::MouseButton {
        button: MouseButton::Left,
        down: true,
    }));
    client.send_sealed(0, click.clone());
    client.send_sealed(0, click);
    client.pump(Duration::from_millis(300));
    let events: Vec<_> = input.try_iter().collect();
    assert_eq!(events.len(), 1, "{events:?}");
    server.shutdown();
    thread.join().unwrap();
}
