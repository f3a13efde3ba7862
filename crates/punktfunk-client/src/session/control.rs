//! The QUIC control task: connects, says `Hello`, waits for `Welcome`, runs the data thread, moves
//! control messages (clock pings, `Start`, feedback, keyframe requests, rate updates) until the
//! requested duration is over, then says goodbye and builds the report ([`run_session`]).

use super::clock::WallClock;
use super::data_thread::{DataAudio, DataParams, FromData, ToData, run_data_plane};
use super::error::{SessionError, other};
use super::options::{SessionOptions, split_host_port};
use super::report::{
    ArtReport, LaunchReport, LibraryTitle, ReportInputs, SessionReport, build_report,
};
use crate::tls::{self, PinnedVerifier};
use punktfunk_core::control::{
    self, ClockSample, ClockSync, EXPORTER_LABEL, EXPORTER_LEN, FrameBuffer, Hello, Message,
    Welcome,
};
use punktfunk_core::crypto::SessionKeys;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Clock pings: a quick burst at start, then a steady rate.
const PING_BURST: u32 = 5;
const PING_BURST_INTERVAL: Duration = Duration::from_millis(50);
const PING_INTERVAL: Duration = Duration::from_secs(1);
/// How long the host may take to answer `Hello`.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);

/// What the control-stream reader forwards.
enum Incoming {
    Message(Message),
    Closed(String),
}

async fn read_messages(mut recv: quinn::RecvStream, tx: mpsc::Sender<Incoming>) {
    let mut frames = FrameBuffer::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let closed = match recv.read(&mut buf).await {
            Ok(Some(n)) => {
                frames.extend(&buf[..n]);
                loop {
                    match frames.next_body() {
                        Ok(Some(body)) => match Message::decode(&body) {
                            Ok(m) => {
                                if tx.send(Incoming::Message(m)).await.is_err() {
                                    return;
                                }
                            }
                            Err(e) => tracing::warn!("skipping control message: {e}"),
                        },
                        Ok(None) => break,
                        Err(e) => {
                            let why = format!("control stream framing error: {e}");
                            let _ = tx.send(Incoming::Closed(why)).await;
                            return;
                        }
                    }
                }
                continue;
            }
            Ok(None) => "host finished the control stream".to_string(),
            Err(e) => format!("control stream: {e}"),
        };
        let _ = tx.send(Incoming::Closed(closed)).await;
        return;
    }
}

async fn send_message(send: &mut quinn::SendStream, m: &Message) -> Result<(), SessionError> {
    send.write_all(&control::frame(&m.encode()))
        .await
        .map_err(|e| other("control stream write", e))
}

async fn wait_welcome(rx: &mut mpsc::Receiver<Incoming>) -> Result<Welcome, SessionError> {
    loop {
        match rx.recv().await {
            Some(Incoming::Message(Message::Welcome(w))) => return Ok(w),
            Some(Incoming::Message(Message::Goodbye { reason })) => {
                return Err(SessionError::Rejected(reason));
            }
            Some(Incoming::Message(m)) => {
                tracing::debug!(?m, "ignoring message before Welcome");
            }
            Some(Incoming::Closed(why)) => {
                return Err(SessionError::Other(format!(
                    "host closed the session before Welcome ({why})"
                )));
            }
            None => return Err(SessionError::Other("control stream reader stopped".into())),
        }
    }
}

fn transport_config() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(Duration::from_secs(10))
            .unwrap_or_else(|_| unreachable!("10 s is a valid idle timeout")),
    ));
    t.keep_alive_interval(Some(Duration::from_secs(1)));
    t
}

/// Plays the session's input script (if any) and logs the host's feedback, once the stream runs.
fn start_input(
    conn: &quinn::Connection,
    opts: &SessionOptions,
    (width, height): (u32, u32),
) -> Vec<tokio::task::JoinHandle<()>> {
    let feedback = crate::input::FeedbackLog::default();
    let mut tasks = vec![tokio::spawn(crate::input::read_feedback(
        conn.clone(),
        feedback,
    ))];
    if !opts.input.is_empty() {
        let script = opts.input.clone();
        let mut sender = crate::input::InputSender::new(conn.clone());
        tasks.push(tokio::spawn(async move {
            match script.play(&mut sender, width, height).await {
                Ok(sent) => tracing::info!(sent, "input script done"),
                Err(e) => tracing::warn!("input script: {e}"),
            }
        }));
    }
    tasks
}

