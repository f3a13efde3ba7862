//! A small client for the i3/sway IPC protocol: just the three requests punktfunk needs.
//!
//! Wire format (sway(7) `sway-ipc`): every message is the 6-byte magic `i3-ipc`, then the payload
//! length and the message type as u32 in the host's byte order (little-endian on every machine
//! punktfunk runs on), then the payload. Replies carry the request's type and a JSON payload.
//! Events (type with the high bit set) only arrive after a SUBSCRIBE, which we never send; they are
//! skipped anyway so a stray one cannot be mistaken for a reply.

use serde::Deserialize;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const MAGIC: &[u8; 6] = b"i3-ipc";
const HEADER_LEN: usize = MAGIC.len() + 8;
/// Replies bigger than this are refused (a GET_OUTPUTS reply is a few KiB per output).
const MAX_PAYLOAD: u32 = 64 << 20;
const EVENT_BIT: u32 = 1 << 31;

/// IPC message types used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MessageType {
    RunCommand = 0,
    GetOutputs = 3,
    GetVersion = 7,
}

#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    #[error("sway IPC socket {path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("sway IPC I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("sway IPC: bad magic {0:?} (not an i3/sway IPC socket?)")]
    BadMagic([u8; 6]),
    #[error("sway IPC: reply of {0} bytes exceeds the {MAX_PAYLOAD}-byte limit")]
    TooLarge(u32),
    #[error("sway IPC: reply type {got} does not answer request type {want}")]
    WrongType { want: u32, got: u32 },
    #[error("sway IPC: cannot parse the reply JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("sway refused `{command}`: {error}")]
    CommandFailed { command: String, error: String },
}

/// One entry of a RUN_COMMAND reply (one per command in the string).
#[derive(Debug, Deserialize)]
pub struct CommandOutcome {
    pub success: bool,
    #[serde(default)]
    pub error: Option<String>,
}

/// The GET_VERSION reply.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct SwayVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    #[serde(default)]
    pub human_readable: String,
    /// "sway" for sway; absent on i3.
    #[serde(default)]
    pub variant: Option<String>,
}

impl SwayVersion {
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct IpcRect {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct IpcMode {
    pub width: u32,
    pub height: u32,
    /// mHz
    pub refresh: u32,
}

/// One output of a GET_OUTPUTS reply (only the fields punktfunk reads).
#[derive(Clone, Debug, Deserialize)]
pub struct IpcOutput {
    pub name: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub make: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub rect: IpcRect,
    #[serde(default)]
    pub current_mode: Option<IpcMode>,
}

/// A connection to a sway IPC socket. Requests are strictly request → reply.
pub struct SwayIpc {
    stream: UnixStream,
}

impl SwayIpc {
    /// Connects to the socket at `path` (SWAYSOCK). Replies must arrive within `timeout`.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Self, IpcError> {
        let stream = UnixStream::connect(path).map_err(|source| IpcError::Connect {
            path: path.display().to_string(),
            source,
        })?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Self { stream })
    }

    /// Wraps an already connected stream (tests use a socket pair).
    pub fn from_stream(stream: UnixStream) -> Self {
        Self { stream }
    }

    /// Sends one request and returns the reply payload.
    pub fn request(&mut self, kind: MessageType, payload: &[u8]) -> Result<Vec<u8>, IpcError> {
        self.stream.write_all(&encode(kind as u32, payload))?;
        loop {
            let (got, body) = read_message(&mut self.stream)?;
            if got & EVENT_BIT != 0 {
                continue;
            }
            if got != kind as u32 {
                return Err(IpcError::WrongType {
                    want: kind as u32,
                    got,
                });
            }
            return Ok(body);
        }
    }

    /// Runs one sway command; any failed sub-command becomes an error carrying sway's reason.
    ///
    /// Note: sway reports success for some commands whose effect it could not apply (for example
    /// an output commit the backend rejects), so callers verify effects with [`Self::get_outputs`].
    pub fn run_command(&mut self, command: &str) -> Result<(), IpcError> {
        let reply = self.request(MessageType::RunCommand, command.as_bytes())?;
        let outcomes: Vec<CommandOutcome> = serde_json::from_slice(&reply)?;
        for outcome in outcomes {
            if !outcome.success {
                return Err(IpcError::CommandFailed {
                    command: command.to_owned(),
                    error: outcome.error.unwrap_or_else(|| "no reason given".into()),
                });
            }
        }
        Ok(())
    }

    pub fn get_outputs(&mut self) -> Result<Vec<IpcOutput>, IpcError> {
        let reply = self.request(MessageType::GetOutputs, b"")?;
        Ok(serde_json::from_slice(&reply)?)
    }

