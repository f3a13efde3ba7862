//! One browser's session over WebTransport: the page's ticket (it has no client certificate; the
//! console login it came from is what authorizes it), then the same Hello → Welcome → Start as a
//! native client on a bidirectional stream, the client's own display through the one pipeline, and
//! each frame on its own unidirectional stream.

use super::frame_output::{QUEUE_FRAMES, WebTransportOutput};
use crate::protocols::punktfunk1::control_stream::{ControlReader, send};
use crate::protocols::punktfunk1::input::{Injector, read_input_stream};
use crate::protocols::punktfunk1::session::{
    HANDSHAKE_TIMEOUT, SenderGuard, SessionSlot, Shared, answer_ping, check_hello, list_session,
    new_session_id, session_info, wait_for_start, welcome,
};
use crate::protocols::punktfunk1::session_control::SessionControl;
use crate::services::sessions::SessionInfo;
use crate::shared::browser_access::SESSION_PATH;
use anyhow::{Context, Result, bail};
use punktfunk_core::control::{Hello, Message};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use wtransport::endpoint::IncomingSession;

/// Time the page gets to send its ticket and Hello, and later Start.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn serve(incoming: IncomingSession, shared: Arc<Shared>) -> Result<()> {
    let request = tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming)
        .await
        .context("WebTransport handshake timed out")?
        .context("WebTransport handshake")?;
    let remote = request.remote_address();
    if request.path() != SESSION_PATH {
        let path = request.path().to_string();
        request.not_found().await;
        bail!("{remote} asked for {path:?}");
    }
    if !shared.host.browser.origin_allowed(request.origin()) {
        let origin = request.origin().map(str::to_string);
        request.forbidden().await;
        bail!("{remote}: a page from {origin:?} may not stream from this host");
    }
    let conn = request.accept().await.context("accepting the session")?;
    let (mut tx, rx) = tokio::time::timeout(MESSAGE_TIMEOUT, conn.accept_bi())
        .await
        .context("the page opened no control stream")??;
    let mut reader = ControlReader::new(rx);
    let hello = match first_messages(&mut reader, &shared).await {
        Ok(hello) => hello,
        Err(reason) => {
            let _ = send(
                &mut tx,
                &Message::Goodbye {
                    reason: reason.clone(),
                },
            )
            .await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            conn.close(1u32.into(), reason.as_bytes());
            bail!("{remote}: {reason}");
        }
    };
    let goodbye = |reason: String| Message::Goodbye { reason };
    if let Err(reason) = check_hello(&hello, &shared.host.settings.get()) {
        let _ = send(&mut tx, &goodbye(reason.clone())).await;
        bail!("{remote}: {reason}");
    }
    let Some(_slot) = SessionSlot::claim(&shared.sessions, shared.config.max_sessions) else {
        let reason = format!(
            "host is at its session limit ({})",
            shared.config.max_sessions
        );
        let _ = send(&mut tx, &goodbye(reason.clone())).await;
        bail!("{remote}: {reason}");
    };
    let (codec, color_format, source) = match shared.open_source(&hello).await? {
        Ok(opened) => opened,
        Err(reason) => {
            let _ = send(&mut tx, &goodbye(reason.clone())).await;
            bail!("{remote}: {reason}");
        }
    };
    let display_info = source.display_info();
    let input_sink = source.input_sink();
    let session_id = new_session_id();
    // Frames travel on reliable streams: no FEC, no datagrams, no separate data port.
    let welcome = welcome(&hello, session_id, codec, color_format, source.hdr());
    send(&mut tx, &Message::Welcome(welcome)).await?;
    let sid = format!("{session_id:08x}");
    tracing::info!(
        session = %sid, %remote, client = %hello.client_name, source = %source.describe(),
        mode = format!("{}x{}@{:.2}", hello.width, hello.height, f64::from(hello.refresh_mhz) / 1000.0),
        "browser session opened"
    );
    let control = SessionControl::new(hello.bitrate_kbps, 0);
    let mut listed = list_session(
        &shared.host,
        SessionInfo {
            protocol: "browser".into(),
            remote: remote.to_string(),
            ..session_info(&hello, &sid, codec, display_info)
        },
        &control,
    );
    if let Err(reason) = wait_for_start(&mut reader, &mut tx).await? {
        let _ = send(&mut tx, &goodbye(reason.clone())).await;
        bail!("{remote}: {reason}");
    }

    let (frames_tx, mut frames_rx) = mpsc::channel::<Vec<u8>>(QUEUE_FRAMES);
    let sender_control = control.clone();
    let mut source = source;
    let thread = std::thread::Builder::new()
        .name(format!("web-tx-{session_id:08x}"))
        .spawn(move || {
            let mut output = WebTransportOutput::new(frames_tx);
            let result = crate::stream::pipeline::run(
                &mut source,
                &mut output,
                &sender_control.video,
                &sender_control.stop,
            );
            if let Err(e) = result {
                tracing::error!("browser video failed: {e:#}; ending session");
                sender_control.stop.store(true, Ordering::Relaxed);
            }
        })?;
    let sender = SenderGuard::new(control.clone(), thread);
    let writer_conn = conn.clone();
    let writer = tokio::spawn(async move {
        while let Some(frame) = frames_rx.recv().await {
            let mut stream = writer_conn.open_uni().await?.await?;
            stream.write_all(&frame).await?;
            stream.finish().await?;
        }
        anyhow::Ok(())
    });

    let _input = start_input(&conn, input_sink)?;

    let started = Instant::now();
    let reason = loop {
        tokio::select! {
            next = reader.next() => match next {
                Ok(Some(Message::KeyframeRequest { first_lost_frame })) => {
                    tracing::debug!(first_lost_frame, "the page asked for a keyframe");
                    control.video.keyframe_requested.store(true, Ordering::Relaxed);
                }
                Ok(Some(Message::ClockPing { client_send_us })) => {
                    answer_ping(&mut tx, client_send_us).await?
                }
                Ok(Some(Message::Goodbye { reason })) => break format!("the page said goodbye: {reason}"),
                Ok(Some(other)) => tracing::debug!(?other, "ignoring a control message"),
                Ok(None) => break "the page closed the control stream".to_string(),
                Err(e) => break format!("control stream: {e:#}"),
            },
            changed = listed.stop.changed() => {
                let reason = changed.ok().and_then(|_| listed.stop.borrow().clone());
                break reason.unwrap_or_else(|| "stopped by the host".into());
            }
            Some(event) = listed.app_events.recv() => {
                if let crate::shared::apps::AppEvent::Ended { title_id, reason } = event {
                    send(&mut tx, &Message::AppEnded { title_id, reason }).await?;
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {
                if control.stop.load(Ordering::Relaxed) {
                    break "the video pipeline stopped".to_string();
                }
                if writer.is_finished() {
                    break "the page stopped taking frames".to_string();
                }
            }
        }
    };

    listed.stop_app().await;
    sender.stop().await;
    writer.abort();
    listed.end(&mut tx, &reason).await;
    conn.close(0u32.into(), b"session over");
    tracing::info!(
        session = %sid, %reason, frames = control.video.frames_sent.load(Ordering::Relaxed),
        seconds = started.elapsed().as_secs(), "browser session over"
    );
    Ok(())
}

/// The page's ticket, then its Hello; `Err` is the reason to refuse.
async fn first_messages(
    reader: &mut ControlReader<wtransport::RecvStream>,
    shared: &Shared,
) -> std::result::Result<Hello, String> {
    match next_message(reader).await? {
        Message::Ticket { ticket } if shared.host.browser.redeem(&ticket, Instant::now()) => {}
        Message::Ticket { .. } => {
            return Err("this ticket is unknown, used or expired: reload the page".into());
        }
        other => return Err(format!("expected a ticket first, got {other:?}")),
    }
    match next_message(reader).await? {
        Message::Hello(hello) => Ok(hello),
        other => Err(format!("expected Hello, got {other:?}")),
    }
}

/// The page's next control message, within [`MESSAGE_TIMEOUT`].
async fn next_message(
    reader: &mut ControlReader<wtransport::RecvStream>,
) -> std::result::Result<Message, String> {
    match tokio::time::timeout(MESSAGE_TIMEOUT, reader.next()).await {
        Ok(Ok(Some(message))) => Ok(message),
        Ok(Ok(None)) => Err("the page closed its control stream".to_string()),
        Ok(Err(e)) => Err(format!("bad control message: {e:#}")),
        Err(_) => Err("the page sent nothing".to_string()),
    }
}

/// The page's input: it opens unidirectional streams (`"pfi1"`, then length-framed events, motion
/// included — a page has no QUIC datagrams to spare for it), read into the display's injector.
fn start_input(
    conn: &wtransport::Connection,
    sink: Option<Result<Box<dyn crate::platform::inject::InputSink>>>,
) -> Result<crate::protocols::punktfunk1::input::SessionInputTask> {
    let sink = match sink {
        Some(Ok(sink)) => Some(sink),
        Some(Err(e)) => {
            tracing::warn!("no input injection for this display: {e:#}");
            None
        }
        None => None,
    };
    let injector = Injector::start(sink)?;
    let (events, counters) = (injector.events.clone(), injector.counters.clone());
    let conn = conn.clone();
    let accept = tokio::spawn(async move {
        while let Ok(stream) = conn.accept_uni().await {
            let (events, counters) = (events.clone(), counters.clone());
            tokio::spawn(async move {
                if let Err(e) = read_input_stream(stream, events, &counters).await {
                    tracing::info!("browser input stream ended: {e:#}");
                }
            });
        }
    });
    Ok(injector.with_tasks(vec![accept]))
}