/// Runs one punktfunk/1 session against a host and reports what arrived.
pub async fn run_session(opts: SessionOptions) -> Result<SessionReport, SessionError> {
    let expected = opts
        .fingerprint
        .as_deref()
        .map(tls::normalize_fingerprint)
        .transpose()
        .map_err(|e| SessionError::Other(e.to_string()))?;
    let (host, port) = split_host_port(&opts.host).map_err(SessionError::Other)?;
    let addr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| other(&format!("resolving {host}"), e))?
        .next()
        .ok_or_else(|| SessionError::Other(format!("{host} has no address")))?;

    let verifier = Arc::new(PinnedVerifier::new(expected));
    let mut client_config = tls::quic_client_config(verifier.clone(), opts.identity.as_deref())
        .map_err(|e| other("TLS", e))?;
    client_config.transport_config(Arc::new(transport_config()));
    let bind: SocketAddr = if addr.is_ipv6() {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let mut endpoint = quinn::Endpoint::client(bind)?;
    endpoint.set_default_client_config(client_config);
    let connecting = endpoint
        .connect(addr, tls::SERVER_NAME)
        .map_err(|e| other(&format!("connecting to {addr}"), e))?;
    let conn = match connecting.await {
        Ok(conn) => conn,
        Err(e) => {
            if let Some((expected, got)) = verifier.mismatch() {
                return Err(SessionError::FingerprintMismatch { expected, got });
            }
            return Err(other(&format!("QUIC connection to {addr}"), e));
        }
    };
    let fingerprint = verifier.seen().unwrap_or_default();
    tracing::info!(%addr, %fingerprint, "connected");
    if let Some(cb) = &opts.on_host_fingerprint {
        cb(&fingerprint);
    }

    let result = drive(&conn, &opts, fingerprint).await;
    let (code, reason): (u32, &[u8]) = match &result {
        Ok(_) => (0, b"done"),
        Err(_) => (1, b"error"),
    };
    conn.close(code.into(), reason);
    // Give the close frame a moment to leave; never hang on a dead path.
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    result
}

/// Why the control loop stopped.
enum End {
    Done,
    Early(String),
}

