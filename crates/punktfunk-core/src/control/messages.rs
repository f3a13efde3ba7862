//! punktfunk/1 control messages and their field tags.
//!
//! One concept, one file (longer than most): every punktfunk/1 control message with its encode and
//! decode side by side, so a message and its tags are changed in one place.

use super::ControlError;
use super::codec::{FieldReader, FieldWriter};
use crate::packetize::LossStats;

/// Video codecs, in the order a client lists its preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Codec {
    /// Synthetic access units the probe byte-checks (the virtual test source without an encoder).
    RawTest = 0,
    /// H.264 / AVC (wire 1).
    H264 = 1,
    /// H.265 / HEVC (wire 2).
    Hevc = 2,
    /// AV1 (wire 3).
    Av1 = 3,
}

impl Codec {
    /// The codec of a wire byte, `None` for an unknown one (receivers skip those).
    pub fn from_u8(v: u8) -> Option<Codec> {
        [Codec::RawTest, Codec::H264, Codec::Hevc, Codec::Av1]
            .get(usize::from(v))
            .copied()
    }
}

/// Client capability bits in [`Hello::caps`].
pub mod caps {
    /// The client decodes 10-bit video.
    pub const TEN_BIT: u32 = 1 << 0;
    /// The client can display HDR (PQ, BT.2020).
    pub const HDR: u32 = 1 << 1;
    /// The client decodes 4:4:4 chroma.
    pub const YUV444: u32 = 1 << 2;
    /// The client wants the host's audio, in [`super::Hello::audio_channels`] channels.
    pub const AUDIO: u32 = 1 << 3;
    /// The client will send a mono microphone stream.
    pub const MIC: u32 = 1 << 4;
}

/// Longest client name kept (longer names are cut at a character boundary).
pub const MAX_NAME_LEN: usize = 128;

/// Client → host, first message: what the client wants and can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Name shown in the host's session list and pairing records, at most [`MAX_NAME_LEN`] bytes.
    pub client_name: String,
    /// Wanted stream width in pixels (the host creates a display of this size).
    pub width: u32,
    /// Wanted stream height in pixels.
    pub height: u32,
    /// Refresh rate in millihertz (59 940 = 59.94 Hz).
    pub refresh_mhz: u32,
    /// Codecs the client decodes, most preferred first.
    pub codecs: Vec<Codec>,
    /// Wanted video bitrate in kbit/s (100..=the host's `max_bitrate_kbps`).
    pub bitrate_kbps: u32,
    /// Capability bits, [`caps`] constants.
    pub caps: u32,
    /// Audio channels wanted when [`caps::AUDIO`] is set: 2, 6 or 8.
    pub audio_channels: u8,
    /// Largest UDP payload the client's path carries.
    pub max_datagram: u16,
}

/// Host → client: the session as the host set it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Welcome {
    /// Random non-zero id of this session; the TLS exporter context and every datagram carry it.
    pub session_id: u32,
    /// The codec the host will encode with, one of the client's [`Hello::codecs`].
    pub codec: Codec,
    /// 0 = 8-bit 4:2:0 SDR, 1 = 10-bit 4:2:0, 2 = 8-bit 4:4:4, 3 = 10-bit 4:4:4 (see
    /// [`super::color::format`]).
    pub color_format: u8,
    /// The stream's colour primaries, transfer and matrix (default: BT.709, limited range).
    pub color: super::color::ColorDescription,
    /// HDR10 mastering and light-level metadata, when the host streams an HDR source (the bitstream
    /// repeats it on keyframes).
    pub hdr: Option<super::color::HdrMetadata>,
    /// Stream width in pixels, as the host's display was created.
    pub width: u32,
    /// Stream height in pixels.
    pub height: u32,
    /// Refresh rate of the host's display in millihertz.
    pub refresh_mhz: u32,
    /// Encoder bitrate in kbit/s the host starts with.
    pub bitrate_kbps: u32,
    /// Parity shards as a percentage of data shards the host starts with.
    pub parity_percent: u16,
    /// Largest datagram the host will send, in bytes (at most the client's).
    pub max_datagram: u16,
    /// UDP port of the host's data plane (same address as the QUIC connection).
    pub data_port: u16,
    /// Channels of the host's audio stream; 0 = no audio.
    pub audio_channels: u8,
    /// Channels of the client's microphone stream the host accepts; 0 = none.
    pub mic_channels: u8,
}

