//! GameStream's RTSP dialect: request framing, responses, and the `rtspenc://` envelope.
//!
//! Moonlight opens one TCP connection per request, sends it, and reads the answer until the host
//! closes the socket. Requests may carry a body (`ANNOUNCE`), sized by `Content-length` (Moonlight's
//! spelling; matched case-insensitively here). Responses must be `Name: value` with exactly one
//! space, must echo `CSeq`, and need at least one header, because Moonlight's parser only finds the
//! end of the head after a header line. With `rtspenc://` every message both ways is wrapped in
//! [`RtspCipher`]'s AES-128-GCM envelope. See `docs/gamestream.md`, "RTSP".
//!
//! One concept, one file (longer than most): the RTSP dialect, request and answer framing together.

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use std::fmt::Write as _;

/// Longest request head (request line + headers) accepted; Moonlight's are about 200 bytes.
pub const MAX_HEAD: usize = 8 * 1024;
/// Longest body accepted; Moonlight's ANNOUNCE is about 2 KB.
pub const MAX_BODY: usize = 64 * 1024;
/// Most header lines accepted in one request.
pub const MAX_HEADERS: usize = 32;
/// `BE32 type|length`, `BE32 sequence`, 16-byte GCM tag.
pub const ENVELOPE_HEADER_LEN: usize = 24;
const ENCRYPTED_BIT: u32 = 0x8000_0000;
const TAG_LEN: usize = 16;

/// `Session` value for SETUP replies; Moonlight requires the header on the audio SETUP and echoes it.
pub const SESSION_VALUE: &str = "DEADBEEFCAFE;timeout = 90";

/// Why bytes were not accepted as an RTSP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtspError {
    /// The head exceeds [`MAX_HEAD`] bytes without ending.
    #[error("request head longer than {MAX_HEAD} bytes")]
    HeadTooLarge,
    /// `Content-Length` exceeds [`MAX_BODY`].
    #[error("body longer than {MAX_BODY} bytes")]
    BodyTooLarge,
    /// More than [`MAX_HEADERS`] header lines.
    #[error("more than {MAX_HEADERS} header lines")]
    TooManyHeaders,
    /// The head (or the message, before its end is found) contains a byte that is not printable ASCII.
    #[error("binary data in the message head")]
    NotText,
    /// The request line is not `METHOD target RTSP/1.0`.
    #[error("malformed request line")]
    BadRequestLine,
    /// The status line is not `RTSP/1.0 code reason`.
    #[error("malformed status line")]
    BadStatusLine,
    /// The version is not `RTSP/1.0`.
    #[error("protocol is not RTSP/1.0")]
    BadVersion,
    /// A header line without `:`.
    #[error("malformed header line")]
    BadHeader,
    /// A header that must be unique (`CSeq`, `Content-Length`) appears twice; carries its name.
    #[error("header {0} appears more than once")]
    DuplicateHeader(&'static str),
    /// `CSeq` is absent or not a decimal u32.
    #[error("missing or invalid CSeq")]
    BadCSeq,
    /// `Content-Length` is not a decimal number.
    #[error("invalid Content-Length")]
    BadContentLength,
    /// The bytes after the head are more or fewer than `Content-Length` says.
    #[error("body length differs from Content-Length")]
    BodyLengthMismatch,
    /// A response without headers, which Moonlight's parser cannot end.
    #[error("a response needs at least one header")]
    NoHeaders,
    /// A header name that is not a token, or a value with CR, LF or NUL; carries the offending text.
    #[error("header name or value cannot be sent: {0:?}")]
    Unsendable(String),
    /// An `rtspenc://` session received a message without the encrypted bit.
    #[error("plaintext message where an encrypted one was required")]
    Unencrypted,
    /// The envelope's length exceeds [`MAX_HEAD`] + [`MAX_BODY`].
    #[error("encrypted message longer than allowed")]
    EnvelopeTooLarge,
    /// The envelope's length field disagrees with the bytes received.
    #[error("encrypted message length does not match its header")]
    EnvelopeLengthMismatch,
    /// AES-GCM rejected the tag: wrong key, wrong sender or tampered bytes.
    #[error("encrypted message failed authentication")]
    Decrypt,
    /// The 32-bit sequence counter would wrap and reuse a nonce under this key.
    #[error("sequence numbers exhausted for this key")]
    SequenceExhausted,
    /// The key could not be set up or sealing failed.
    #[error("AES-GCM operation failed")]
    Crypto,
}

