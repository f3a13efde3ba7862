//! The GameStream HTTP(S) API ("nvhttp"): request parsing and XML answers.
//!
//! Every request is `GET /<verb>?<query>`; every answer is a small XML document
//! `<root status_code="…" [status_message="…"]>…</root>` that Moonlight reads with an XML reader (the
//! HTTP status line is always 200: clients look at `status_code`). Identity comes from the TLS client
//! certificate, never from `uniqueid`. Field lists are in `docs/gamestream.md`, "nvhttp".
//!
//! One concept, one file (longer than most): the nvhttp request parser and every XML answer.

use super::pairing::{PairReply, PairingError};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::num::NonZeroU32;

/// Longest query string accepted. The largest legitimate one is phase 1 of pairing, which carries a
/// hex-encoded PEM certificate (about 2.3 KB for RSA-2048; 16 KiB leaves room for RSA-8192).
pub const MAX_QUERY_LEN: usize = 16 * 1024;
/// Most `key=value` pairs accepted in one query (a launch sends about 20).
pub const MAX_QUERY_PAIRS: usize = 64;

/// Why a query string could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The raw query exceeds [`MAX_QUERY_LEN`] bytes.
    #[error("query string longer than {MAX_QUERY_LEN} bytes")]
    TooLong,
    /// The query has more than [`MAX_QUERY_PAIRS`] `key=value` pairs.
    #[error("more than {MAX_QUERY_PAIRS} parameters")]
    TooManyPairs,
    /// A `%` not followed by two hex digits.
    #[error("bad percent-escape in the query string")]
    BadEscape,
    /// A decoded key or value is not valid UTF-8.
    #[error("query string is not UTF-8 after decoding")]
    NotUtf8,
    /// A key appears twice; carries the key.
    #[error("parameter {0} appears more than once")]
    Repeated(String),
    /// A required parameter is absent; carries its name (the 400 answer names it).
    #[error("missing parameter {0}")]
    Missing(&'static str),
    /// A parameter is present but its value cannot be used.
    #[error("parameter {key} is invalid: {reason}")]
    Invalid {
        /// Name of the parameter.
        key: &'static str,
        /// What was expected instead.
        reason: &'static str,
    },
}

/// A decoded query string: `key=value` pairs in their original order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses the part after `?` (form encoding: `%XX` escapes, `+` for space). A pair without `=`
    /// has an empty value; empty segments (`a=1&&b=2`) are skipped.
    pub fn parse(raw: &str) -> Result<Self, QueryError> {
        if raw.len() > MAX_QUERY_LEN {
            return Err(QueryError::TooLong);
        }
        let mut pairs = Vec::new();
        for segment in raw.split('&').filter(|s| !s.is_empty()) {
            if pairs.len() == MAX_QUERY_PAIRS {
                return Err(QueryError::TooManyPairs);
            }
            let (key, value) = segment.split_once('=').unwrap_or((segment, ""));
            pairs.push((percent_decode(key)?, percent_decode(value)?));
        }
        Ok(Query { pairs })
    }

    /// The value of `key`, if present exactly once. A repeated key is an error rather than a guess:
    /// clients never repeat one, and first-wins versus last-wins is a classic smuggling vector.
    pub fn get(&self, key: &str) -> Result<Option<&str>, QueryError> {
        let mut found = None;
        for (k, v) in &self.pairs {
            if k == key {
                if found.is_some() {
                    return Err(QueryError::Repeated(key.to_string()));
                }
                found = Some(v.as_str());
            }
        }
        Ok(found)
    }

    /// The value of `key`, or [`QueryError::Missing`] naming it; a repeated key is an error as in [`Query::get`].
    pub fn required(&self, key: &'static str) -> Result<&str, QueryError> {
        self.get(key)?.ok_or(QueryError::Missing(key))
    }

    /// Every pair in the order it was sent, repeated keys included.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Re-encodes the pairs (used by tests and by clients built on this crate).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            percent_encode_into(&mut out, k);
            out.push('=');
            percent_encode_into(&mut out, v);
        }
        out
    }

    /// A query made of the given pairs, in order (for clients and tests; [`Query::encode`] escapes them).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Query {
            pairs: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    fn parsed<T: std::str::FromStr>(&self, key: &'static str) -> Result<Option<T>, QueryError> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) if !is_plain_decimal(v) => Err(QueryError::Invalid {
                key,
                reason: "not a decimal number",
            }),
            Some(v) => v.parse().map(Some).map_err(|_| QueryError::Invalid {
                key,
                reason: "number out of range",
            }),
        }
    }

    fn flag(&self, key: &'static str) -> Result<Option<bool>, QueryError> {
        match self.get(key)? {
            None => Ok(None),
            Some("0") => Ok(Some(false)),
            Some("1") => Ok(Some(true)),
            Some(_) => Err(QueryError::Invalid {
                key,
                reason: "expected 0 or 1",
            }),
        }
    }

    fn hex(&self, key: &'static str) -> Result<Option<Vec<u8>>, QueryError> {
        self.get(key)?
            .map(|v| {
                decode_hex(v).ok_or(QueryError::Invalid {
                    key,
                    reason: "not hex",
                })
            })
            .transpose()
    }
}