/// What the client's receiver saw during one feedback window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Feedback {
    /// Length of the window the report covers, in milliseconds (about 100).
    pub window_ms: u32,
    /// Packet, burst and frame counts of the window.
    pub loss: LossStats,
    /// Frames that completed later than the client's latency budget.
    pub late_frames: u32,
    /// One-way delay trend over the window, µs of delay change per second (positive = queues growing).
    pub delay_gradient_us_per_s: i64,
    /// Median one-way delay in µs over the window, when the clocks are synchronised (else 0).
    pub one_way_delay_us: u64,
}

/// A punktfunk/1 control message; each variant is one message type on the control stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Client → host, first message: what the client wants and can do.
    Hello(Hello),
    /// Host → client: the session as the host set it up.
    Welcome(Welcome),
    /// Client → host: data plane registered, start streaming.
    Start,
    /// Client → host every 100 ms: what the receiver saw.
    Feedback(Feedback),
    /// Client → host: the picture is broken from `first_lost_frame` on; send a keyframe.
    KeyframeRequest {
        /// Index of the first frame the client could not decode.
        first_lost_frame: u32,
    },
    /// Client → host clock probe: client send time (client clock, µs).
    ClockPing {
        /// When the client sent the ping, client clock, µs.
        client_send_us: u64,
    },
    /// Host → client: the ping's client time, host receive and host send times (host clock, µs).
    ClockPong {
        /// The ping's `client_send_us`, echoed.
        client_send_us: u64,
        /// When the host received the ping, host clock, µs.
        host_recv_us: u64,
        /// When the host sent the pong, host clock, µs.
        host_send_us: u64,
    },
    /// Host → client: the host changed the encoder bitrate or FEC.
    RateUpdate {
        /// New encoder bitrate in kbit/s.
        bitrate_kbps: u32,
        /// New parity as a percentage of data shards.
        parity_percent: u16,
    },
    /// Either side, before closing: why.
    Goodbye {
        /// Human-readable reason, e.g. the limit a Hello exceeded (may be empty).
        reason: String,
    },
    /// Client → host, instead of Hello: pair with the PIN armed on the host. `spake` is the client's
    /// SPAKE2 message (see [`crate::pairing`]).
    PairStart {
        /// Name stored with the pairing record, at most [`MAX_NAME_LEN`] bytes.
        client_name: String,
        /// The client's SPAKE2 message.
        spake: Vec<u8>,
    },
    /// Host → client: the host's SPAKE2 message.
    PairChallenge {
        /// The host's SPAKE2 message.
        spake: Vec<u8>,
    },
    /// Client → host: the client's key confirmation (it proves first).
    PairConfirm {
        /// The client's key-confirmation MAC.
        mac: Vec<u8>,
    },
    /// Host → client: the host's key confirmation, sent only after the client's checked out and the
    /// client was stored as paired.
    PairDone {
        /// The host's key-confirmation MAC.
        mac: Vec<u8>,
    },
    /// Client → host, any time after Start: a page of the host's game library from `offset` on.
    LibraryRequest {
        /// Index of the first title wanted (0 for the start).
        offset: u32,
    },
    /// Host → client: at most [`MAX_LIBRARY_PAGE`] titles from `offset` on, of `total` in all (ask
    /// again from `offset + titles.len()` for more). Pages keep every message far below the 64 KiB
    /// limit however large the library is.
    LibraryPage {
        /// Index of the first title in this page.
        offset: u32,
        /// Number of titles in the whole library.
        total: u32,
        /// The titles from `offset` on, at most [`MAX_LIBRARY_PAGE`].
        titles: Vec<LibraryEntry>,
    },
    /// Client → host: start a library title on this session's display (one at a time: a running one
    /// is stopped first).
    Launch {
        /// Library id of the title to start, as [`LibraryEntry::id`].
        title_id: String,
    },
    /// Host → client: whether [`Message::Launch`] started the title, and if not why.
    LaunchResult {
        /// The title the result is about.
        title_id: String,
        /// `true` if the title was started.
        ok: bool,
        /// Why it failed (empty on success).
        message: String,
    },
    /// Client → host: stop the launched title ("End game").
    EndApp,
    /// Browser → host, first on a WebTransport session (a browser has no client certificate): the
    /// one-time ticket the host's management API gave the logged-in page.
    Ticket {
        /// The ticket, as the API returned it (hex).
        ticket: String,
    },
    /// Host → client: the launched title is gone (it quit, or the host or client stopped it).
    AppEnded {
        /// The title that ended.
        title_id: String,
        /// Why it ended (quit, stopped by the host, stopped by the client).
        reason: String,
    },
    /// Client → host: a title's cover art from byte `offset` on (0 for the start; ask again from
    /// `offset + data.len()` until `total` is reached).
    ArtRequest {
        /// Library id of the title, as [`LibraryEntry::id`].
        title_id: String,
        /// Index of the first byte wanted.
        offset: u32,
    },
    /// Host → client: at most [`MAX_ART_CHUNK`] bytes of a title's cover art (the store's own PNG or
    /// JPEG file) from `offset` on.
    ArtChunk {
        /// The title the art belongs to.
        title_id: String,
        /// Index of the first byte in `data`.
        offset: u32,
        /// Size of the whole picture; 0 when the title has no cover art (or no such title).
        total: u32,
        /// `image/png` or `image/jpeg` (empty without art).
        media_type: String,
        /// The bytes from `offset` on.
        data: Vec<u8>,
    },
}

