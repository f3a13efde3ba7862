//! What happens on the host, as a stream anyone can subscribe to: the management API turns it into
//! Server-Sent Events for the web console. Publishing never blocks: a slow subscriber loses the oldest
//! events (and is told how many) instead of holding up a session.

use crate::services::session_info::{SessionInfo, SessionStats};
use serde::Serialize;
use tokio::sync::broadcast;

/// How many events a subscriber may fall behind before it starts losing the oldest ones.
const CAPACITY: usize = 256;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HostEvent {
    SessionStarted {
        // Boxed: a session description is far larger than every other event.
        #[schema(value_type = SessionInfo)]
        session: Box<SessionInfo>,
    },
    SessionEnded {
        id: String,
        reason: String,
    },
    /// Sent about once a second per live session.
    SessionStats {
        id: String,
        stats: SessionStats,
    },
    /// A library title started on a session's display (`app` its id) or ended (`app` null).
    SessionApp {
        id: String,
        app: Option<String>,
        app_name: Option<String>,
    },
    PairingArmed {
        expires_in_secs: u64,
    },
    /// A device finished pairing (either protocol).
    DevicePaired {
        id: String,
        name: String,
        protocol: String,
    },
    DeviceRemoved {
        id: String,
    },
    /// The game library changed (a game was installed or removed): `titles` are listed now.
    LibraryChanged {
        titles: usize,
    },
    /// One log line (the same as `GET /logs` returns).
    Log {
        seq: u64,
        level: String,
        message: String,
    },
}

#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<HostEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl EventBus {
    /// Delivers `event` to every current subscriber; without subscribers it is dropped.
    pub fn publish(&self, event: HostEvent) {
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<HostEvent> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_a_type_tag() {
        let json = serde_json::to_value(HostEvent::SessionEnded {
            id: "0000abcd".into(),
            reason: "client said goodbye".into(),
        })
        .unwrap();
        assert_eq!(json["type"], "session_ended");
        assert_eq!(json["id"], "0000abcd");
    }

    #[test]
    fn slow_subscribers_lose_the_oldest_not_the_publisher() {
        let bus = EventBus::default();
        let mut rx = bus.subscribe();
        for i in 0..(CAPACITY as u64 + 10) {
            bus.publish(HostEvent::DeviceRemoved { id: i.to_string() });
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(10))
        ));
        match rx.try_recv().unwrap() {
            HostEvent::DeviceRemoved { id } => assert_eq!(id, "10"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