/// `-?[0-9]+`: what the clients send for numbers (no `+`, no spaces, no hex).
fn is_plain_decimal(v: &str) -> bool {
    let digits = v.strip_prefix('-').unwrap_or(v);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn percent_decode(input: &str) -> Result<String, QueryError> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|&c| hex_digit(c));
                let lo = bytes.get(i + 2).and_then(|&c| hex_digit(c));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(QueryError::BadEscape);
                };
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| QueryError::NotUtf8)
}

fn percent_encode_into(out: &mut String, input: &str) {
    for b in input.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

use crate::hex::digit as hex_digit;
pub use crate::hex::{decode as decode_hex, encode_upper as encode_hex};

/// Why a request could not be turned into a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The path is no GameStream endpoint; carries its first 64 characters.
    #[error("unknown path {0:?}")]
    UnknownPath(String),
    /// The query string is malformed or a parameter is missing or invalid.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// `/pair` without a `phrase` and without any phase-2..4 parameter.
    #[error("pair request names no phase")]
    NoPairPhase,
}

impl RequestError {
    /// The `status_code` to answer with.
    pub fn status_code(&self) -> u16 {
        match self {
            RequestError::UnknownPath(_) | RequestError::NoPairPhase => 404,
            RequestError::Query(_) => 400,
        }
    }
}

/// Parameters every request carries. Neither is an identity (many clients send a fixed `uniqueid`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Common {
    /// `uniqueid`: a client id, often a fixed placeholder shared by every Moonlight install.
    pub unique_id: Option<String>,
    /// `uuid`: a random per-request value Moonlight sends; not stable.
    pub uuid: Option<String>,
}

/// A parsed GameStream request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `/serverinfo`: host name, ports, pair status, running app.
    ServerInfo(Common),
    /// `/pair`: one phase of the PIN pairing exchange.
    Pair(PairRequest),
    /// `/unpair`: forget the client's certificate.
    Unpair(Common),
    /// `/applist`: the apps the client may launch (paired clients only).
    AppList(Common),
    /// `/appasset`: an app's box art image.
    AppAsset(AppAssetRequest),
    /// `/launch`: start an app and open a stream session.
    Launch(LaunchRequest),
    /// `/resume`: reattach a stream to the running app.
    Resume(LaunchRequest),
    /// `/cancel`: quit the running app.
    Cancel(Common),
}

/// `/pair` parameters: which phase, and who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairRequest {
    /// `uniqueid` and `uuid`.
    pub common: Common,
    /// `devicename`: the client's display name, stored with its certificate.
    pub device_name: Option<String>,
    /// The pairing phase and its data.
    pub phase: PairPhase,
}

