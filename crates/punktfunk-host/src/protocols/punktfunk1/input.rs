//! A session's input path: events from the client's QUIC connection into its display's sink, and
//! gamepad feedback back to the client.
//!
//! - Motion arrives as QUIC datagrams; an absolute position older than the newest one applied is
//!   dropped (a late position would jerk the pointer back), and when the injector falls behind,
//!   motion is dropped rather than queued.
//! - Edges (keys, buttons, text, gamepad state) arrive on the client's input stream, in order, and
//!   are never dropped: the reader waits for room instead.
//! - Injection runs on a thread of its own (`pkf1-input`), because sinks block (Wayland flushes,
//!   D-Bus calls, device writes).
//! - Feedback from the sink goes to the client on a unidirectional stream this host opens on the
//!   first feedback event.

use crate::platform::inject::{InjectCounts, InputSink, SessionInput};
use anyhow::{Context, Result};
use punktfunk_core::control::input::{
    FEEDBACK_STREAM_MAGIC, Feedback, INPUT_STREAM_MAGIC, InputEvent, seq_is_newer,
};
use punktfunk_core::control::{FrameBuffer, frame};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::Duration;

/// Events waiting for the injector.
const QUEUE: usize = 1024;

/// Counters for logs and tests.
#[derive(Default)]
pub struct InputCounters {
    /// What the injector did with the events that reached it.
    pub inject: InjectCounts,
    pub motion_dropped: AtomicU64,
    pub rejected: AtomicU64,
    pub feedback_sent: AtomicU64,
}

/// The running input path of one session; dropping it stops everything.
pub struct SessionInputTask {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub counters: Arc<InputCounters>,
}

impl Drop for SessionInputTask {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        // The aborted readers drop their senders; the injector sees the hang-up and ends.
        if let Some(thread) = self.thread.take() {
            std::thread::spawn(move || {
                let _ = thread.join();
            });
        }
        let c = &self.counters;
        tracing::info!(
            injected = c.inject.injected.load(Ordering::Relaxed),
            refused = c.inject.refused.load(Ordering::Relaxed),
            motion_dropped = c.motion_dropped.load(Ordering::Relaxed),
            rejected = c.rejected.load(Ordering::Relaxed),
            feedback = c.feedback_sent.load(Ordering::Relaxed),
            "input path stopped"
        );
    }
}

/// A session's injector thread and the queue into it, before any transport feeds it.
pub(super) struct Injector {
    pub(super) events: SyncSender<InputEvent>,
    /// What the sink reports back (rumble, LEDs), for a transport that carries it.
    pub(super) feedback: Option<tokio::sync::mpsc::Receiver<Feedback>>,
    pub(super) counters: Arc<InputCounters>,
    thread: std::thread::JoinHandle<()>,
}

impl Injector {
    /// Starts injecting into the session's display sink (if any) and its gamepads.
    pub(super) fn start(display: Option<Box<dyn InputSink>>) -> Result<Injector> {
        let counters = Arc::new(InputCounters::default());
        let (events, rx) = sync_channel::<InputEvent>(QUEUE);
        let (fb_tx, feedback) = tokio::sync::mpsc::channel::<Feedback>(256);
        let input = SessionInput::new(display);
        tracing::info!(sink = %input.describe(), "input path ready");
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name("pkf1-input".into())
            .spawn(move || {
                // Feedback is state (the latest rumble wins); a full queue loses only stale values.
                input.run(&rx, |f| drop(fb_tx.try_send(f)), &c.inject);
            })
            .context("starting the input thread")?;
        Ok(Injector {
            events,
            feedback: Some(feedback),
            counters,
            thread,
        })
    }

    /// The running input path, fed by `tasks`.
    pub(super) fn with_tasks(self, tasks: Vec<tokio::task::JoinHandle<()>>) -> SessionInputTask {
        SessionInputTask {
            tasks,
            thread: Some(self.thread),
            counters: self.counters,
        }
    }
}