/// Result of looking at a possibly incomplete buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress<T> {
    /// Keep reading; nothing is wrong yet.
    NeedMore,
    /// The whole message, parsed.
    Complete(T),
}

/// RTSP method of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `OPTIONS`: the client's first probe.
    Options,
    /// `DESCRIBE`: the client asks for the host's SDP (codecs, audio layouts).
    Describe,
    /// `SETUP`: the client asks for one stream's port (audio, video or control).
    Setup,
    /// `ANNOUNCE`: the client sends its stream parameters as SDP attributes.
    Announce,
    /// `PLAY`: start streaming.
    Play,
    /// Any other method, kept as sent (answered with an error).
    Other(String),
}

impl Method {
    fn parse(token: &str) -> Self {
        match token {
            "OPTIONS" => Method::Options,
            "DESCRIBE" => Method::Describe,
            "SETUP" => Method::Setup,
            "ANNOUNCE" => Method::Announce,
            "PLAY" => Method::Play,
            other => Method::Other(other.to_string()),
        }
    }

    /// The method name as it appears in the request line.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Options => "OPTIONS",
            Method::Describe => "DESCRIBE",
            Method::Setup => "SETUP",
            Method::Announce => "ANNOUNCE",
            Method::Play => "PLAY",
            Method::Other(s) => s,
        }
    }
}

/// The stream a SETUP (or ANNOUNCE) targets: `streamid=<kind>/…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// `streamid=audio`: the Opus RTP stream.
    Audio,
    /// `streamid=video`: the video RTP stream.
    Video,
    /// `streamid=control`: the ENet control stream.
    Control,
}

/// One parsed RTSP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspRequest {
    /// The request's method.
    pub method: Method,
    /// The request target, e.g. `streamid=video/0/0` or `rtsp://host:48010`.
    pub target: String,
    /// `CSeq`: the client's request number, echoed in the response.
    pub cseq: u32,
    /// Header lines in order, `CSeq` and `Content-Length` included.
    pub headers: Vec<(String, String)>,
    /// The body (`ANNOUNCE` only), exactly `Content-Length` bytes.
    pub body: Vec<u8>,
}

impl RtspRequest {
    /// First header of that name, compared case-insensitively (clients differ in spelling).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_lookup(&self.headers, name)
    }

    /// `streamid=audio/0/0` → [`StreamKind::Audio`]; `None` for anything else.
    pub fn stream(&self) -> Option<StreamKind> {
        let rest = self.target.strip_prefix("streamid=")?;
        match rest.split('/').next()? {
            "audio" => Some(StreamKind::Audio),
            "video" => Some(StreamKind::Video),
            "control" => Some(StreamKind::Control),
            _ => None,
        }
    }

    /// Serializes as Moonlight does (`Content-length` added when there is a body).
    pub fn to_bytes(&self) -> Result<Vec<u8>, RtspError> {
        check_token(self.method.as_str())?;
        if self.target.is_empty() || self.target.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
            return Err(RtspError::Unsendable(self.target.clone()));
        }
        let mut out = format!("{} {} RTSP/1.0\r\n", self.method.as_str(), self.target);
        write_headers(&mut out, &self.headers, self.body.len())?;
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.body);
        Ok(out)
    }
}

fn header_lookup<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn check_token(token: &str) -> Result<(), RtspError> {
    let ok = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b':' | b'"' | b'(' | b')' | b',' | b';'));
    if ok {
        Ok(())
    } else {
        Err(RtspError::Unsendable(token.to_string()))
    }
}

fn write_headers(
    out: &mut String,
    headers: &[(String, String)],
    body_len: usize,
) -> Result<(), RtspError> {
    let mut has_length = false;
    for (name, value) in headers {
        check_token(name)?;
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(RtspError::Unsendable(value.clone()));
        }
        has_length |= name.eq_ignore_ascii_case("Content-Length");
        let _ = write!(out, "{name}: {value}\r\n");
    }
    if body_len > 0 && !has_length {
        let _ = write!(out, "Content-Length: {body_len}\r\n");
    }
    out.push_str("\r\n");
    Ok(())
}