/// One pairing phase's parameters, hex already decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairPhase {
    /// `phrase=getservercert&salt=<32 hex>&clientcert=<hex of PEM>`
    GetServerCert {
        /// `salt`: 16 random bytes that, with the PIN, derive the AES key of the exchange.
        salt: [u8; 16],
        /// `clientcert`: the client's certificate as PEM bytes (sent hex-encoded).
        client_cert_pem: Vec<u8>,
    },
    /// `clientchallenge=<hex>`
    ClientChallenge(Vec<u8>),
    /// `serverchallengeresp=<hex>`
    ServerChallengeResp(Vec<u8>),
    /// `clientpairingsecret=<hex>`
    ClientPairingSecret(Vec<u8>),
    /// `phrase=pairchallenge` (over HTTPS)
    PairChallenge,
}

/// `/appasset` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppAssetRequest {
    /// `uniqueid` and `uuid`.
    pub common: Common,
    /// `appid`: the app whose image is wanted.
    pub app_id: u32,
    /// `AssetType`: kind of asset (Moonlight sends 2, box art).
    pub asset_type: Option<u32>,
    /// `AssetIdx`: index of the asset (Moonlight sends 0).
    pub asset_index: Option<u32>,
}

/// `mode=WxHxFPS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisplayMode {
    /// Horizontal resolution in pixels.
    pub width: u32,
    /// Vertical resolution in pixels.
    pub height: u32,
    /// Frame rate in frames per second.
    pub fps: u32,
}

impl DisplayMode {
    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('x');
        let mut next = || {
            parts
                .next()
                .filter(|p| is_plain_decimal(p) && !p.starts_with('-'))
        };
        let mode = DisplayMode {
            width: next()?.parse().ok()?,
            height: next()?.parse().ok()?,
            fps: next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(mode)
    }
}

/// `surroundAudioInfo = (channelMask << 16) | channelCount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurroundAudioInfo {
    /// Number of audio channels: 2, 6 (5.1) or 8 (7.1).
    pub channel_count: u16,
    /// Speaker mask in WAVEFORMATEXTENSIBLE order (0x3 = front left and right).
    pub channel_mask: u16,
}

impl SurroundAudioInfo {
    /// Stereo, what a client that sends no `surroundAudioInfo` gets (wire 0x0003_0002).
    pub const STEREO: SurroundAudioInfo = SurroundAudioInfo {
        channel_count: 2,
        channel_mask: 0x3,
    };

    /// Splits `(channelMask << 16) | channelCount`.
    pub fn from_wire(value: u32) -> Self {
        SurroundAudioInfo {
            channel_count: (value & 0xffff) as u16,
            channel_mask: (value >> 16) as u16,
        }
    }

    /// Joins back into `(channelMask << 16) | channelCount`.
    pub fn to_wire(self) -> u32 {
        u32::from(self.channel_mask) << 16 | u32::from(self.channel_count)
    }
}

/// `/launch` and `/resume` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchRequest {
    /// `uniqueid` and `uuid`.
    pub common: Common,
    /// Required for `/launch`; `/resume` continues whatever runs.
    pub app_id: Option<u32>,
    /// `mode`: resolution and frame rate the client wants; absent on some resumes.
    pub mode: Option<DisplayMode>,
    /// `additionalStates`: GFE flag, parsed and ignored.
    pub additional_states: bool,
    /// `sops`: let the host change game settings for streaming (GFE's optimisation); ignored.
    pub sops: bool,
    /// The 16-byte AES key for RTSP, control, video and audio encryption.
    pub rikey: [u8; 16],
    /// Big-endian reading of the first 4 bytes of the client's IV (audio encryption uses it).
    pub rikeyid: i32,
    /// `hdrMode`: the client wants HDR if the host can.
    pub hdr_mode: bool,
    /// `localAudioPlayMode`: also play the audio on the host's speakers.
    pub local_audio_play_mode: bool,
    /// `surroundAudioInfo`: channel count and speaker mask wanted.
    pub surround_audio_info: SurroundAudioInfo,
    /// Sunshine extension: a custom Opus layout (`surroundParams`), passed through unchecked.
    pub surround_params: Option<String>,
    /// `remoteControllersBitmap`: bit n = gamepad n is connected on the client at launch.
    pub remote_controllers_bitmap: u32,
    /// `gcmap`: the client's gamepad mask again, as older GFE expects it.
    pub gcmap: u32,
    /// `gcpersist`: GFE's keep-gamepads-after-disconnect flag, parsed and ignored.
    pub gcpersist: bool,
    /// `1` = the client speaks encrypted RTSP (`rtspenc://`).
    pub corever: u32,
}