/// One title of the host's library as a punktfunk/1 client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryEntry {
    /// The host's stable id (`steam:570`, `desktop:tux`), at most [`MAX_TITLE_ID_LEN`] bytes.
    pub id: String,
    /// Display name, at most [`MAX_NAME_LEN`] bytes.
    pub name: String,
    /// Whether the host has cover art for it ([`Message::ArtRequest`]).
    pub has_art: bool,
}

/// Most titles one [`Message::LibraryPage`] carries.
pub const MAX_LIBRARY_PAGE: usize = 64;
/// Longest title id carried (its length travels in one byte); a host leaves longer ids out.
pub const MAX_TITLE_ID_LEN: usize = 255;
/// Most cover-art bytes one [`Message::ArtChunk`] carries (well below the 64 KiB message limit).
pub const MAX_ART_CHUNK: usize = 48 * 1024;
/// Largest cover art a host sends (bigger pictures are treated as missing).
pub const MAX_ART_LEN: u32 = 8 * 1024 * 1024;
/// Longest media type carried.
const MAX_MEDIA_TYPE_LEN: usize = 64;

mod tag {
    pub(super) const MSG_HELLO: u16 = 1;
    pub(super) const MSG_WELCOME: u16 = 2;
    pub(super) const MSG_START: u16 = 3;
    pub(super) const MSG_FEEDBACK: u16 = 4;
    pub(super) const MSG_KEYFRAME: u16 = 5;
    pub(super) const MSG_PING: u16 = 6;
    pub(super) const MSG_PONG: u16 = 7;
    pub(super) const MSG_RATE: u16 = 8;
    pub(super) const MSG_GOODBYE: u16 = 9;
    pub(super) const MSG_PAIR_START: u16 = 10;
    pub(super) const MSG_PAIR_CHALLENGE: u16 = 11;
    pub(super) const MSG_PAIR_CONFIRM: u16 = 12;
    pub(super) const MSG_PAIR_DONE: u16 = 13;
    pub(super) const MSG_LIBRARY_REQUEST: u16 = 14;
    pub(super) const MSG_LIBRARY_PAGE: u16 = 15;
    pub(super) const MSG_LAUNCH: u16 = 16;
    pub(super) const MSG_LAUNCH_RESULT: u16 = 17;
    pub(super) const MSG_END_APP: u16 = 18;
    pub(super) const MSG_APP_ENDED: u16 = 19;
    pub(super) const MSG_ART_REQUEST: u16 = 20;
    pub(super) const MSG_ART_CHUNK: u16 = 21;
    pub(super) const MSG_TICKET: u16 = 22;

