//! A display mode, `WIDTHxHEIGHT@HZ`: what a client asks for and what the host's virtual display is
//! created at. Refresh is kept in millihertz (60 Hz = 60000), as Wayland reports it, so fractional
//! rates such as 59.94 Hz survive exactly.

use std::fmt;
use std::str::FromStr;

/// Width and height at most (the largest side any encoder of ours takes is far below).
pub const MAX_SIDE: u32 = 16384;
/// Refresh rates a mode may have, in Hz.
pub const REFRESH_HZ: std::ops::RangeInclusive<f64> = 1.0..=1000.0;

/// A display mode: size in pixels and refresh rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mode {
    /// Width in pixels, 1..=[`MAX_SIDE`].
    pub width: u32,
    /// Height in pixels, 1..=[`MAX_SIDE`].
    pub height: u32,
    /// Refresh rate in millihertz (60 Hz = 60000).
    pub refresh_mhz: u32,
}

/// Why a mode string was refused; the text names the string and the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    /// The text is not `WIDTHxHEIGHT@HZ`; carries it.
    #[error("mode {0:?} is not WIDTHxHEIGHT@HZ (e.g. 1920x1080@60)")]
    Syntax(String),
    /// Width or height outside 1..=[`MAX_SIDE`]; carries the text.
    #[error("mode {0:?}: width and height must be 1..={MAX_SIDE}")]
    Size(String),
    /// Refresh outside [`REFRESH_HZ`]; carries the text.
    #[error("mode {0:?}: refresh must be 1..=1000 Hz")]
    Refresh(String),
}

impl Mode {
    /// A mode of a whole-hertz refresh rate.
    pub const fn new(width: u32, height: u32, refresh_hz: u32) -> Self {
        Self {
            width,
            height,
            refresh_mhz: refresh_hz * 1000,
        }
    }

    /// Parses `WxH@Hz` (`1920x1080@120`, `2560x1440@59.951`; a trailing `Hz` is allowed).
    pub fn parse(s: &str) -> Result<Self, ModeError> {
        let syntax = || ModeError::Syntax(s.to_string());
        let (size, hz) = s.trim().split_once('@').ok_or_else(syntax)?;
        let (w, h) = size.split_once(['x', 'X']).ok_or_else(syntax)?;
        let hz = hz.trim().trim_end_matches("Hz").trim_end_matches("hz");
        let width: u32 = w.trim().parse().map_err(|_| syntax())?;
        let height: u32 = h.trim().parse().map_err(|_| syntax())?;
        let hz: f64 = hz.trim().parse().map_err(|_| syntax())?;
        if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
            return Err(ModeError::Size(s.to_string()));
        }
        if !(hz.is_finite() && REFRESH_HZ.contains(&hz)) {
            return Err(ModeError::Refresh(s.to_string()));
        }
        Ok(Self {
            width,
            height,
            refresh_mhz: (hz * 1000.0).round() as u32,
        })
    }

    /// The refresh rate in Hz.
    pub fn refresh_hz(&self) -> f64 {
        f64::from(self.refresh_mhz) / 1000.0
    }
}

impl FromStr for Mode {
    type Err = ModeError;
    fn from_str(s: &str) -> Result<Self, ModeError> {
        Mode::parse(s)
    }
}

/// `1920x1080@60`, `2560x1440@59.951`, `1280x720@59.94` (no trailing zeros).
impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}@", self.width, self.height)?;
        let (int, frac) = (self.refresh_mhz / 1000, self.refresh_mhz % 1000);
        if frac == 0 {
            write!(f, "{int}")
        } else {
            let frac = format!("{frac:03}");
            write!(f, "{int}.{}", frac.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_integer_and_fractional_rates() {
        assert_eq!(
            Mode::parse("1920x1080@60").unwrap(),
            Mode::new(1920, 1080, 60)
        );
        let m = Mode::parse(" 2560X1440@59.951Hz ").unwrap();
        assert_eq!((m.width, m.height, m.refresh_mhz), (2560, 1440, 59_951));
        assert_eq!(m.to_string(), "2560x1440@59.951");
        assert_eq!(
            Mode::parse("1280x720@59.94").unwrap().to_string(),
            "1280x720@59.94"
        );
    }

    #[test]
    fn refuses_with_a_reason() {
        assert!(matches!(
            Mode::parse("1920x1080"),
            Err(ModeError::Syntax(_))
        ));
        assert!(matches!(Mode::parse("0x1080@60"), Err(ModeError::Size(_))));
        assert!(matches!(
            Mode::parse("99999x1080@60"),
            Err(ModeError::Size(_))
        ));
        assert!(matches!(
            Mode::parse("1920x1080@0"),
            Err(ModeError::Refresh(_))
        ));
        assert!(matches!(
            Mode::parse("1920x1080@NaN"),
            Err(ModeError::Refresh(_))
        ));
        assert!(matches!(
            Mode::parse("1920x1080@inf"),
            Err(ModeError::Refresh(_))
        ));
        assert!(Mode::parse("1920x1080@1e9").is_err());
    }

    proptest! {
        #[test]
        fn any_string_parses_or_is_refused_without_panicking(s in "\\PC{0,40}") {
            let _ = Mode::parse(&s);
        }

        #[test]
        fn display_round_trips(w in 1..=MAX_SIDE, h in 1..=MAX_SIDE, mhz in 1000u32..=1_000_000) {
            let mode = Mode { width: w, height: h, refresh_mhz: mhz };
            prop_assert_eq!(Mode::parse(&mode.to_string()).unwrap(), mode);
        }
    }
}