/// Starts the input path for `conn` with the session's display sink (if any).
pub fn start(
    conn: quinn::Connection,
    display: Option<Box<dyn InputSink>>,
) -> Result<SessionInputTask> {
    let mut injector = Injector::start(display)?;
    let (tx, counters) = (injector.events.clone(), injector.counters.clone());
    let mut tasks = vec![
        tokio::spawn(read_datagrams(conn.clone(), tx.clone(), counters.clone())),
        tokio::spawn(accept_streams(conn.clone(), tx, counters.clone())),
    ];
    if let Some(feedback) = injector.feedback.take() {
        tasks.push(tokio::spawn(send_feedback(conn, feedback, counters)));
    }
    Ok(injector.with_tasks(tasks))
}

async fn read_datagrams(
    conn: quinn::Connection,
    tx: SyncSender<InputEvent>,
    counters: Arc<InputCounters>,
) {
    let mut newest_abs: Option<u32> = None;
    while let Ok(datagram) = conn.read_datagram().await {
        let (seq, event) = match InputEvent::decode_datagram(&datagram) {
            Ok(decoded) => decoded,
            Err(e) => {
                counters.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("input datagram rejected: {e}");
                continue;
            }
        };
        if !event.is_motion() {
            // Edges must come on the stream, where they cannot be lost or reordered.
            counters.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(?event, "input datagram rejected: not motion");
            continue;
        }
        if matches!(event, InputEvent::PointerAbs { .. }) {
            if newest_abs.is_some_and(|n| !seq_is_newer(seq, n)) {
                counters.motion_dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            newest_abs = Some(seq);
        }
        match tx.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                counters.motion_dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

async fn accept_streams(
    conn: quinn::Connection,
    tx: SyncSender<InputEvent>,
    counters: Arc<InputCounters>,
) {
    while let Ok(stream) = conn.accept_uni().await {
        let tx = tx.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            if let Err(e) = read_input_stream(stream, tx, &counters).await {
                tracing::info!("input stream ended: {e:#}");
            }
        });
    }
}

/// Reads one input stream (`"pfi1"`, then length-framed events) into the injector's queue.
pub(super) async fn read_input_stream(
    mut stream: impl tokio::io::AsyncRead + Unpin,
    tx: SyncSender<InputEvent>,
    counters: &InputCounters,
) -> Result<()> {
    use tokio::io::AsyncReadExt;
    let mut magic = [0u8; 4];
    stream
        .read_exact(&mut magic)
        .await
        .context("reading the stream type")?;
    anyhow::ensure!(
        magic == INPUT_STREAM_MAGIC,
        "unknown unidirectional stream type {magic:02x?}"
    );
    let mut frames = FrameBuffer::new();
    let mut chunk = vec![0u8; 4096];
    loop {
        while let Some(body) = frames.next_body()? {
            let event = match InputEvent::decode(&body) {
                Ok(e) => e,
                Err(e) => {
                    counters.rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("input event rejected: {e}");
                    continue;
                }
            };
            let mut pending = event;
            loop {
                match tx.try_send(pending) {
                    Ok(()) => break,
                    // Edges are never dropped: wait for the injector to catch up.
                    Err(TrySendError::Full(e)) => {
                        pending = e;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err(TrySendError::Disconnected(_)) => return Ok(()),
                }
            }
        }
        match stream.read(&mut chunk).await? {
            0 => return Ok(()),
            n => frames.extend(&chunk[..n]),
        }
    }
}

async fn send_feedback(
    conn: quinn::Connection,
    mut rx: tokio::sync::mpsc::Receiver<Feedback>,
    counters: Arc<InputCounters>,
) {
    let mut stream: Option<quinn::SendStream> = None;
    while let Some(f) = rx.recv().await {
        if stream.is_none() {
            match conn.open_uni().await {
                Ok(mut s) => {
                    if s.write_all(&FEEDBACK_STREAM_MAGIC).await.is_err() {
                        return;
                    }
                    stream = Some(s);
                }
                Err(e) => {
                    tracing::info!("feedback stream: {e}");
                    return;
                }
            }
        }
        let Some(s) = stream.as_mut() else { return };
        if s.write_all(&frame(&f.encode())).await.is_err() {
            return;
        }
        counters.feedback_sent.fetch_add(1, Ordering::Relaxed);
    }
}