    pub(super) const NAME: u16 = 1;
    pub(super) const WIDTH: u16 = 2;
    pub(super) const HEIGHT: u16 = 3;
    pub(super) const REFRESH: u16 = 4;
    pub(super) const CODECS: u16 = 5;
    pub(super) const BITRATE: u16 = 6;
    pub(super) const CAPS: u16 = 7;
    pub(super) const AUDIO: u16 = 8;
    pub(super) const MAX_DATAGRAM: u16 = 9;
    pub(super) const SESSION: u16 = 10;
    pub(super) const CODEC: u16 = 11;
    pub(super) const COLOR: u16 = 12;
    pub(super) const PARITY: u16 = 13;
    pub(super) const DATA_PORT: u16 = 14;
    pub(super) const MIC: u16 = 15;
    pub(super) const PRIMARIES: u16 = 16;
    pub(super) const TRANSFER: u16 = 17;
    pub(super) const MATRIX: u16 = 18;
    pub(super) const FULL_RANGE: u16 = 19;
    pub(super) const WINDOW: u16 = 20;
    pub(super) const EXPECTED: u16 = 21;
    pub(super) const RECEIVED: u16 = 22;
    pub(super) const BURSTS: u16 = 23;
    pub(super) const MAX_BURST: u16 = 24;
    pub(super) const RECOVERED: u16 = 25;
    pub(super) const COMPLETE: u16 = 26;
    pub(super) const LOST: u16 = 27;
    pub(super) const LATE: u16 = 28;
    pub(super) const GRADIENT: u16 = 29;
    pub(super) const OWD: u16 = 30;
    pub(super) const FIRST_LOST: u16 = 40;
    pub(super) const T1: u16 = 41;
    pub(super) const T2: u16 = 42;
    pub(super) const T3: u16 = 43;
    pub(super) const REASON: u16 = 50;
    pub(super) const SPAKE: u16 = 60;
    pub(super) const MAC: u16 = 61;
    pub(super) const OFFSET: u16 = 70;
    pub(super) const TOTAL: u16 = 71;
    /// Repeated, one per title: `id_len u8 | id | name`.
    pub(super) const ENTRY: u16 = 72;
    pub(super) const TITLE_ID: u16 = 73;
    pub(super) const OK: u16 = 74;
    /// Bit `i` set: entry `i` of the page has cover art (pages hold at most 64 entries).
    pub(super) const WITH_ART: u16 = 75;
    pub(super) const MEDIA_TYPE: u16 = 76;
    pub(super) const DATA: u16 = 77;
    pub(super) const HDR_METADATA: u16 = 78;
    pub(super) const TICKET: u16 = 79;
}

/// Longest goodbye reason kept.
pub const MAX_REASON_LEN: usize = 1024;
/// Longest browser ticket carried.
pub(super) const MAX_TICKET_LEN: usize = 128;

/// `text` cut to at most `max` bytes at a character boundary. Applied when encoding and when
/// decoding, so a decoded message always re-encodes to itself.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let name = text;
    let mut end = max;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Longest SPAKE2 message or MAC a pairing message carries (the real ones are 33 and 32 bytes).
pub const MAX_PAIRING_FIELD_LEN: usize = 256;

/// A pairing field cut to [`MAX_PAIRING_FIELD_LEN`], like names, so decode ∘ encode is the identity.
fn cut_bytes(value: &[u8]) -> &[u8] {
    &value[..value.len().min(MAX_PAIRING_FIELD_LEN)]
}

fn pair_field(r: &FieldReader<'_>, tag: u16, name: &'static str) -> Result<Vec<u8>, ControlError> {
    let value = r.bytes(tag, name)?;
    if value.len() > MAX_PAIRING_FIELD_LEN {
        return Err(ControlError::BadField(name));
    }
    Ok(value.to_vec())
}

/// A title id cut like names (a host never sends longer ones; this keeps decode ∘ encode exact).
fn cut_id(id: &str) -> &str {
    cut(id, MAX_TITLE_ID_LEN)
}

fn encode_entry(entry: &LibraryEntry) -> Vec<u8> {
    let id = cut_id(&entry.id);
    let name = cut(&entry.name, MAX_NAME_LEN);
    let mut out = Vec::with_capacity(1 + id.len() + name.len());
    // `cut_id` keeps the id within one byte's count.
    out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(name.as_bytes());
    out
}

