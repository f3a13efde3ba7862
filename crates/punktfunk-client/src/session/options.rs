//! What a session should do: the display [`Mode`], the [`SessionOptions`], and parsing of the
//! command-line spellings of modes, durations and `HOST[:PORT]`.

use crate::identity::ClientIdentity;
use punktfunk_core::control::Codec;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use punktfunk_core::DEFAULT_PORT;

/// A display mode: `WIDTHxHEIGHT@HZ` (fractional rates such as `59.94` allowed).
pub use punktfunk_core::mode::Mode;

/// Parses durations such as `10s`, `500ms`, `2m`, `1.5s`, `1h`; a bare number means seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let bad = || format!("duration {s:?} is not a number with a unit (ms, s, m, h), e.g. 10s");
    let value: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" | "sec" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

/// Splits `HOST`, `HOST:PORT`, `[V6]:PORT`, `[V6]` or a bare IPv6 address into host and port.
pub fn split_host_port(s: &str) -> Result<(String, u16), String> {
    let s = s.trim();
    let bad_port = |p: &str| format!("port {p:?} in {s:?} is not a number from 1 to 65535");
    let port = |p: &str| match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(bad_port(p)),
    };
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{s:?} lacks the closing ']'"))?;
        return match after {
            "" => Ok((host.to_string(), DEFAULT_PORT)),
            p => Ok((
                host.to_string(),
                port(p.strip_prefix(':').ok_or_else(|| bad_port(p))?)?,
            )),
        };
    }
    if s.is_empty() {
        return Err("empty host".into());
    }
    match s.rsplit_once(':') {
        // More than one colon without brackets: a bare IPv6 address.
        Some((host, _)) if host.contains(':') => Ok((s.to_string(), DEFAULT_PORT)),
        Some((host, p)) => Ok((host.to_string(), port(p)?)),
        None => Ok((s.to_string(), DEFAULT_PORT)),
    }
}

/// Receives the host's certificate fingerprint right after the handshake.
pub type FingerprintCallback = Arc<dyn Fn(&str) + Send + Sync>;

/// What `run_session` needs to know.
#[derive(Clone)]
pub struct SessionOptions {
    /// `HOST[:PORT]` (default port [`DEFAULT_PORT`]).
    pub host: String,
    pub mode: Mode,
    /// How long to stream before saying goodbye.
    pub duration: Duration,
    pub bitrate_kbps: u32,
    /// Expected host certificate fingerprint (any common spelling); `None` = trust on first use.
    pub fingerprint: Option<String>,
    /// Largest UDP payload this client's path carries.
    pub max_datagram: u16,
    pub name: String,
    /// Codec to ask for: raw test frames (byte-checked) or H.264/HEVC/AV1 (decoded, stamp read back).
    pub codec: Codec,
    /// Encoded streams: expect the test pattern's stamps (a host streaming a real display has none;
    /// then only the picture size is checked and the centre colour reported).
    pub expect_stamps: bool,
    /// Receive the host's audio in this many channels (2, 6 or 8); 0 = no audio (`--audio`).
    pub audio_channels: u8,
    /// Send a sine of this frequency as the microphone (`--mic-tone`).
    pub mic_tone_hz: Option<f64>,
    /// Called with the host's fingerprint once the handshake succeeded (the CLI prints it for TOFU).
    pub on_host_fingerprint: Option<FingerprintCallback>,
    /// Input to send once the stream runs (`--input`), mapped onto the session's display.
    pub input: crate::input::InputScript,
    /// The client certificate to present; hosts only serve paired clients (or any, with `--open`).
    pub identity: Option<Arc<ClientIdentity>>,
    /// Fetch the host's game library once the stream runs (`--library`).
    pub list_library: bool,
    /// Launch this library title on the session's display once the stream runs (`--launch`).
    pub launch: Option<String>,
    /// Download this library title's cover art once the stream runs (`--art`).
    pub fetch_art: Option<String>,
    /// Colour capability bits of the Hello (`caps::TEN_BIT`, `caps::YUV444`, `caps::HDR`).
    pub color_caps: u32,
    /// Keep the last decoded picture for the report (`--dump-frame`).
    pub keep_last_picture: bool,
}

impl SessionOptions {
    pub fn new(host: impl Into<String>, mode: Mode, duration: Duration) -> Self {
        SessionOptions {
            host: host.into(),
            mode,
            duration,
            bitrate_kbps: 20_000,
            fingerprint: None,
            max_datagram: 1452,
            name: "probe".into(),
            codec: Codec::RawTest,
            expect_stamps: true,
            audio_channels: 0,
            mic_tone_hz: None,
            on_host_fingerprint: None,
            input: crate::input::InputScript::default(),
            identity: None,
            list_library: false,
            launch: None,
            fetch_art: None,
            color_caps: 0,
            keep_last_picture: false,
        }
    }
}

impl fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionOptions")
            .field("host", &self.host)
            .field("mode", &self.mode)
            .field("duration", &self.duration)
            .field("bitrate_kbps", &self.bitrate_kbps)
            .field("fingerprint", &self.fingerprint)
            .field("max_datagram", &self.max_datagram)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "s", "abc", "5x", "-1s", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn modes_parse_and_print() {
        let m: Mode = "1280x720@60".parse().unwrap();
        assert_eq!(
            m,
            Mode {
                width: 1280,
                height: 720,
                refresh_mhz: 60_000
            }
        );
        assert_eq!(m.to_string(), "1280x720@60");
        let m: Mode = "1920X1080@59.94".parse().unwrap();
        assert_eq!(m.refresh_mhz, 59_940);
        assert_eq!(m.to_string(), "1920x1080@59.94");
        for bad in ["1280x720", "1280@60", "0x720@60", "1280x720@0", "ax720@60"] {
            assert!(bad.parse::<Mode>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hosts_split() {
        let ok = |h: &str, p: u16| Ok((h.to_string(), p));
        assert_eq!(split_host_port("127.0.0.1"), ok("127.0.0.1", DEFAULT_PORT));
        assert_eq!(split_host_port("127.0.0.1:5000"), ok("127.0.0.1", 5000));
        assert_eq!(split_host_port("example.org:1"), ok("example.org", 1));
        assert_eq!(split_host_port("[::1]:5000"), ok("::1", 5000));
        assert_eq!(split_host_port("[::1]"), ok("::1", DEFAULT_PORT));
        assert_eq!(split_host_port("::1"), ok("::1", DEFAULT_PORT));
        for bad in ["", "host:0", "host:x", "[::1", "[::1]5000", "h:70000"] {
            assert!(split_host_port(bad).is_err(), "{bad:?}");
        }
    }
}