impl LaunchRequest {
    /// Whether `sessionUrl0` must use the `rtspenc://` scheme.
    pub fn wants_encrypted_rtsp(&self) -> bool {
        self.corever >= 1
    }

    fn parse(query: &Query, common: Common, require_app: bool) -> Result<Self, QueryError> {
        let app_id = query.parsed::<u32>("appid")?;
        if require_app && app_id.is_none() {
            return Err(QueryError::Missing("appid"));
        }
        let mode = query
            .get("mode")?
            .map(|m| {
                DisplayMode::parse(m).ok_or(QueryError::Invalid {
                    key: "mode",
                    reason: "expected WxHxFPS",
                })
            })
            .transpose()?;
        let rikey = query.hex("rikey")?.ok_or(QueryError::Missing("rikey"))?;
        let rikey: [u8; 16] = rikey.try_into().map_err(|_| QueryError::Invalid {
            key: "rikey",
            reason: "expected 32 hex digits",
        })?;
        let surround = query
            .parsed::<u32>("surroundAudioInfo")?
            .map(SurroundAudioInfo::from_wire)
            .unwrap_or(SurroundAudioInfo::STEREO);
        Ok(LaunchRequest {
            common,
            app_id,
            mode,
            additional_states: query.flag("additionalStates")?.unwrap_or(false),
            sops: query.flag("sops")?.unwrap_or(false),
            rikey,
            rikeyid: query
                .parsed::<i32>("rikeyid")?
                .ok_or(QueryError::Missing("rikeyid"))?,
            hdr_mode: query.flag("hdrMode")?.unwrap_or(false),
            // A resume keeps the launch's audio choice; Moonlight does not send it again.
            local_audio_play_mode: match query.flag("localAudioPlayMode")? {
                Some(local) => local,
                None if require_app => return Err(QueryError::Missing("localAudioPlayMode")),
                None => false,
            },
            surround_audio_info: surround,
            surround_params: query.get("surroundParams")?.map(str::to_string),
            remote_controllers_bitmap: query.parsed("remoteControllersBitmap")?.unwrap_or(0),
            gcmap: query.parsed("gcmap")?.unwrap_or(0),
            gcpersist: query.flag("gcpersist")?.unwrap_or(false),
            corever: query.parsed("corever")?.unwrap_or(0),
        })
    }
}

/// Parses `/<verb>?<query>` (the request target of the HTTP request line).
pub fn parse_request(target: &str) -> Result<Request, RequestError> {
    let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let query = Query::parse(raw_query)?;
    let common = Common {
        unique_id: query.get("uniqueid")?.map(str::to_string),
        uuid: query.get("uuid")?.map(str::to_string),
    };
    Ok(match path {
        "/serverinfo" => Request::ServerInfo(common),
        "/pair" => Request::Pair(parse_pair(&query, common)?),
        "/unpair" => Request::Unpair(common),
        "/applist" => Request::AppList(common),
        "/appasset" => Request::AppAsset(AppAssetRequest {
            common,
            app_id: query.parsed("appid")?.ok_or(QueryError::Missing("appid"))?,
            asset_type: query.parsed("AssetType")?,
            asset_index: query.parsed("AssetIdx")?,
        }),
        "/launch" => Request::Launch(LaunchRequest::parse(&query, common, true)?),
        "/resume" => Request::Resume(LaunchRequest::parse(&query, common, false)?),
        "/cancel" => Request::Cancel(common),
        other => return Err(RequestError::UnknownPath(other.chars().take(64).collect())),
    })
}