fn bad_entry() -> ControlError {
    ControlError::BadField("library entry")
}

fn decode_entry(value: &[u8]) -> Result<LibraryEntry, ControlError> {
    let (&id_len, rest) = value.split_first().ok_or_else(bad_entry)?;
    let (id, name) = rest
        .split_at_checked(usize::from(id_len))
        .ok_or_else(bad_entry)?;
    let id = std::str::from_utf8(id).map_err(|_| bad_entry())?;
    let name = std::str::from_utf8(name).map_err(|_| bad_entry())?;
    Ok(LibraryEntry {
        id: id.to_owned(),
        name: cut(name, MAX_NAME_LEN).to_owned(),
        has_art: false,
    })
}

/// A string field cut to `max` bytes (decode side of [`cut`]).
fn cut_string(
    r: &FieldReader<'_>,
    tag: u16,
    name: &'static str,
    max: usize,
) -> Result<String, ControlError> {
    let mut value = r.string(tag, name)?;
    value.truncate(cut(&value, max).len());
    Ok(value)
}

impl Message {
    /// The message body: `version u8 ‖ type LE16 ‖ fields`, without the length prefix.
    pub fn encode(&self) -> Vec<u8> {
        use tag::*;
        match self {
            Message::Hello(h) => {
                let codecs: Vec<u8> = h.codecs.iter().map(|c| *c as u8).collect();
                FieldWriter::new(MSG_HELLO)
                    .str(NAME, cut(&h.client_name, MAX_NAME_LEN))
                    .u32(WIDTH, h.width)
                    .u32(HEIGHT, h.height)
                    .u32(REFRESH, h.refresh_mhz)
                    .bytes(CODECS, &codecs)
                    .u32(BITRATE, h.bitrate_kbps)
                    .u32(CAPS, h.caps)
                    .u8(AUDIO, h.audio_channels)
                    .u16(MAX_DATAGRAM, h.max_datagram)
                    .finish()
            }
            Message::Welcome(w) => {
                let mut out = FieldWriter::new(MSG_WELCOME);
                if let Some(hdr) = &w.hdr {
                    out.bytes(HDR_METADATA, &hdr.to_bytes());
                }
                out.u32(SESSION, w.session_id)
                    .u8(CODEC, w.codec as u8)
                    .u8(COLOR, w.color_format)
                    .u8(PRIMARIES, w.color.primaries)
                    .u8(TRANSFER, w.color.transfer)
                    .u8(MATRIX, w.color.matrix)
                    .u8(FULL_RANGE, u8::from(w.color.full_range))
                    .u32(WIDTH, w.width)
                    .u32(HEIGHT, w.height)
                    .u32(REFRESH, w.refresh_mhz)
                    .u32(BITRATE, w.bitrate_kbps)
                    .u16(PARITY, w.parity_percent)
                    .u16(MAX_DATAGRAM, w.max_datagram)
                    .u16(DATA_PORT, w.data_port)
                    .u8(AUDIO, w.audio_channels)
                    .u8(MIC, w.mic_channels)
                    .finish()
            }
            Message::Start => FieldWriter::new(MSG_START).finish(),
            Message::Feedback(f) => FieldWriter::new(MSG_FEEDBACK)
                .u32(WINDOW, f.window_ms)
                .u64(EXPECTED, f.loss.packets_expected)
                .u64(RECEIVED, f.loss.packets_received)
                .u64(BURSTS, f.loss.bursts)
                .u64(MAX_BURST, f.loss.max_burst)
                .u64(RECOVERED, f.loss.shards_recovered)
                .u64(COMPLETE, f.loss.frames_complete)
                .u64(LOST, f.loss.frames_lost)
                .u32(LATE, f.late_frames)
                .i64(GRADIENT, f.delay_gradient_us_per_s)
                .u64(OWD, f.one_way_delay_us)
                .finish(),
            Message::KeyframeRequest { first_lost_frame } => FieldWriter::new(MSG_KEYFRAME)
                .u32(FIRST_LOST, *first_lost_frame)
                .finish(),
            Message::ClockPing { client_send_us } => {
                FieldWriter::new(MSG_PING).u64(T1, *client_send_us).finish()
            }
            Message::ClockPong {
                client_send_us,
                host_recv_us,
                host_send_us,
            } => FieldWriter::new(MSG_PONG)
                .u64(T1, *client_send_us)
                .u64(T2, *host_recv_us)
                .u64(T3, *host_send_us)
                .finish(),
            Message::RateUpdate {
                bitrate_kbps,
                parity_percent,
            } => FieldWriter::new(MSG_RATE)
                .u32(BITRATE, *bitrate_kbps)
                .u16(PARITY, *parity_percent)
                .finish(),
            Message::Goodbye { reason } => FieldWriter::new(MSG_GOODBYE)
                .str(REASON, cut(reason, MAX_REASON_LEN))
                .finish(),
            Message::PairStart { client_name, spake } => FieldWriter::new(MSG_PAIR_START)
                .str(NAME, cut(client_name, MAX_NAME_LEN))
                .bytes(SPAKE, cut_bytes(spake))
                .finish(),
            Message::PairChallenge { spake } => FieldWriter::new(MSG_PAIR_CHALLENGE)
                .bytes(SPAKE, cut_bytes(spake))
                .finish(),
            Message::PairConfirm { mac } => FieldWriter::new(MSG_PAIR_CONFIRM)
                .bytes(MAC, cut_bytes(mac))
                .finish(),
            Message::PairDone { mac } => FieldWriter::new(MSG_PAIR_DONE)
                .bytes(MAC, cut_bytes(mac))
                .finish(),
            Message::LibraryRequest { offset } => FieldWriter::new(MSG_LIBRARY_REQUEST)
                .u32(OFFSET, *offset)
                .finish(),
            Message::LibraryPage {
                offset,
                total,
                titles,
            } => {
                let mut w = FieldWriter::new(MSG_LIBRARY_PAGE);
                w.u32(OFFSET, *offset).u32(TOTAL, *total);
                let mut with_art = 0u64;
                for (i, entry) in titles.iter().take(MAX_LIBRARY_PAGE).enumerate() {
                    w.bytes(ENTRY, &encode_entry(entry));
                    if entry.has_art {
                        with_art |= 1 << i;
                    }
                }
                if with_art != 0 {
                    w.u64(WITH_ART, with_art);
                }
                w.finish()
            }
            Message::Launch { title_id } => FieldWriter::new(MSG_LAUNCH)
                .str(TITLE_ID, cut_id(title_id))
                .finish(),
            Message::LaunchResult {
                title_id,
                ok,
                message,
            } => FieldWriter::new(MSG_LAUNCH_RESULT)
                .str(TITLE_ID, cut_id(title_id))
                .u8(OK, u8::from(*ok))
                .str(REASON, cut(message, MAX_REASON_LEN))
                .finish(),
            Message::EndApp => FieldWriter::new(MSG_END_APP).finish(),
            Message::Ticket { ticket } => FieldWriter::new(MSG_TICKET)
                .str(TICKET, cut(ticket, MAX_TICKET_LEN))
                .finish(),
            Message::AppEnded { title_id, reason } => FieldWriter::new(MSG_APP_ENDED)
                .str(TITLE_ID, cut_id(title_id))
                .str(REASON, cut(reason, MAX_REASON_LEN))
                .finish(),
            Message::ArtRequest { title_id, offset } => FieldWriter::new(MSG_ART_REQUEST)
                .str(TITLE_ID, cut_id(title_id))
                .u32(OFFSET, *offset)
                .finish(),
            Message::ArtChunk {
                title_id,
                offset,
                total,
                media_type,
                data,
            } => FieldWriter::new(MSG_ART_CHUNK)
                .str(TITLE_ID, cut_id(title_id))
                .u32(OFFSET, *offset)
                .u32(TOTAL, *total)
                .str(MEDIA_TYPE, cut(media_type, MAX_MEDIA_TYPE_LEN))
                .bytes(DATA, &data[..data.len().min(MAX_ART_CHUNK)])
                .finish(),
        }
    }