/// Where the head ends (index just past `\r\n\r\n`), or why it cannot be a head. Non-text bytes fail
/// at once, so that an `rtspenc` envelope sent to a plaintext session is not waited on.
fn find_head_end(buf: &[u8]) -> Result<Progress<usize>, RtspError> {
    let window = &buf[..buf.len().min(MAX_HEAD + 4)];
    if let Some(bad) = window
        .iter()
        .position(|&b| !(b == b'\r' || b == b'\n' || b == b'\t' || (0x20..0x7f).contains(&b)))
    {
        // A non-text byte is only fine past the head, i.e. in the body.
        match window.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(end) if end + 4 <= bad => {}
            _ => return Err(RtspError::NotText),
        }
    }
    match window.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => Ok(Progress::Complete(end + 4)),
        None if buf.len() > MAX_HEAD => Err(RtspError::HeadTooLarge),
        None => Ok(Progress::NeedMore),
    }
}

/// Parses `Name: value` lines (lenient about blanks around the value).
fn parse_headers<'a>(
    lines: impl Iterator<Item = &'a str>,
) -> Result<Vec<(String, String)>, RtspError> {
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == MAX_HEADERS {
            return Err(RtspError::TooManyHeaders);
        }
        let (name, value) = line.split_once(':').ok_or(RtspError::BadHeader)?;
        if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(RtspError::BadHeader);
        }
        headers.push((
            name.to_string(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    Ok(headers)
}

/// The single header `name`, rejecting repeats: two `Content-Length`s or `CSeq`s are how requests
/// get smuggled past one parser and into another.
fn single<'a>(
    headers: &'a [(String, String)],
    name: &'static str,
) -> Result<Option<&'a str>, RtspError> {
    let mut found = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    let first = found.next().map(|(_, v)| v.as_str());
    if found.next().is_some() {
        return Err(RtspError::DuplicateHeader(name));
    }
    Ok(first)
}

fn parse_decimal(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses one plaintext request from the start of `buf`. On completion also returns how many bytes
/// it used; anything after that is a protocol violation (one request per connection).
pub fn parse_request(buf: &[u8]) -> Result<Progress<(RtspRequest, usize)>, RtspError> {
    let head_end = match find_head_end(buf)? {
        Progress::NeedMore => return Ok(Progress::NeedMore),
        Progress::Complete(end) => end,
    };
    let head = std::str::from_utf8(&buf[..head_end - 4]).map_err(|_| RtspError::NotText)?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().ok_or(RtspError::BadRequestLine)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RtspError::BadRequestLine);
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) || target.is_empty() {
        return Err(RtspError::BadRequestLine);
    }
    if version != "RTSP/1.0" {
        return Err(RtspError::BadVersion);
    }
    let headers = parse_headers(lines)?;
    let cseq = single(&headers, "CSeq")?
        .and_then(parse_decimal)
        .ok_or(RtspError::BadCSeq)?;
    let body_len = match single(&headers, "Content-Length")? {
        None => 0,
        Some(v) => parse_decimal(v).ok_or(RtspError::BadContentLength)? as usize,
    };
    if body_len > MAX_BODY {
        return Err(RtspError::BodyTooLarge);
    }
    let Some(body) = buf.get(head_end..head_end + body_len) else {
        return Ok(Progress::NeedMore);
    };
    Ok(Progress::Complete((
        RtspRequest {
            method: Method::parse(method),
            target: target.to_string(),
            cseq,
            headers,
            body: body.to_vec(),
        },
        head_end + body_len,
    )))
}

/// An RTSP response; `CSeq` is always the first header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspResponse {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Reason phrase, e.g. `OK`.
    pub reason: String,
    /// Header lines in order; `CSeq` is first.
    pub headers: Vec<(String, String)>,
    /// Body bytes (the DESCRIBE answer); `Content-Length` is added when encoding.
    pub body: Vec<u8>,
}

impl RtspResponse {
    /// A response with status, reason and the request's `CSeq` as its only header.
    pub fn new(status: u16, reason: &str, cseq: u32) -> Self {
        RtspResponse {
            status,
            reason: reason.to_string(),
            headers: vec![("CSeq".to_string(), cseq.to_string())],
            body: Vec::new(),
        }
    }

