//! `GET /events`: the host's event bus as Server-Sent Events. Each event's `event:` field is its
//! `type` and its data the JSON. A client that falls too far behind gets a `lagged` event saying how
//! many events it missed (then re-reads the state it cares about).

use crate::mgmt::state::ApiState;
use crate::services::events::HostEvent;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

fn to_sse(event: &HostEvent) -> Event {
    let json = serde_json::to_value(event).unwrap_or_default();
    let kind = json
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or("message")
        .to_string();
    Event::default().event(kind).data(json.to_string())
}

/// Live host events (text/event-stream): session started/ended/stats, pairing, devices, log lines.
#[utoipa::path(get, path = "/events", tag = "host", operation_id = "events",
    responses((status = 200, description = "An endless stream of events; each `data:` is one HostEvent as JSON",
        content_type = "text/event-stream", body = HostEvent)))]
pub async fn events(
    State(state): State<ApiState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.host.events.subscribe();
    // Ends with the server: a graceful shutdown waits for open responses.
    let closing = Box::pin(state.closing());
    let stream = futures_util::stream::unfold(
        (receiver, closing),
        |(mut receiver, mut closing)| async move {
            let received = tokio::select! {
                received = receiver.recv() => received,
                _ = &mut closing => return None,
            };
            let event = match received {
                Ok(event) => to_sse(&event),
                Err(RecvError::Lagged(missed)) => Event::default()
                    .event("lagged")
                    .data(serde_json::json!({ "type": "lagged", "missed": missed }).to_string()),
                Err(RecvError::Closed) => return None,
            };
            Some((Ok(event), (receiver, closing)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