    /// Parses a message body; unknown field tags are skipped, the last of a repeated tag wins.
    pub fn decode(body: &[u8]) -> Result<Message, ControlError> {
        use tag::*;
        let r = FieldReader::parse(body)?;
        Ok(match r.message_type {
            MSG_HELLO => {
                let codecs = r
                    .bytes(CODECS, "codecs")?
                    .iter()
                    .filter_map(|c| Codec::from_u8(*c))
                    .collect::<Vec<_>>();
                let mut client_name = r.string(NAME, "client name")?;
                client_name.truncate(cut(&client_name, MAX_NAME_LEN).len());
                Message::Hello(Hello {
                    client_name,
                    width: r.u32(WIDTH, "width")?,
                    height: r.u32(HEIGHT, "height")?,
                    refresh_mhz: r.u32(REFRESH, "refresh")?,
                    codecs,
                    bitrate_kbps: r.u32(BITRATE, "bitrate")?,
                    caps: r.opt_u32(CAPS, "caps")?.unwrap_or(0),
                    audio_channels: r.opt_u8(AUDIO, "audio channels")?.unwrap_or(2),
                    max_datagram: r.u16(MAX_DATAGRAM, "max datagram")?,
                })
            }
            MSG_WELCOME => Message::Welcome(Welcome {
                session_id: r.u32(SESSION, "session id")?,
                codec: Codec::from_u8(r.u8(CODEC, "codec")?)
                    .ok_or(ControlError::BadField("codec"))?,
                color_format: r.u8(COLOR, "color format")?,
                hdr: r
                    .opt_array(HDR_METADATA, "HDR metadata")?
                    .map(|b| super::color::HdrMetadata::from_bytes(&b)),
                color: {
                    let bt709 = super::color::ColorDescription::BT709;
                    super::color::ColorDescription {
                        primaries: r.opt_u8(PRIMARIES, "primaries")?.unwrap_or(bt709.primaries),
                        transfer: r.opt_u8(TRANSFER, "transfer")?.unwrap_or(bt709.transfer),
                        matrix: r.opt_u8(MATRIX, "matrix")?.unwrap_or(bt709.matrix),
                        full_range: r.opt_u8(FULL_RANGE, "full range")?.unwrap_or(0) != 0,
                    }
                },
                width: r.u32(WIDTH, "width")?,
                height: r.u32(HEIGHT, "height")?,
                refresh_mhz: r.u32(REFRESH, "refresh")?,
                bitrate_kbps: r.u32(BITRATE, "bitrate")?,
                parity_percent: r.u16(PARITY, "parity")?,
                max_datagram: r.u16(MAX_DATAGRAM, "max datagram")?,
                data_port: r.u16(DATA_PORT, "data port")?,
                audio_channels: r.opt_u8(AUDIO, "audio channels")?.unwrap_or(0),
                mic_channels: r.opt_u8(MIC, "mic channels")?.unwrap_or(0),
            }),
            MSG_START => Message::Start,
            MSG_FEEDBACK => Message::Feedback(Feedback {
                window_ms: r.u32(WINDOW, "window")?,
                loss: LossStats {
                    packets_expected: r.u64(EXPECTED, "expected")?,
                    packets_received: r.u64(RECEIVED, "received")?,
                    bursts: r.opt_u64(BURSTS, "bursts")?.unwrap_or(0),
                    max_burst: r.opt_u64(MAX_BURST, "max burst")?.unwrap_or(0),
                    shards_recovered: r.opt_u64(RECOVERED, "recovered")?.unwrap_or(0),
                    frames_complete: r.opt_u64(COMPLETE, "complete")?.unwrap_or(0),
                    frames_lost: r.opt_u64(LOST, "lost")?.unwrap_or(0),
                },
                late_frames: r.opt_u32(LATE, "late")?.unwrap_or(0),
                delay_gradient_us_per_s: r.i64(GRADIENT, "gradient").unwrap_or(0),
                one_way_delay_us: r.opt_u64(OWD, "one-way delay")?.unwrap_or(0),
            }),
            MSG_KEYFRAME => Message::KeyframeRequest {
                first_lost_frame: r.u32(FIRST_LOST, "first lost frame")?,
            },
            MSG_PING => Message::ClockPing {
                client_send_us: r.u64(T1, "t1")?,
            },
            MSG_PONG => Message::ClockPong {
                client_send_us: r.u64(T1, "t1")?,
                host_recv_us: r.u64(T2, "t2")?,
                host_send_us: r.u64(T3, "t3")?,
            },
            MSG_RATE => Message::RateUpdate {
                bitrate_kbps: r.u32(BITRATE, "bitrate")?,
                parity_percent: r.u16(PARITY, "parity")?,
            },
            MSG_GOODBYE => {
                let mut reason = r.string(REASON, "reason").unwrap_or_default();
                reason.truncate(cut(&reason, MAX_REASON_LEN).len());
                Message::Goodbye { reason }
            }
            MSG_PAIR_START => {
                let mut client_name = r.string(NAME, "client name")?;
                client_name.truncate(cut(&client_name, MAX_NAME_LEN).len());
                Message::PairStart {
                    client_name,
                    spake: pair_field(&r, SPAKE, "spake")?,
                }
            }
            MSG_PAIR_CHALLENGE => Message::PairChallenge {
                spake: pair_field(&r, SPAKE, "spake")?,
            },
            MSG_PAIR_CONFIRM => Message::PairConfirm {
                mac: pair_field(&r, MAC, "mac")?,
            },
            MSG_PAIR_DONE => Message::PairDone {
                mac: pair_field(&r, MAC, "mac")?,
            },
            MSG_LIBRARY_REQUEST => Message::LibraryRequest {
                offset: r.opt_u32(OFFSET, "offset")?.unwrap_or(0),
            },
            MSG_LIBRARY_PAGE => {
                let entries: Vec<&[u8]> = r.all(ENTRY).collect();
                if entries.len() > MAX_LIBRARY_PAGE {
                    return Err(ControlError::BadField("library entries"));
                }
                let with_art = r.opt_u64(WITH_ART, "with art")?.unwrap_or(0);
                Message::LibraryPage {
                    offset: r.u32(OFFSET, "offset")?,
                    total: r.u32(TOTAL, "total")?,
                    titles: entries
                        .into_iter()
                        .enumerate()
                        .map(|(i, entry)| {
                            let mut entry = decode_entry(entry)?;
                            entry.has_art = with_art & (1 << i) != 0;
                            Ok(entry)
                        })
                        .collect::<Result<_, ControlError>>()?,
                }
            }
            MSG_LAUNCH => Message::Launch {
                title_id: cut_string(&r, TITLE_ID, "title id", MAX_TITLE_ID_LEN)?,
            },
            MSG_LAUNCH_RESULT => Message::LaunchResult {
                title_id: cut_string(&r, TITLE_ID, "title id", MAX_TITLE_ID_LEN)?,
                ok: r.u8(OK, "ok")? != 0,
                message: cut_string(&r, REASON, "message", MAX_REASON_LEN).unwrap_or_default(),
            },
            MSG_END_APP => Message::EndApp,
            MSG_TICKET => Message::Ticket {
                ticket: cut_string(&r, TICKET, "ticket", MAX_TICKET_LEN)?,
            },
            MSG_APP_ENDED => Message::AppEnded {
                title_id: cut_string(&r, TITLE_ID, "title id", MAX_TITLE_ID_LEN)?,
                reason: cut_string(&r, REASON, "reason", MAX_REASON_LEN).unwrap_or_default(),
            },
            MSG_ART_REQUEST => Message::ArtRequest {
                title_id: cut_string(&r, TITLE_ID, "title id", MAX_TITLE_ID_LEN)?,
                offset: r.opt_u32(OFFSET, "offset")?.unwrap_or(0),
            },
            MSG_ART_CHUNK => {
                let data = r.bytes(DATA, "art data")?;
                if data.len() > MAX_ART_CHUNK {
                    return Err(ControlError::BadField("art data"));
                }
                Message::ArtChunk {
                    title_id: cut_string(&r, TITLE_ID, "title id", MAX_TITLE_ID_LEN)?,
                    offset: r.u32(OFFSET, "offset")?,
                    total: r.u32(TOTAL, "total")?,
                    media_type: cut_string(&r, MEDIA_TYPE, "media type", MAX_MEDIA_TYPE_LEN)
                        .unwrap_or_default(),
                    data: data.to_vec(),
                }
            }
            other => return Err(ControlError::UnknownMessage(other)),
        })
    }
}