fn parse_pair(query: &Query, common: Common) -> Result<PairRequest, RequestError> {
    let device_name = query.get("devicename")?.map(str::to_string);
    let phase = match query.get("phrase")? {
        Some("getservercert") => {
            let salt = query.hex("salt")?.ok_or(QueryError::Missing("salt"))?;
            let salt: [u8; 16] = salt.try_into().map_err(|_| QueryError::Invalid {
                key: "salt",
                reason: "expected 32 hex digits",
            })?;
            let client_cert_pem = query
                .hex("clientcert")?
                .ok_or(QueryError::Missing("clientcert"))?;
            PairPhase::GetServerCert {
                salt,
                client_cert_pem,
            }
        }
        Some("pairchallenge") => PairPhase::PairChallenge,
        Some(_) => {
            return Err(QueryError::Invalid {
                key: "phrase",
                reason: "unknown pairing phrase",
            }
            .into());
        }
        None => {
            if let Some(v) = query.hex("clientchallenge")? {
                PairPhase::ClientChallenge(v)
            } else if let Some(v) = query.hex("serverchallengeresp")? {
                PairPhase::ServerChallengeResp(v)
            } else if let Some(v) = query.hex("clientpairingsecret")? {
                PairPhase::ClientPairingSecret(v)
            } else {
                return Err(RequestError::NoPairPhase);
            }
        }
    };
    Ok(PairRequest {
        common,
        device_name,
        phase,
    })
}

// ---------------------------------------------------------------------------------------------
// XML answers
// ---------------------------------------------------------------------------------------------

/// Escapes text for XML element content and attribute values. Characters XML 1.0 cannot carry at
/// all (C0 controls other than tab, LF, CR) are dropped: a host name must never break the document.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Builds `<root status_code=…>` documents; element names are fixed strings from this module.
struct Xml {
    out: String,
}

impl Xml {
    fn root(status_code: u16, status_message: Option<&str>) -> Self {
        let mut out =
            String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<root status_code=\"");
        let _ = write!(out, "{status_code}\"");
        if let Some(message) = status_message {
            out.push_str(" status_message=\"");
            out.push_str(&xml_escape(message));
            out.push('"');
        }
        out.push('>');
        Xml { out }
    }

    fn element(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Self {
        let _ = write!(
            self.out,
            "<{name}>{}</{name}>",
            xml_escape(&value.to_string())
        );
        self
    }

    fn open(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.out, "<{name}>");
        self
    }

    fn close(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.out, "</{name}>");
        self
    }

    fn finish(mut self) -> String {
        self.out.push_str("</root>");
        self.out
    }
}

/// `appversion` we report: 7.1.431 = SHA-256 pairing, encrypted control, multi-block FEC; the
/// negative fourth part marks a Sunshine-compatible host (x-ss/x-ml extensions).
pub const APP_VERSION: &str = "7.1.431.-1";
/// `GfeVersion` we report.
pub const GFE_VERSION: &str = "3.23.0.74";
/// `MaxLumaPixelsHEVC` when HEVC is available (moonlight-qt drops HEVC on 0).
pub const MAX_LUMA_PIXELS_HEVC: u64 = 1_869_449_984;

