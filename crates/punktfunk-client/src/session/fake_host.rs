//! A host stand-in speaking punktfunk/1 just well enough to exercise the client end to end.

use super::clock::WallClock;
use super::data_thread::REGISTER_PAYLOAD;
use crate::tls;
use punktfunk_core::control::{
    self, Codec, EXPORTER_LABEL, EXPORTER_LEN, FrameBuffer, Message, Welcome,
};
use punktfunk_core::crypto::{Opener, SessionKeys};
use punktfunk_core::packetize::{DatagramBatch, FrameInput, Packetizer, PacketizerConfig};
use punktfunk_core::testsrc::TestFrame;
use punktfunk_core::wire::StreamKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Host clock = client clock + this (so latency only comes out right through the clock sync).
pub const HOST_OFFSET_US: u64 = 3_000_000;

#[derive(Default, Clone)]
pub struct Behaviour {
    pub reject: Option<String>,
    /// Drop every host → client datagram sent in this window (since the first frame).
    pub blackout: Option<(Duration, Duration)>,
    /// Drop every n-th datagram (FEC recovers these).
    pub drop_every: Option<usize>,
}

pub struct FakeHost {
    pub addr: SocketAddr,
    pub fingerprint: String,
    pub keyframe_requests: Arc<AtomicU64>,
    pub feedback: Arc<AtomicU64>,
    pub task: tokio::task::JoinHandle<()>,
}

fn host_now_us() -> u64 {
    WallClock::new().now_us() + HOST_OFFSET_US
}

async fn write(send: &mut quinn::SendStream, m: &Message) {
    let _ = send.write_all(&control::frame(&m.encode())).await;
}

