//! The client side of punktfunk/1 input: [`InputSender`] puts each event on the right transport
//! (motion in datagrams, edges on the input stream), [`read_feedback`] collects what the host sends
//! back, and [`InputScript`] is the probe's way of typing, moving and clicking (`--input`).

use punktfunk_core::control::input::{
    FEEDBACK_STREAM_MAGIC, Feedback, INPUT_STREAM_MAGIC, InputEvent, MouseButton, ScrollAxis,
    normalize,
};
use punktfunk_core::control::{FrameBuffer, frame};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Sends one client's input to its host.
///
/// Datagrams and the stream are not ordered with each other, so a click right after a move could
/// overtake the move and land where the pointer was before. Before an edge that has a position
/// (button, scroll, touch, pen), the latest absolute position sent as a datagram is therefore
/// repeated on the stream, which orders it before the edge. The other way round, a move right
/// after a click could overtake the click: for [`ORDERED_AFTER_EDGE`] after such an edge, motion
/// goes on the stream too, behind the edge.
pub struct InputSender {
    conn: quinn::Connection,
    stream: Option<quinn::SendStream>,
    seq: u32,
    /// The last absolute position that went out as a datagram and is not yet on the stream.
    unordered_position: Option<InputEvent>,
    /// Until when motion is sent on the stream, after a positioned edge.
    ordered_until: Option<std::time::Instant>,
}

/// How long after a click (scroll, touch, pen edge) motion stays on the ordered stream: far longer
/// than the stream lags a datagram on a sound path, short enough that pointer motion is back on
/// datagrams (never held up by a retransmission) within a blink.
pub const ORDERED_AFTER_EDGE: Duration = Duration::from_millis(100);

impl InputSender {
    pub fn new(conn: quinn::Connection) -> Self {
        InputSender {
            conn,
            stream: None,
            seq: 0,
            unordered_position: None,
            ordered_until: None,
        }
    }

    /// Sends `event`: motion as a datagram (if the path takes one that size), everything else on
    /// the input stream, opened on first use.
    pub async fn send(&mut self, event: &InputEvent) -> Result<(), String> {
        let now = std::time::Instant::now();
        let ordered = self.ordered_until.is_some_and(|until| now < until);
        if event.is_motion() && !ordered {
            self.seq = self.seq.wrapping_add(1);
            let datagram = event.encode_datagram(self.seq);
            if self
                .conn
                .max_datagram_size()
                .is_some_and(|max| datagram.len() <= max)
            {
                if matches!(event, InputEvent::PointerAbs { .. }) {
                    self.unordered_position = Some(event.clone());
                }
                return self
                    .conn
                    .send_datagram(datagram.into())
                    .map_err(|e| format!("input datagram: {e}"));
            }
        }
        let positioned = matches!(
            event,
            InputEvent::Button { .. }
                | InputEvent::Scroll { .. }
                | InputEvent::Touch { .. }
                | InputEvent::Pen { .. }
        );
        if let Some(position) = self.unordered_position.take().filter(|_| positioned) {
            self.write_stream(&position).await?;
        }
        if positioned {
            self.ordered_until = Some(now + ORDERED_AFTER_EDGE);
        }
        self.write_stream(event).await
    }

    async fn write_stream(&mut self, event: &InputEvent) -> Result<(), String> {
        if self.stream.is_none() {
            let mut s = self
                .conn
                .open_uni()
                .await
                .map_err(|e| format!("opening the input stream: {e}"))?;
            s.write_all(&INPUT_STREAM_MAGIC)
                .await
                .map_err(|e| format!("input stream: {e}"))?;
            self.stream = Some(s);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err("input stream unavailable".into());
        };
        stream
            .write_all(&frame(&event.encode()))
            .await
            .map_err(|e| format!("input stream: {e}"))
    }
}

/// Feedback received so far, shared with whoever reports it.
pub type FeedbackLog = Arc<Mutex<Vec<Feedback>>>;

/// Accepts the host's feedback stream(s) and appends every event to `log` until the connection
/// closes.
pub async fn read_feedback(conn: quinn::Connection, log: FeedbackLog) {
    while let Ok(mut stream) = conn.accept_uni().await {
        let log = log.clone();
        tokio::spawn(async move {
            let mut magic = [0u8; 4];
            if stream.read_exact(&mut magic).await.is_err() || magic != FEEDBACK_STREAM_MAGIC {
                tracing::debug!("ignoring a unidirectional stream that is not feedback");
                return;
            }
            let mut frames = FrameBuffer::new();
            let mut chunk = vec![0u8; 2048];
            loop {
                loop {
                    match frames.next_body() {
                        Ok(Some(body)) => match Feedback::decode(&body) {
                            Ok(f) => {
                                tracing::info!(?f, "feedback");
                                if let Ok(mut l) = log.lock() {
                                    l.push(f);
                                }
                            }
                            Err(e) => tracing::warn!("skipping feedback: {e}"),
                        },
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!("feedback stream framing: {e}");
                            return;
                        }
                    }
                }
                match stream.read(&mut chunk).await {
                    Ok(Some(n)) => frames.extend(&chunk[..n]),
                    _ => return,
                }
            }
        });
    }
}

/// One step of an input script.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Wait(Duration),
    /// Move to pixel (x, y) of the client's display.
    MoveTo(u32, u32),
    Event(InputEvent),
}