async fn drive(
    conn: &quinn::Connection,
    opts: &SessionOptions,
    host_fingerprint: String,
) -> Result<SessionReport, SessionError> {
    let clock = WallClock::new();
    let (mut send, recv) = conn
        .open_bi()
        .await
        .map_err(|e| other("opening the control stream", e))?;
    let (msg_tx, mut msg_rx) = mpsc::channel(64);
    let reader = tokio::spawn(read_messages(recv, msg_tx));
    let hello = Message::Hello(Hello {
        client_name: opts.name.clone(),
        width: opts.mode.width,
        height: opts.mode.height,
        refresh_mhz: opts.mode.refresh_mhz,
        codecs: vec![opts.codec],
        bitrate_kbps: opts.bitrate_kbps,
        caps: audio_caps(opts) | opts.color_caps,
        audio_channels: if opts.audio_channels > 0 {
            opts.audio_channels
        } else {
            2
        },
        max_datagram: opts.max_datagram,
    });
    send_message(&mut send, &hello).await?;
    let welcome = tokio::time::timeout(WELCOME_TIMEOUT, wait_welcome(&mut msg_rx))
        .await
        .map_err(|_| SessionError::Other("host did not answer Hello within 10 s".into()))??;
    tracing::info!(?welcome, "welcome");
    if welcome.codec != opts.codec {
        return Err(SessionError::Other(format!(
            "asked for {:?}, host chose {:?}",
            opts.codec, welcome.codec
        )));
    }

    let mut secret = [0u8; EXPORTER_LEN];
    conn.export_keying_material(
        &mut secret,
        EXPORTER_LABEL,
        &welcome.session_id.to_le_bytes(),
    )
    .map_err(|e| other("TLS exporter", format!("{e:?}")))?;
    let keys = SessionKeys::derive(&secret, welcome.session_id)
        .map_err(|e| other("data-plane keys", e))?;

    let start = Instant::now();
    let (to_data, from_control) = sync_channel::<ToData>(64);
    let (data_events_tx, mut data_events) = mpsc::channel::<FromData>(256);
    // Same address as the QUIC connection (keeping an IPv6 scope id), the host's data port.
    let mut host_data = conn.remote_address();
    host_data.set_port(welcome.data_port);
    let params = DataParams {
        host_data,
        session_id: welcome.session_id,
        keys,
        max_datagram: opts.max_datagram,
        clock,
        start,
        codec: welcome.codec,
        expect_stamps: opts.expect_stamps,
        keep_last_picture: opts.keep_last_picture,
        size: (welcome.width, welcome.height),
        audio: DataAudio::negotiate(opts, &welcome, &secret)?,
    };
    let data_thread = std::thread::Builder::new()
        .name("pkf1-data".into())
        .spawn(move || run_data_plane(params, from_control, data_events_tx))?;

    let deadline = tokio::time::Instant::from_std(start + opts.duration);
    let mut next_ping = tokio::time::Instant::from_std(start);
    let mut pings_sent = 0u32;
    let mut sync = ClockSync::new();
    let (mut host_bitrate, mut host_parity, mut rate_updates) =
        (welcome.bitrate_kbps, welcome.parity_percent, 0u64);
    let mut started = false;
    let mut input_tasks = Vec::new();
    let mut library = opts.list_library.then(Vec::new);
    let mut launch = opts.launch.as_ref().map(|title_id| LaunchReport {
        title_id: title_id.clone(),
        ..LaunchReport::default()
    });
    let mut art = opts.fetch_art.as_ref().map(|title_id| ArtReport {
        title_id: title_id.clone(),
        ..ArtReport::default()
    });

    let end = loop {
        let step: Result<Option<End>, SessionError> = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => Ok(Some(End::Done)),
            // Nothing but Start may follow Welcome, so the clock pings wait for it.
            _ = tokio::time::sleep_until(next_ping), if started => {
                pings_sent += 1;
                next_ping += if pings_sent < PING_BURST { PING_BURST_INTERVAL } else { PING_INTERVAL };
                send_message(&mut send, &Message::ClockPing { client_send_us: clock.now_us() })
                    .await
                    .map(|_| None)
            }
            event = data_events.recv() => match event {
                Some(FromData::Registered) if !started => {
                    started = true;
                    next_ping = tokio::time::Instant::now();
                    let mut sent = send_message(&mut send, &Message::Start).await;
                    let _ = to_data.try_send(ToData::Started);
                    input_tasks = start_input(conn, opts, (welcome.width, welcome.height));
                    if sent.is_ok() && library.is_some() {
                        sent = send_message(&mut send, &Message::LibraryRequest { offset: 0 }).await;
                    }
                    if sent.is_ok() && let Some(title_id) = &opts.launch {
                        let title_id = title_id.clone();
                        sent = send_message(&mut send, &Message::Launch { title_id }).await;
                    }
                    if sent.is_ok() && let Some(title_id) = &opts.fetch_art {
                        let title_id = title_id.clone();
                        sent = send_message(&mut send, &Message::ArtRequest { title_id, offset: 0 }).await;
                    }
                    sent.map(|_| None)
                }
                Some(FromData::Registered) => Ok(None),
                Some(FromData::Feedback(f)) if started => {
                    tracing::debug!(?f, "feedback");
                    send_message(&mut send, &Message::Feedback(f)).await.map(|_| None)
                }
                Some(FromData::Feedback(_)) => Ok(None),
                Some(FromData::KeyframeRequest(first_lost_frame)) => {
                    send_message(&mut send, &Message::KeyframeRequest { first_lost_frame })
                        .await
                        .map(|_| None)
                }
                Some(FromData::Failed(e)) => Err(SessionError::Other(format!("data plane: {e}"))),
                None => Ok(Some(End::Early("data plane stopped".into()))),
            },
            incoming = msg_rx.recv() => match incoming {
                Some(Incoming::Message(Message::ClockPong { client_send_us, host_recv_us, host_send_us })) => {
                    let sample = ClockSample::from_times(
                        client_send_us, host_recv_us, host_send_us, clock.now_us(),
                    );
                    sync.add(sample);
                    let _ = to_data.try_send(ToData::Clock(sample));
                    Ok(None)
                }
                Some(Incoming::Message(Message::RateUpdate { bitrate_kbps, parity_percent })) => {
                    tracing::info!(bitrate_kbps, parity_percent, "host rate update");
                    host_bitrate = bitrate_kbps;
                    host_parity = parity_percent;
                    rate_updates += 1;
                    Ok(None)
                }
                Some(Incoming::Message(Message::Goodbye { reason })) => {
                    Ok(Some(End::Early(format!("host said goodbye: {reason}"))))
                }
                Some(Incoming::Message(Message::LibraryPage { offset, total, titles })) => {
                    let next = offset.saturating_add(u32::try_from(titles.len()).unwrap_or(u32::MAX));
                    let more = match &mut library {
                        // Only the page asked for next is taken: a host repeating itself cannot grow
                        // the list without end.
                        Some(list) if usize::try_from(offset).ok() == Some(list.len()) => {
                            let got = titles.len();
                            list.extend(titles.into_iter().map(|t| LibraryTitle { id: t.id, name: t.name, has_art: t.has_art }));
                            got > 0 && !library_done(next, total, list.len())
                        }
                        _ => false,
                    };
                    if more {
                        send_message(&mut send, &Message::LibraryRequest { offset: next }).await.map(|_| None)
                    } else {
                        Ok(None)
                    }
                }
                Some(Incoming::Message(Message::LaunchResult { title_id, ok, message })) => {
                    tracing::info!(%title_id, ok, %message, "launch result");
                    if let Some(l) = launch.as_mut().filter(|l| l.title_id == title_id) {
                        l.ok = Some(ok);
                        l.message = message;
                        l.answered_ms = Some(start.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok(None)
                }
                Some(Incoming::Message(Message::ArtChunk { title_id, offset, total, media_type, data })) => {
                    match art.as_mut().filter(|a| a.title_id == title_id && a.error.is_none()) {
                        Some(a) => match take_art_chunk(a, offset, total, media_type, &data) {
                            Some(next) => send_message(&mut send, &Message::ArtRequest { title_id, offset: next })
                                .await
                                .map(|_| None),
                            None => Ok(None),
                        },
                        None => Ok(None),
                    }
                }
                Some(Incoming::Message(Message::AppEnded { title_id, reason })) => {
                    tracing::info!(%title_id, %reason, "launched title ended");
                    if let Some(l) = launch.as_mut().filter(|l| l.title_id == title_id) {
                        l.ended = Some(reason);
                    }
                    Ok(None)
                }
                Some(Incoming::Message(m)) => {
                    tracing::debug!(?m, "ignoring unexpected control message");
                    Ok(None)
                }
                Some(Incoming::Closed(why)) => Ok(Some(End::Early(why))),
                None => Ok(Some(End::Early("control stream reader stopped".into()))),
            },
        };
        match step {
            Ok(None) => {}
            Ok(Some(end)) => break Ok(end),
            Err(e) => break Err(e),
        }
    };
    let elapsed = start.elapsed();
    for task in input_tasks {
        task.abort();
    }

    if matches!(end, Ok(End::Done)) {
        let bye = Message::Goodbye {
            reason: "done".into(),
        };
        if let Err(e) = send_message(&mut send, &bye).await {
            tracing::debug!("goodbye not sent: {e}");
        }
        let _ = send.finish();
    }
    // Hanging up the channel stops the data thread within one read timeout.
    drop(to_data);
    let joined = tokio::task::spawn_blocking(move || data_thread.join())
        .await
        .map_err(|e| other("data thread", e))?
        .map_err(|_| SessionError::Other("data thread panicked".into()))?;
    reader.abort();
    let ended_early = match end? {
        End::Done => None,
        End::Early(why) => Some(why),
    };
    let stats = joined?;
    Ok(build_report(ReportInputs {
        stats,
        opts,
        welcome: &welcome,
        host_fingerprint,
        elapsed,
        clock: sync.best(),
        stream_start_unix_us: clock.at_us(start),
        host_bitrate,
        host_parity,
        rate_updates,
        ended_early,
        library,
        launch,
        art,
    }))
}

/// Adds one chunk of cover art to `art`; the offset to ask for next, or `None` when the picture
/// is complete, missing, or the host sent something other than what was asked (noted in `error`).
fn take_art_chunk(
    art: &mut ArtReport,
    offset: u32,
    total: u32,
    media_type: String,
    data: &[u8],
) -> Option<u32> {
    art.chunks += 1;
    let have = art.bytes.len();
    let fail = |art: &mut ArtReport, why: String| {
        art.error = Some(why);
        None
    };
    if art.chunks > 1 && (total != art.total || media_type != art.media_type) {
        return fail(art, "the picture changed while it was sent".into());
    }
    art.total = total;
    art.media_type = media_type;
    if total == 0 {
        return None;
    }
    if total > punktfunk_core::control::MAX_ART_LEN {
        return fail(art, format!("{total} bytes is more than a cover may have"));
    }
    if usize::try_from(offset).ok() != Some(have) {
        return fail(art, format!("a chunk at {offset}, not at {have}"));
    }
    if data.is_empty() || have + data.len() > total as usize {
        return fail(
            art,
            format!("a chunk of {} bytes at {offset} of {total}", data.len()),
        );
    }
    art.bytes.extend_from_slice(data);
    (art.bytes.len() < total as usize).then(|| u32::try_from(art.bytes.len()).unwrap_or(u32::MAX))
}

/// Whether a library listing is complete: `total` reached, or the most a client keeps.
fn library_done(next: u32, total: u32, kept: usize) -> bool {
    /// A bound on what a host can make the probe hold (about 3 MB of ids and names).
    const MAX_TITLES: usize = 10_000;
    next >= total || kept >= MAX_TITLES
}

/// The audio bits of `Hello.caps` for what the options ask.
fn audio_caps(opts: &SessionOptions) -> u32 {
    let mut caps = 0;
    if opts.audio_channels > 0 {
        caps |= control::caps::AUDIO;
    }
    if opts.mic_tone_hz.is_some() {
        caps |= control::caps::MIC;
    }
    caps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::fake_host;

    fn options(host: &fake_host::FakeHost, duration: Duration) -> SessionOptions {
        SessionOptions::new(
            host.addr.to_string(),
            "640x360@60".parse().unwrap(),
            duration,
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn end_to_end_against_a_fake_host() {
        let host = fake_host::start(fake_host::Behaviour {
            blackout: Some((Duration::from_millis(700), Duration::from_millis(900))),
            drop_every: Some(7),
            ..Default::default()
        })
        .await;
        let mut opts = options(&host, Duration::from_millis(2500));
        opts.fingerprint = Some(host.fingerprint.to_uppercase());
        let report = run_session(opts).await.unwrap();
        host.task.await.unwrap();
        eprintln!("{}", report.text());
        assert_eq!(report.ended_early, None);
        assert_eq!(report.host_fingerprint, host.fingerprint);
        assert_eq!(report.integrity_failures, 0);
        assert!(report.frames_ok > 100, "{report:#?}");
        assert!(report.frames_recovered > 10, "{report:#?}");
        assert!((8..=16).contains(&report.frames_lost), "{report:#?}");
        assert!(report.keyframe_requests >= 1);
        assert_eq!(
            host.keyframe_requests
                .load(std::sync::atomic::Ordering::SeqCst),
            report.keyframe_requests
        );
        assert!(host.feedback.load(std::sync::atomic::Ordering::SeqCst) >= 15);
        let latency = report.latency_ms.unwrap();
        assert!(latency.p50 >= 0.0 && latency.p99 < 100.0, "{latency:?}");
        let clock = report.clock.unwrap();
        assert!(
            (clock.offset_us - fake_host::HOST_OFFSET_US as i64).abs() < 20_000,
            "{clock:?}"
        );
        // Loss stopped ~900 ms after the first frame; the stream is whole again well within 500 ms.
        let first_ms = report.first_datagram_ms.unwrap();
        let stop = Duration::from_secs_f64((900.0 + first_ms) / 1000.0);
        let back = report.whole_again_after(stop).unwrap();
        assert!(back < Duration::from_millis(500), "{back:?}");
        assert_eq!(
            report
                .lost_frames_per_100ms
                .iter()
                .map(|n| u64::from(*n))
                .sum::<u64>(),
            report.frames_lost
        );
        let json = serde_json::to_value(&report).unwrap();
        assert!(json["latency_ms"]["p95"].is_number());
        assert_eq!(json["rejects"]["bad_tag"], 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fingerprint_mismatch_is_an_error_with_both_values() {
        let host = fake_host::start(fake_host::Behaviour::default()).await;
        let mut opts = options(&host, Duration::from_millis(200));
        opts.fingerprint = Some("00".repeat(32));
        let err = run_session(opts).await.unwrap_err();
        assert_eq!(err.exit_code(), 2);
        match &err {
            SessionError::FingerprintMismatch { expected, got } => {
                assert_eq!(*expected, "00".repeat(32));
                assert_eq!(*got, host.fingerprint);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("host certificate fingerprint mismatch: expected 0000")
        );
        host.task.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn goodbye_instead_of_welcome_is_a_rejection() {
        let host = fake_host::start(fake_host::Behaviour {
            reject: Some("busy".into()),
            ..Default::default()
        })
        .await;
        let seen = Arc::new(std::sync::Mutex::new(None));
        let mut opts = options(&host, Duration::from_millis(200));
        let s = seen.clone();
        opts.on_host_fingerprint = Some(Arc::new(move |fp: &str| {
            *s.lock().unwrap() = Some(fp.to_string());
        }));
        let err = run_session(opts).await.unwrap_err();
        assert!(
            matches!(&err, SessionError::Rejected(r) if r == "busy"),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 1);
        assert_eq!(
            seen.lock().unwrap().as_deref(),
            Some(host.fingerprint.as_str())
        );
        host.task.await.unwrap();
    }

    fn art_for(id: &str) -> ArtReport {
        ArtReport {
            title_id: id.into(),
            ..ArtReport::default()
        }
    }

    #[test]
    fn cover_art_is_assembled_chunk_by_chunk_and_a_confused_host_is_caught() {
        let picture: Vec<u8> = (0..250u32).map(|i| i as u8).collect();
        let mut art = art_for("steam:570");
        let png = || "image/png".to_string();
        assert_eq!(
            take_art_chunk(&mut art, 0, 250, png(), &picture[..100]),
            Some(100)
        );
        assert_eq!(
            take_art_chunk(&mut art, 100, 250, png(), &picture[100..200]),
            Some(200)
        );
        assert_eq!(
            take_art_chunk(&mut art, 200, 250, png(), &picture[200..]),
            None
        );
        assert!(art.complete() && art.error.is_none());
        assert_eq!(art.bytes, picture);

        let mut none = art_for("desktop:x");
        assert_eq!(take_art_chunk(&mut none, 0, 0, String::new(), &[]), None);
        assert!(!none.complete() && none.error.is_none());

        let confused: [(u32, u32, &[u8]); 4] = [
            (0, 0, b""),           // an empty chunk mid-picture
            (50, 250, b"x"),       // not where it left off
            (100, 999, b"x"),      // another size
            (100, 250, &[0; 200]), // past the announced end
        ];
        for (offset, total, data) in confused {
            let mut art = art_for("steam:570");
            assert_eq!(
                take_art_chunk(&mut art, 0, 250, png(), &picture[..100]),
                Some(100)
            );
            let total = if total == 0 { 250 } else { total };
            assert_eq!(take_art_chunk(&mut art, offset, total, png(), data), None);
            assert!(art.error.is_some(), "{offset} {total} {}", data.len());
        }
        let mut huge = art_for("steam:570");
        let too_big = punktfunk_core::control::MAX_ART_LEN + 1;
        assert_eq!(take_art_chunk(&mut huge, 0, too_big, png(), b"x"), None);
        assert!(huge.error.is_some());
    }
}
