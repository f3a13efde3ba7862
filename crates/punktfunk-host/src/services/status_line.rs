//! Machine-readable status lines on stdout (`READY …`, `API …`, `SESSIONS n`, `PIN …`,
//! `GAMESTREAM …`) for scripts, service managers and tests. Written so that a closed or full stdout
//! never takes the host down (`println!` panics on a broken pipe).

use std::io::Write;

pub fn write(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    let _ = out.flush();
}

/// `println!` for status lines: same syntax, never panics.
macro_rules! status_line {
    ($($arg:tt)*) => {
        $crate::services::status_line::write(format_args!($($arg)*))
    };
}
pub(crate) use status_line;