/// A sequence of input steps, written `step; step; …`:
/// `wait 500ms`, `move X,Y` (pixels of the client's display), `rel DX,DY`, `click [left|right|
/// middle]`, `down BUTTON`, `up BUTTON`, `key CODE` (evdev code, pressed and released), `keydown
/// CODE`, `keyup CODE`, `scroll N` (1/120 detents, `hscroll N` sideways), `type TEXT`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InputScript(pub Vec<Step>);

fn button(name: &str) -> Result<MouseButton, String> {
    Ok(match name {
        "" | "left" => MouseButton::Left,
        "right" => MouseButton::Right,
        "middle" => MouseButton::Middle,
        "side" => MouseButton::Side,
        "extra" => MouseButton::Extra,
        other => return Err(format!("unknown mouse button {other:?}")),
    })
}

fn pair<T: std::str::FromStr>(s: &str, what: &str) -> Result<(T, T), String> {
    let bad = || format!("{what} needs two numbers A,B, got {s:?}");
    let (a, b) = s.split_once(',').ok_or_else(bad)?;
    Ok((
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    ))
}

impl std::str::FromStr for InputScript {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut steps = Vec::new();
        for raw in s.split(';') {
            let step = raw.trim_start();
            if step.trim().is_empty() {
                continue;
            }
            let (verb, arg) = step.split_once(' ').unwrap_or((step.trim(), ""));
            let trimmed = arg.trim();
            let code = || -> Result<u16, String> {
                trimmed
                    .parse()
                    .map_err(|_| format!("key code {trimmed:?} is not a number"))
            };
            let value = || -> Result<i32, String> {
                trimmed
                    .parse()
                    .map_err(|_| format!("scroll amount {trimmed:?} is not a number"))
            };
            match verb {
                "wait" => steps.push(Step::Wait(crate::session::parse_duration(trimmed)?)),
                "move" => {
                    let (x, y) = pair(trimmed, "move")?;
                    steps.push(Step::MoveTo(x, y));
                }
                "rel" => {
                    let (dx, dy) = pair(trimmed, "rel")?;
                    steps.push(Step::Event(InputEvent::PointerRel { dx, dy }));
                }
                "click" => {
                    let button = button(trimmed)?;
                    for down in [true, false] {
                        steps.push(Step::Event(InputEvent::Button { button, down }));
                    }
                }
                "down" | "up" => steps.push(Step::Event(InputEvent::Button {
                    button: button(trimmed)?,
                    down: verb == "down",
                })),
                "key" => {
                    let code = code()?;
                    for down in [true, false] {
                        steps.push(Step::Event(InputEvent::Key { code, down }));
                    }
                }
                "keydown" | "keyup" => steps.push(Step::Event(InputEvent::Key {
                    code: code()?,
                    down: verb == "keydown",
                })),
                "scroll" | "hscroll" => steps.push(Step::Event(InputEvent::Scroll {
                    axis: if verb == "scroll" {
                        ScrollAxis::Vertical
                    } else {
                        ScrollAxis::Horizontal
                    },
                    value120: value()?,
                })),
                // Text is taken as written after the one separating space.
                "type" => steps.push(Step::Event(InputEvent::Text(arg.to_string()))),
                other => return Err(format!("unknown input step {other:?} in {step:?}")),
            }
        }
        Ok(InputScript(steps))
    }
}

impl InputScript {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Plays the script on `sender` for a display of `width`×`height`; returns the events sent.
    pub async fn play(
        &self,
        sender: &mut InputSender,
        width: u32,
        height: u32,
    ) -> Result<u64, String> {
        let mut sent = 0u64;
        for step in &self.0 {
            let event = match step {
                Step::Wait(d) => {
                    tokio::time::sleep(*d).await;
                    continue;
                }
                Step::MoveTo(x, y) => InputEvent::PointerAbs {
                    x: normalize(*x, width),
                    y: normalize(*y, height),
                },
                Step::Event(e) => e.clone(),
            };
            sender.send(&event).await?;
            sent += 1;
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_parse() {
        let s: InputScript =
            "wait 100ms; move 320,180; click; type Hello, World!; key 28; scroll -120"
                .parse()
                .unwrap();
        assert_eq!(
            s.0,
            vec![
                Step::Wait(Duration::from_millis(100)),
                Step::MoveTo(320, 180),
                Step::Event(InputEvent::Button {
                    button: MouseButton::Left,
                    down: true
                }),
                Step::Event(InputEvent::Button {
                    button: MouseButton::Left,
                    down: false
                }),
                Step::Event(InputEvent::Text("Hello, World!".into())),
                Step::Event(InputEvent::Key {
                    code: 28,
                    down: true
                }),
                Step::Event(InputEvent::Key {
                    code: 28,
                    down: false
                }),
                Step::Event(InputEvent::Scroll {
                    axis: ScrollAxis::Vertical,
                    value120: -120
                }),
            ]
        );
        for bad in [
            "jump 1",
            "move 1",
            "key x",
            "click sideways",
            "wait forever",
        ] {
            assert!(bad.parse::<InputScript>().is_err(), "{bad:?}");
        }
        assert!("".parse::<InputScript>().unwrap().is_empty());
    }
}