    /// `200 OK` echoing `cseq`.
    pub fn ok(cseq: u32) -> Self {
        Self::new(200, "OK", cseq)
    }

    /// `404 NOT FOUND` echoing `cseq`.
    pub fn not_found(cseq: u32) -> Self {
        Self::new(404, "NOT FOUND", cseq)
    }

    /// `400 BAD REQUEST` echoing `cseq`.
    pub fn bad_request(cseq: u32) -> Self {
        Self::new(400, "BAD REQUEST", cseq)
    }

    /// Appends a header line (order is kept).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Case-sensitive, as Moonlight looks headers up.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `RTSP/1.0 <code> <reason>`, `Name: value` lines, blank line, body.
    pub fn to_bytes(&self) -> Result<Vec<u8>, RtspError> {
        if self.headers.is_empty() {
            return Err(RtspError::NoHeaders);
        }
        if self.reason.is_empty() || self.reason.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
            return Err(RtspError::Unsendable(self.reason.clone()));
        }
        let mut out = format!("RTSP/1.0 {} {}\r\n", self.status, self.reason);
        write_headers(&mut out, &self.headers, self.body.len())?;
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.body);
        Ok(out)
    }
}

/// Parses a complete response (everything read until the host closed the connection), as a client.
pub fn parse_response(message: &[u8]) -> Result<RtspResponse, RtspError> {
    let head_end = match find_head_end(message)? {
        Progress::NeedMore => return Err(RtspError::BadStatusLine),
        Progress::Complete(end) => end,
    };
    let head = std::str::from_utf8(&message[..head_end - 4]).map_err(|_| RtspError::NotText)?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or(RtspError::BadStatusLine)?;
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code), Some(reason)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(RtspError::BadStatusLine);
    };
    if version != "RTSP/1.0" {
        return Err(RtspError::BadVersion);
    }
    let status = parse_decimal(code)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (100..1000).contains(c))
        .ok_or(RtspError::BadStatusLine)?;
    let headers = parse_headers(lines)?;
    if headers.is_empty() {
        return Err(RtspError::NoHeaders);
    }
    let body = message[head_end..].to_vec();
    if let Some(length) = single(&headers, "Content-Length")?
        && parse_decimal(length).map(|l| l as usize) != Some(body.len())
    {
        return Err(RtspError::BodyLengthMismatch);
    }
    Ok(RtspResponse {
        status,
        reason: reason.to_string(),
        headers,
        body,
    })
}

/// `Transport`, `Session` and the session-matching token for a SETUP reply.
pub fn setup_response(
    cseq: u32,
    kind: StreamKind,
    server_port: u16,
    ping_payload: &str,
    connect_data: u32,
) -> RtspResponse {
    let reply = RtspResponse::ok(cseq)
        .with_header("Session", SESSION_VALUE)
        .with_header("Transport", format!("server_port={server_port}"));
    match kind {
        StreamKind::Audio | StreamKind::Video => {
            reply.with_header("X-SS-Ping-Payload", ping_payload)
        }
        StreamKind::Control => reply.with_header("X-SS-Connect-Data", connect_data.to_string()),
    }
}

/// Which side this end of the `rtspenc` envelope is; it decides the nonce tag of each direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The host end: seals with nonce tag `'H'`, opens `'C'`.
    Host,
    /// The client end: seals with nonce tag `'C'`, opens `'H'`.
    Client,
}

impl Role {
    fn tag(self) -> u8 {
        match self {
            Role::Host => b'H',
            Role::Client => b'C',
        }
    }

    fn peer(self) -> Role {
        match self {
            Role::Host => Role::Client,
            Role::Client => Role::Host,
        }
    }
}

/// The `rtspenc://` envelope: `BE32 (0x80000000 | len)`, `BE32 seq`, tag, ciphertext, sealed with
/// AES-128-GCM under `rikey` without AAD. Nonce: LE32 seq, six zeros, sender tag (`'H'`/`'C'`), `'R'`.
/// One instance lives as long as the launch session: its sequence numbers must never repeat under
/// the key, across all of the session's RTSP connections.
pub struct RtspCipher {
    key: LessSafeKey,
    role: Role,
    next_seq: u32,
}

impl std::fmt::Debug for RtspCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspCipher")
            .field("role", &self.role)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

