//! How long one API connection may take over each part of its life, so that connections that go
//! silent give their slot back. The TLS handshake and the request head have plain timeouts (in
//! `server`); here are the two that need bookkeeping:
//!
//! - **Request bodies** must arrive within [`BODY_TIMEOUT`] of the request head ([`DeadlineBody`]):
//!   a half-sent body otherwise keeps its handler waiting forever.
//! - **Idle connections** (no request in flight — between HTTP/1.1 keep-alive requests, or an
//!   HTTP/2 connection without open streams) are closed after [`IDLE_TIMEOUT`] ([`Activity`]). A
//!   request counts as in flight until its response body is gone, so an event stream
//!   (`/api/v1/events`) keeps its connection for as long as it runs.

use axum::BoxError;
use hyper::body::{Body, Bytes, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Time from the request head to the end of its body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a connection may sit without any request in flight.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// The error a request body ends with when it was not complete in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not complete within {} s", BODY_TIMEOUT.as_secs())]
pub struct BodyTimedOut;

/// A request body that fails with [`BodyTimedOut`] once its deadline passes.
pub struct DeadlineBody<B> {
    inner: B,
    deadline: Pin<Box<Sleep>>,
}

impl<B> DeadlineBody<B> {
    /// `inner`, due within `limit` from now.
    pub fn new(inner: B, limit: Duration) -> Self {
        DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTimedOut.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

struct ActivityState {
    in_flight: usize,
    /// When the last request in flight ended (or the connection started).
    idle_since: Instant,
}

/// Requests in flight on one connection, and since when there were none.
#[derive(Clone)]
pub struct Activity(Arc<Mutex<ActivityState>>);

/// One request in flight; dropping it (with the response body) ends it.
pub struct InFlight(Activity);

impl Activity {
    pub fn new() -> Activity {
        Activity(Arc::new(Mutex::new(ActivityState {
            in_flight: 0,
            idle_since: Instant::now(),
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        // Counter steps only: a poisoned lock still holds consistent numbers.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a request as in flight until the returned guard is dropped.
    pub fn begin(&self) -> InFlight {
        self.state().in_flight += 1;
        InFlight(self.clone())
    }

    /// Resolves once no request has been in flight for `limit`.
    pub async fn idle_for(&self, limit: Duration) {
        loop {
            let wake = {
                let state = self.state();
                if state.in_flight > 0 {
                    // Busy (maybe an endless event stream): look again later; cheap.
                    Instant::now() + limit
                } else {
                    let due = state.idle_since + limit;
                    if Instant::now() >= due {
                        return;
                    }
                    due
                }
            };
            tokio::time::sleep_until(wake).await;
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
        }
    }
}

/// A response body that keeps its request in flight for as long as it exists.
pub struct TrackedBody<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B> TrackedBody<B> {
    pub fn new(inner: B, in_flight: InFlight) -> Self {
        TrackedBody {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl<B> Body for TrackedBody<B>
where
    B: Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};

    /// Short real-time limits: the logic is the same at any scale.
    const LIMIT: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn a_complete_body_passes_and_a_stalled_one_times_out() {
        let full = DeadlineBody::new(Full::new(Bytes::from_static(b"{}")), LIMIT);
        let bytes = full.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"{}");

        // One chunk, then nothing: the client stopped half-way.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
        tx.send(Ok(Frame::data(Bytes::from_static(b"{\"pass"))))
            .await
            .unwrap();
        let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let stalled = DeadlineBody::new(StreamBody::new(Box::pin(stream)), LIMIT);
        let started = Instant::now();
        let err = tokio::time::timeout(LIMIT * 10, stalled.collect())
            .await
            .expect("the deadline ends the body")
            .unwrap_err();
        assert!(err.is::<BodyTimedOut>(), "{err}");
        assert!(started.elapsed() >= LIMIT);
        drop(tx);
    }

    #[tokio::test]
    async fn idle_means_nothing_in_flight_for_the_whole_limit() {
        let activity = Activity::new();
        let request = activity.begin();
        let body = TrackedBody::new(Full::new(Bytes::from_static(b"x")), request);
        // Busy for three limits (an event stream): never idle.
        let idle = activity.idle_for(LIMIT);
        tokio::pin!(idle);
        assert!(tokio::time::timeout(LIMIT * 3, &mut idle).await.is_err());
        drop(body);
        let ended = Instant::now();
        tokio::time::timeout(LIMIT * 10, idle)
            .await
            .expect("idle once the response is gone");
        assert!(ended.elapsed() >= LIMIT);
    }
}