pub async fn start(behaviour: Behaviour) -> FakeHost {
    let cert = rcgen::generate_simple_self_signed(vec!["punktfunk".to_string()]).unwrap();
    let der = cert.cert.der().clone();
    let fingerprint = tls::fingerprint_hex(der.as_ref());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let mut tls_config =
        rustls::ServerConfig::builder_with_provider(Arc::new(tls::aws_lc_rs_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der], key)
            .unwrap();
    tls_config.alpn_protocols = vec![control::ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls_config).unwrap();
    let server = quinn::ServerConfig::with_crypto(Arc::new(quic));
    let endpoint = quinn::Endpoint::server(server, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let keyframe_requests = Arc::new(AtomicU64::new(0));
    let feedback = Arc::new(AtomicU64::new(0));
    let (kf, fb) = (keyframe_requests.clone(), feedback.clone());
    let task = tokio::spawn(async move {
        let Some(incoming) = endpoint.accept().await else {
            return;
        };
        let Ok(conn) = incoming.await else { return };
        serve(conn, behaviour, kf, fb).await;
        endpoint.wait_idle().await;
    });
    FakeHost {
        addr,
        fingerprint,
        keyframe_requests,
        feedback,
        task,
    }
}

async fn serve(
    conn: quinn::Connection,
    behaviour: Behaviour,
    kf: Arc<AtomicU64>,
    fb: Arc<AtomicU64>,
) {
    let Ok((mut send, mut recv)) = conn.accept_bi().await else {
        return;
    };
    let mut frames = FrameBuffer::new();
    let mut buf = vec![0u8; 4096];
    let mut hello = None;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let mut sender = None;
    while let Ok(Some(n)) = recv.read(&mut buf).await {
        frames.extend(&buf[..n]);
        while let Ok(Some(body)) = frames.next_body() {
            let Ok(msg) = Message::decode(&body) else {
                continue;
            };
            match msg {
                Message::Hello(h) => {
                    if let Some(reason) = &behaviour.reject {
                        write(
                            &mut send,
                            &Message::Goodbye {
                                reason: reason.clone(),
                            },
                        )
                        .await;
                        let _ = send.finish();
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        conn.close(1u32.into(), b"rejected");
                        return;
                    }
                    let session_id = 0x5eed_0001;
                    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                    let welcome = Welcome {
                        session_id,
                        codec: Codec::RawTest,
                        color_format: 0,
                        color: punktfunk_core::control::color::ColorDescription::BT709,
                        hdr: None,
                        width: h.width,
                        height: h.height,
                        refresh_mhz: h.refresh_mhz,
                        bitrate_kbps: h.bitrate_kbps,
                        parity_percent: 20,
                        max_datagram: h.max_datagram,
                        data_port: socket.local_addr().unwrap().port(),
                        audio_channels: 0,
                        mic_channels: 0,
                    };
                    write(&mut send, &Message::Welcome(welcome)).await;
                    let mut secret = [0u8; EXPORTER_LEN];
                    conn.export_keying_material(
                        &mut secret,
                        EXPORTER_LABEL,
                        &session_id.to_le_bytes(),
                    )
                    .unwrap();
                    let keys = SessionKeys::derive(&secret, session_id).unwrap();
                    let (stop, started, b) = (stop.clone(), started.clone(), behaviour.clone());
                    sender = Some(std::thread::spawn(move || {
                        send_frames(socket, keys, session_id, welcome, b, started, stop)
                    }));
                    hello = Some(h);
                }
                Message::Start => started.store(true, Ordering::SeqCst),
                Message::ClockPing { client_send_us } => {
                    let t2 = host_now_us();
                    let pong = Message::ClockPong {
                        client_send_us,
                        host_recv_us: t2,
                        host_send_us: host_now_us(),
                    };
                    write(&mut send, &pong).await;
                }
                Message::KeyframeRequest { .. } => {
                    kf.fetch_add(1, Ordering::SeqCst);
                }
                Message::Feedback(_) => {
                    fb.fetch_add(1, Ordering::SeqCst);
                }
                Message::Goodbye { .. } => {
                    stop.store(true, Ordering::SeqCst);
                }
                _ => {}
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    assert!(hello.is_some(), "client never said hello");
    if let Some(t) = sender {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
}

fn send_frames(
    socket: UdpSocket,
    keys: SessionKeys,
    session_id: u32,
    w: Welcome,
    b: Behaviour,
    started: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    socket
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let mut opener = Opener::new(&keys.client_to_host, session_id).unwrap();
    let mut buf = vec![0u8; 2048];
    let mut client = None;
    while !(started.load(Ordering::SeqCst) && client.is_some()) {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if let Ok((n, from)) = socket.recv_from(&mut buf)
            && let Ok((h, payload)) = opener.open(&mut buf[..n])
        {
            assert_eq!(h.kind, StreamKind::Probe);
            assert_eq!(payload, REGISTER_PAYLOAD);
            client = Some(from);
        }
    }
    let Some(client) = client else { return };
    let mut config = PacketizerConfig::new(StreamKind::Video, session_id);
    config.max_datagram = usize::from(w.max_datagram);
    let mut tx = Packetizer::new(config, &keys.host_to_client).unwrap();
    let (mut batch, mut data) = (DatagramBatch::new(), Vec::new());
    let first = Instant::now();
    let interval = Duration::from_secs_f64(1000.0 / f64::from(w.refresh_mhz));
    let mut sent = 0usize;
    for i in 0u64.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let due = first + interval * i as u32;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        TestFrame {
            keyframe: i == 0,
            width: w.width as u16,
            height: w.height as u16,
            refresh_mhz: w.refresh_mhz,
            frame_number: i,
            capture_us: host_now_us(),
            len: 10_000,
        }
        .build(&mut data);
        tx.packetize(
            FrameInput {
                data: &data,
                pts_us: host_now_us(),
                keyframe: i == 0,
                recovery_point: false,
            },
            &mut batch,
        )
        .unwrap();
        let t = first.elapsed();
        for d in batch.iter() {
            sent += 1;
            let blackout = b.blackout.is_some_and(|(from, to)| t >= from && t < to);
            let dropped = b.drop_every.is_some_and(|n| sent.is_multiple_of(n));
            if !blackout && !dropped {
                let _ = socket.send_to(d, client);
            }
        }
    }
}
