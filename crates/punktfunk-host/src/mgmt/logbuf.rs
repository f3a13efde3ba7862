//! The host's recent log lines, kept in memory for the console: a `tracing` layer records every event
//! that passes the log filter into a bounded ring (oldest dropped first) and, once the API runs,
//! publishes each line on the event bus too. `GET /logs?after=N` pages through the ring by sequence
//! number, so a console that polls never misses or repeats a line that is still kept.

use crate::services::events::{EventBus, HostEvent};
use serde::Serialize;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// Lines kept.
const CAPACITY: usize = 2000;
/// Longer messages are cut (a line is for reading, not for dumping buffers).
const MAX_LINE_BYTES: usize = 4096;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema, PartialEq)]
pub struct LogLine {
    /// Increases by one per line, from 1 at host start.
    pub seq: u64,
    pub unix_ms: u64,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    /// The module that logged it.
    pub target: String,
    /// The message and its fields (`key=value`).
    pub message: String,
}

struct Ring {
    lines: VecDeque<LogLine>,
    last_seq: u64,
}

struct Inner {
    ring: Mutex<Ring>,
    bus: OnceLock<EventBus>,
}

#[derive(Clone)]
pub struct LogBuffer {
    inner: Arc<Inner>,
}

impl Default for LogBuffer {
    fn default() -> Self {
        LogBuffer {
            inner: Arc::new(Inner {
                ring: Mutex::new(Ring {
                    lines: VecDeque::with_capacity(CAPACITY),
                    last_seq: 0,
                }),
                bus: OnceLock::new(),
            }),
        }
    }
}

impl LogBuffer {
    /// The buffer of this process (the one `main` installs the layer for).
    pub fn global() -> &'static LogBuffer {
        static GLOBAL: OnceLock<LogBuffer> = OnceLock::new();
        GLOBAL.get_or_init(LogBuffer::default)
    }

    /// The `tracing` layer that fills this buffer.
    pub fn layer(&self) -> LogLayer {
        LogLayer {
            buffer: self.clone(),
        }
    }

    /// From now on every line is also published on `bus` (first call wins).
    pub fn attach(&self, bus: EventBus) {
        let _ = self.inner.bus.set(bus);
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        // Each critical section is one push/pop: a poisoned ring is still a valid ring.
        self.inner
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn push(&self, level: &str, target: &str, mut message: String) {
        if message.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let line = {
            let mut ring = self.ring();
            ring.last_seq += 1;
            let line = LogLine {
                seq: ring.last_seq,
                unix_ms,
                level: level.to_string(),
                target: target.to_string(),
                message,
            };
            if ring.lines.len() == CAPACITY {
                ring.lines.pop_front();
            }
            ring.lines.push_back(line.clone());
            line
        };
        // Published outside the lock: a subscriber's wake-up must not wait on the ring.
        if let Some(bus) = self.inner.bus.get() {
            bus.publish(HostEvent::Log {
                seq: line.seq,
                level: line.level,
                message: line.message,
            });
        }
    }

    /// Up to `limit` lines with `seq > after`, oldest first, and the `after` to ask with next time.
    /// An `after` beyond the newest line (the host restarted under a polling console) starts over.
    pub fn after(&self, after: u64, limit: usize) -> (Vec<LogLine>, u64) {
        let ring = self.ring();
        let after = if after > ring.last_seq { 0 } else { after };
        let lines: Vec<LogLine> = ring
            .lines
            .iter()
            .filter(|l| l.seq > after)
            .take(limit)
            .cloned()
            .collect();
        let next = lines.last().map_or(after, |l| l.seq);
        (lines, next)
    }
}

pub struct LogLayer {
    buffer: LogBuffer,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if !kept(meta.level(), meta.target()) {
            return;
        }
        let mut visitor = LineVisitor::default();
        event.record(&mut visitor);
        self.buffer
            .push(meta.level().as_str(), meta.target(), visitor.finish());
    }
}

/// Debug and trace lines of other crates stay on stderr: the HTTP and TLS stacks log every write,
/// and each line kept here is itself written to event-stream subscribers — at debug level that
/// would feed itself.
fn kept(level: &tracing::Level, target: &str) -> bool {
    *level <= tracing::Level::INFO || target.starts_with("punktfunk")
}

#[derive(Default)]
struct LineVisitor {
    message: String,
    fields: String,
}

impl LineVisitor {
    fn finish(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
            return;
        }
        if !self.fields.is_empty() {
            self.fields.push(' ');
        }
        let _ = write!(self.fields, "{}={value:?}", field.name());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn records_events_with_fields_and_pages_by_sequence() {
        let buffer = LogBuffer::default();
        let bus = EventBus::default();
        let mut events = bus.subscribe();
        buffer.attach(bus);
        let subscriber = tracing_subscriber::registry().with(buffer.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(port = 3000, "listening");
            tracing::warn!("second");
            tracing::error!(reason = "x");
        });
        let (lines, next) = buffer.after(0, 10);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].message, "listening port=3000");
        assert_eq!(lines[0].level, "INFO");
        assert_eq!(lines[2].message, "reason=\"x\"");
        assert_eq!(next, 3);
        let (page, next) = buffer.after(1, 1);
        assert_eq!((page[0].seq, next), (2, 2));
        assert_eq!(buffer.after(3, 10), (vec![], 3), "nothing new");
        assert_eq!(
            buffer.after(99, 10).0.len(),
            3,
            "a stale cursor starts over"
        );
        assert!(matches!(
            events.try_recv(),
            Ok(HostEvent::Log { seq: 1, .. })
        ));
    }

    #[test]
    fn debug_lines_of_other_crates_are_not_kept() {
        use tracing::Level;
        assert!(kept(&Level::DEBUG, "punktfunk_host::mgmt::server"));
        assert!(kept(&Level::WARN, "hyper::proto"));
        assert!(!kept(&Level::DEBUG, "hyper::proto"));
        assert!(!kept(&Level::TRACE, "rustls::conn"));
    }

    #[test]
    fn keeps_the_newest_lines_and_cuts_long_ones() {
        let buffer = LogBuffer::default();
        for i in 0..(CAPACITY + 5) {
            buffer.push("INFO", "t", format!("line {i}"));
        }
        let (lines, _) = buffer.after(0, usize::MAX);
        assert_eq!(lines.len(), CAPACITY);
        assert_eq!(lines[0].seq, 6);
        buffer.push("INFO", "t", "é".repeat(MAX_LINE_BYTES));
        let (lines, _) = buffer.after(CAPACITY as u64 + 5, 1);
        assert!(lines[0].message.len() <= MAX_LINE_BYTES + '…'.len_utf8());
    }
}