/// Everything `/serverinfo` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// The host's name as shown in the client's host list.
    pub hostname: String,
    /// Stable host id; clients track the host by it.
    pub unique_id: String,
    /// Port of the HTTPS endpoint (pairing checks, app list, launch).
    pub https_port: u16,
    /// Port of the plain-HTTP endpoint, reported as `ExternalPort`.
    pub http_port: u16,
    /// Only reveal over HTTPS to a paired client; `None` reports `00:00:00:00:00:00`.
    pub mac: Option<String>,
    /// IPv4 address of the interface the request arrived on.
    pub local_ip: String,
    /// `ServerCodecModeSupport` bits (see [`super::sdp::HostCapabilities::codec_mode_support`]).
    pub codec_mode_support: u32,
    /// Whether HEVC can be encoded; reported as `MaxLumaPixelsHEVC`.
    pub hevc_supported: bool,
    /// True only over HTTPS with a verified paired certificate.
    pub paired: bool,
    /// Running app id, if any.
    pub current_game: Option<NonZeroU32>,
    /// Resolutions and frame rates offered as `SupportedDisplayMode`; empty = element omitted.
    pub display_modes: Vec<DisplayMode>,
}

impl ServerInfo {
    /// The `<root status_code="200">` XML document Moonlight parses.
    pub fn to_xml(&self) -> String {
        let mut xml = Xml::root(200, None);
        xml.element("hostname", &self.hostname)
            .element("appversion", APP_VERSION)
            .element("GfeVersion", GFE_VERSION)
            .element("uniqueid", &self.unique_id)
            .element("HttpsPort", self.https_port)
            .element("ExternalPort", self.http_port)
            .element(
                "MaxLumaPixelsHEVC",
                if self.hevc_supported {
                    MAX_LUMA_PIXELS_HEVC
                } else {
                    0
                },
            )
            .element("mac", self.mac.as_deref().unwrap_or("00:00:00:00:00:00"))
            .element("LocalIP", &self.local_ip)
            .element("ServerCodecModeSupport", self.codec_mode_support)
            .element("PairStatus", u8::from(self.paired))
            .element("currentgame", self.current_game.map_or(0, NonZeroU32::get))
            .element(
                "state",
                if self.current_game.is_some() {
                    "SUNSHINE_SERVER_BUSY"
                } else {
                    "SUNSHINE_SERVER_FREE"
                },
            );
        if !self.display_modes.is_empty() {
            xml.open("SupportedDisplayMode");
            for mode in &self.display_modes {
                xml.open("DisplayMode")
                    .element("Width", mode.width)
                    .element("Height", mode.height)
                    .element("RefreshRate", mode.fps)
                    .close("DisplayMode");
            }
            xml.close("SupportedDisplayMode");
        }
        xml.finish()
    }
}

/// One `/applist` entry. Ids are non-zero: moonlight-qt rejects the whole list otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// App id the client launches with `appid`.
    pub id: NonZeroU32,
    /// Title shown in the client's app grid.
    pub title: String,
    /// Whether the app may be streamed in HDR (`IsHdrSupported`).
    pub hdr_supported: bool,
}

/// The `/applist` answer: one `<App>` with title, id and HDR flag per app.
pub fn applist_xml(apps: &[App]) -> String {
    let mut xml = Xml::root(200, None);
    for app in apps {
        xml.open("App")
            .element("IsHdrSupported", u8::from(app.hdr_supported))
            .element("AppTitle", &app.title)
            .element("ID", app.id)
            .close("App");
    }
    xml.finish()
}

/// Every possible answer to `/pair`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairAnswer {
    /// Phase 1: `plaincert` = hex of the host PEM.
    ServerCert(Vec<u8>),
    /// Phase 1 while another pairing runs: `paired=1` with an empty `plaincert`.
    AlreadyPairing,
    /// Phase 2: `challengeresponse` = hex of the encrypted hash and server challenge.
    ChallengeResponse(Vec<u8>),
    /// Phase 3: `pairingsecret` = hex of the host's secret and its signature.
    PairingSecret(Vec<u8>),
    /// Phase 4 passed, or phase 5 (`pairchallenge`) on a paired TLS connection.
    Paired,
    /// Phase 4 failed its checks (wrong PIN or forged signature): `status_code=200`, `paired=0`.
    NotPaired,
    /// The request itself was wrong (order, lengths, unknown client): `paired=0` with an error status.
    Failed {
        /// HTTP-style status in the XML root (400 for a bad request).
        status_code: u16,
        /// Human-readable reason, sent as `status_message`.
        message: String,
    },
}