fn nonce(seq: u32, sender: Role) -> Nonce {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&seq.to_le_bytes());
    n[10] = sender.tag();
    n[11] = b'R';
    Nonce::assume_unique_for_key(n)
}

impl RtspCipher {
    /// A cipher for the session's 16-byte `rikey`; sealing starts at sequence 1.
    pub fn new(rikey: &[u8; 16], role: Role) -> Result<Self, RtspError> {
        let key = UnboundKey::new(&AES_128_GCM, rikey).map_err(|_| RtspError::Crypto)?;
        Ok(RtspCipher {
            key: LessSafeKey::new(key),
            role,
            // Both Moonlight and Sunshine number their first message 1.
            next_seq: 1,
        })
    }

    /// Wraps one whole message (head and body) for sending.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, RtspError> {
        let len = u32::try_from(plaintext.len())
            .ok()
            .filter(|&l| l < ENCRYPTED_BIT)
            .ok_or(RtspError::EnvelopeTooLarge)?;
        let seq = self.next_seq;
        self.next_seq = seq.checked_add(1).ok_or(RtspError::SequenceExhausted)?;
        let mut out = Vec::with_capacity(ENVELOPE_HEADER_LEN + plaintext.len());
        out.extend_from_slice(&(ENCRYPTED_BIT | len).to_be_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&[0u8; TAG_LEN]);
        out.extend_from_slice(plaintext);
        let (header, body) = out.split_at_mut(ENVELOPE_HEADER_LEN);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(seq, self.role), Aad::empty(), body)
            .map_err(|_| RtspError::Crypto)?;
        header[8..].copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// How long the envelope starting `buf` is in total, once its header has arrived. Rejects
    /// plaintext and oversized envelopes before their bodies are read.
    pub fn envelope_len(buf: &[u8]) -> Result<Progress<usize>, RtspError> {
        let Some(word) = buf.get(..4) else {
            return Ok(Progress::NeedMore);
        };
        let word = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        if word & ENCRYPTED_BIT == 0 {
            return Err(RtspError::Unencrypted);
        }
        let len = (word & !ENCRYPTED_BIT) as usize;
        if len > MAX_HEAD + MAX_BODY {
            return Err(RtspError::EnvelopeTooLarge);
        }
        Ok(Progress::Complete(ENVELOPE_HEADER_LEN + len))
    }

    /// Opens one whole envelope from the peer; returns its sequence number and plaintext.
    pub fn open(&self, message: &[u8]) -> Result<(u32, Vec<u8>), RtspError> {
        let total = match Self::envelope_len(message)? {
            Progress::NeedMore => return Err(RtspError::EnvelopeLengthMismatch),
            Progress::Complete(total) => total,
        };
        if message.len() != total {
            return Err(RtspError::EnvelopeLengthMismatch);
        }
        let seq = u32::from_be_bytes([message[4], message[5], message[6], message[7]]);
        let mut in_out = Vec::with_capacity(total - 8);
        in_out.extend_from_slice(&message[ENVELOPE_HEADER_LEN..]);
        in_out.extend_from_slice(&message[8..ENVELOPE_HEADER_LEN]);
        let plain = self
            .key
            .open_in_place(nonce(seq, self.role.peer()), Aad::empty(), &mut in_out)
            .map_err(|_| RtspError::Decrypt)?;
        let len = plain.len();
        in_out.truncate(len);
        Ok((seq, in_out))
    }
}

/// One request from an `rtspenc` connection: the envelope's sequence number, the request, and the
/// bytes used. The envelope must hold exactly one complete request.
pub fn parse_encrypted_request(
    buf: &[u8],
    cipher: &RtspCipher,
) -> Result<Progress<(u32, RtspRequest, usize)>, RtspError> {
    let total = match RtspCipher::envelope_len(buf)? {
        Progress::NeedMore => return Ok(Progress::NeedMore),
        Progress::Complete(total) => total,
    };
    let Some(message) = buf.get(..total) else {
        return Ok(Progress::NeedMore);
    };
    let (seq, plain) = cipher.open(message)?;
    match parse_request(&plain)? {
        Progress::Complete((request, used)) if used == plain.len() => {
            Ok(Progress::Complete((seq, request, total)))
        }
        _ => Err(RtspError::EnvelopeLengthMismatch),
    }
}

#[cfg(test)]
mod tests;