    pub fn get_version(&mut self) -> Result<SwayVersion, IpcError> {
        let reply = self.request(MessageType::GetVersion, b"")?;
        Ok(serde_json::from_slice(&reply)?)
    }
}

/// Encodes one message: magic, length, type, payload.
pub fn encode(kind: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    // A payload longer than u32::MAX cannot be sent; commands are short strings.
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_ne_bytes(),
    );
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads one message and returns its type and payload.
pub fn read_message(r: &mut impl Read) -> Result<(u32, Vec<u8>), IpcError> {
    let mut header = [0u8; HEADER_LEN];
    r.read_exact(&mut header)?;
    let mut magic = [0u8; 6];
    magic.copy_from_slice(&header[..6]);
    if &magic != MAGIC {
        return Err(IpcError::BadMagic(magic));
    }
    let len = u32::from_ne_bytes([header[6], header[7], header[8], header[9]]);
    let kind = u32::from_ne_bytes([header[10], header[11], header[12], header[13]]);
    if len > MAX_PAYLOAD {
        return Err(IpcError::TooLarge(len));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    Ok((kind, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    /// A fake sway: answers each request with the canned reply for its type, preceded by an event.
    fn fake_server(
        stream: UnixStream,
        replies: Vec<(u32, &'static str)>,
    ) -> thread::JoinHandle<()> {
        thread::spawn(move || {
            let mut s = stream;
            for (want, reply) in replies {
                let (kind, _) = read_message(&mut s).expect("request");
                assert_eq!(kind, want);
                // An unsolicited event first: the client must skip it.
                s.write_all(&encode(EVENT_BIT | 1, b"{}")).expect("event");
                s.write_all(&encode(kind, reply.as_bytes())).expect("reply");
            }
        })
    }

    #[test]
    fn header_layout() {
        let m = encode(7, b"ab");
        assert_eq!(&m[..6], b"i3-ipc");
        assert_eq!(&m[6..10], &2u32.to_ne_bytes());
        assert_eq!(&m[10..14], &7u32.to_ne_bytes());
        assert_eq!(&m[14..], b"ab");
        let (kind, body) = read_message(&mut &m[..]).expect("decode");
        assert_eq!((kind, body.as_slice()), (7, &b"ab"[..]));
    }

    #[test]
    fn rejects_bad_magic_and_huge_length() {
        let mut m = encode(0, b"");
        m[0] = b'x';
        assert!(matches!(
            read_message(&mut &m[..]),
            Err(IpcError::BadMagic(_))
        ));
        let mut m = encode(0, b"");
        m[6..10].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(
            read_message(&mut &m[..]),
            Err(IpcError::TooLarge(_))
        ));
        // Truncated payload.
        let m = encode(0, b"abc");
        assert!(matches!(
            read_message(&mut &m[..m.len() - 1]),
            Err(IpcError::Io(_))
        ));
    }

    #[test]
    fn requests_against_fake_server() {
        let (client, server) = UnixStream::pair().expect("pair");
        let server = fake_server(
            server,
            vec![
                (
                    7,
                    r#"{"human_readable":"1.7","variant":"sway","major":1,"minor":7,"patch":0}"#,
                ),
                (
                    3,
                    r#"[{"name":"HEADLESS-1","active":true,"make":"headless","model":"headless",
                        "rect":{"x":0,"y":0,"width":1280,"height":720},
                        "current_mode":{"width":1280,"height":720,"refresh":60000},"extra":1}]"#,
                ),
                (0, r#"[{"success":true}]"#),
                (
                    0,
                    r#"[{"success":true},{"success":false,"parse_error":true,"error":"Invalid output subcommand: unplug."}]"#,
                ),
            ],
        );
        let mut ipc = SwayIpc::from_stream(client);
        let v = ipc.get_version().expect("version");
        assert_eq!((v.major, v.minor), (1, 7));
        assert!(v.at_least(1, 7) && !v.at_least(1, 8));
        let outputs = ipc.get_outputs().expect("outputs");
        assert_eq!(outputs.len(), 1);
        assert_eq!(outputs[0].name, "HEADLESS-1");
        assert_eq!(
            outputs[0].current_mode,
            Some(IpcMode {
                width: 1280,
                height: 720,
                refresh: 60000
            })
        );
        ipc.run_command("create_output").expect("ok command");
        match ipc.run_command("output HEADLESS-1 unplug") {
            Err(IpcError::CommandFailed { error, .. }) => {
                assert!(error.contains("unplug"), "{error}")
            }
            other => panic!("expected CommandFailed, got {other:?}"),
        }
        server.join().expect("server thread");
    }
}