impl PairAnswer {
    /// Maps the outcome of a [`super::pairing::PairingSession`] step to the answer.
    pub fn from_step(step: &Result<PairReply, PairingError>) -> Self {
        match step {
            Ok(PairReply::ServerCert { plaincert }) => PairAnswer::ServerCert(plaincert.clone()),
            Ok(PairReply::ChallengeResponse(r)) => PairAnswer::ChallengeResponse(r.clone()),
            Ok(PairReply::PairingSecret(s)) => PairAnswer::PairingSecret(s.clone()),
            Ok(PairReply::Paired { .. }) => PairAnswer::Paired,
            Err(PairingError::HashMismatch | PairingError::BadClientSignature) => {
                PairAnswer::NotPaired
            }
            Err(e) => PairAnswer::Failed {
                status_code: 400,
                message: e.to_string(),
            },
        }
    }

    /// The `<root>` XML document answering `/pair`.
    pub fn to_xml(&self) -> String {
        match self {
            PairAnswer::Failed {
                status_code,
                message,
            } => {
                let mut xml = Xml::root(*status_code, Some(message));
                xml.element("paired", 0);
                xml.finish()
            }
            other => {
                let mut xml = Xml::root(200, None);
                match other {
                    PairAnswer::ServerCert(pem) => xml
                        .element("paired", 1)
                        .element("plaincert", encode_hex(pem)),
                    PairAnswer::AlreadyPairing => xml.element("paired", 1).element("plaincert", ""),
                    PairAnswer::ChallengeResponse(r) => xml
                        .element("paired", 1)
                        .element("challengeresponse", encode_hex(r)),
                    PairAnswer::PairingSecret(s) => xml
                        .element("paired", 1)
                        .element("pairingsecret", encode_hex(s)),
                    PairAnswer::Paired => xml.element("paired", 1),
                    PairAnswer::NotPaired | PairAnswer::Failed { .. } => xml.element("paired", 0),
                };
                xml.finish()
            }
        }
    }
}

/// `rtsp://HOST:PORT` or `rtspenc://HOST:PORT`, HOST being the address the HTTPS request arrived on
/// (IPv6 in brackets).
pub fn session_url(encrypted: bool, local_addr: IpAddr, port: u16) -> String {
    let scheme = if encrypted { "rtspenc" } else { "rtsp" };
    match local_addr {
        IpAddr::V4(v4) => format!("{scheme}://{v4}:{port}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("{scheme}://{v4}:{port}"),
            None => format!("{scheme}://[{v6}]:{port}"),
        },
    }
}

/// Successful `/launch` (`resume = false`) or `/resume` answer.
pub fn launch_xml(session_url: &str, resume: bool) -> String {
    let mut xml = Xml::root(200, None);
    xml.element("sessionUrl0", session_url);
    if resume {
        xml.element("resume", 1);
    } else {
        xml.element("gamesession", 1);
    }
    xml.finish()
}

/// `/cancel` answer.
pub fn cancel_xml() -> String {
    let mut xml = Xml::root(200, None);
    xml.element("cancel", 1);
    xml.finish()
}

/// `/unpair` answer (and any other plain success).
pub fn ok_xml() -> String {
    Xml::root(200, None).finish()
}

/// An error answer: `status_code` (e.g. 400, 401, 404, 503) with a message the client shows.
pub fn error_xml(status_code: u16, message: &str) -> String {
    Xml::root(status_code, Some(message)).finish()
}

#[cfg(test)]
mod tests;
