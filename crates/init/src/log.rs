//! One line per event on stderr, prefixed `hookinit:`, filtered by verbosity.
//!
//! Levels follow tini: 0 errors only, 1 warnings (the default), 2 informational lifecycle events,
//! 3 debugging detail. The verbose plugin raises the level to 2 and adds timestamps. Writes go
//! straight to fd 2 with one `write` per line so that lines from PID 1 never interleave mid-line.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(1);
static TIMESTAMPS: AtomicBool = AtomicBool::new(false);
/// Where lines go instead of stderr, once set (see [`redirect`]).
static SINK: OnceLock<fn(&str)> = OnceLock::new();

/// Sends every line (with its newline) to `sink` instead of stderr, for the rest of the process.
/// For programs that run the plugin runtime in-process, such as its tests: they keep the lines a
/// deliberately broken plugin causes instead of printing them. Returns false if a sink was set
/// already (the first one stays).
pub fn redirect(sink: fn(&str)) -> bool {
    SINK.set(sink).is_ok()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

pub fn set_level(level: u8) {
    LEVEL.store(level, Ordering::Relaxed);
}

pub fn level() -> u8 {
    LEVEL.load(Ordering::Relaxed)
}

pub fn set_timestamps(on: bool) {
    TIMESTAMPS.store(on, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// The longest line written at all.
const MAX_LINE: usize = 4096;

/// Values quoted in log lines are clipped where they are formatted.
pub use hookinit_values::show::clip;

/// Writes one line. Errors writing to stderr are ignored: PID 1 has nowhere else to report them.
/// Control characters in the message (a newline inside a quoted DEBUG value or a file name from
/// an archive) are escaped, so that one event is always one line of the container log.
pub fn write_line(level: Level, args: std::fmt::Arguments<'_>) {
    let tag = match level {
        Level::Error => "error: ",
        Level::Warn => "warning: ",
        Level::Info | Level::Debug => "",
    };
    write_tagged(level, tag, args);
}

/// Like [`write_line`], without the `error: `/`warning: ` tag: a plugin's own output, shown at
/// `level` and stamped like every other line.
pub fn write_untagged(level: Level, args: std::fmt::Arguments<'_>) {
    write_tagged(level, "", args);
}

fn write_tagged(level: Level, tag: &str, args: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mut line = String::with_capacity(96);
    line.push_str("hookinit: ");
    if TIMESTAMPS.load(Ordering::Relaxed) {
        let now = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        line.push_str(&now.to_string());
        line.push(' ');
    }
    line.push_str(tag);
    let start = line.len();
    use std::fmt::Write as _;
    let _ = line.write_fmt(args);
    if line[start..].contains(char::is_control) {
        let message = line.split_off(start);
        escape_controls(&message, &mut line);
    }
    // The backstop for whatever a message quotes without `clip`: one line stays a line.
    if line.len() > MAX_LINE {
        let total = line.len();
        line.truncate(line.floor_char_boundary(MAX_LINE - 64));
        line.push_str(&format!("... (line cut: {total} bytes)"));
    }
    line.push('\n');
    match SINK.get() {
        Some(sink) => sink(&line),
        None => {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }
}

/// Appends `message` to `out` with its control characters escaped (`\n`, `\u{1b}`).
fn escape_controls(message: &str, out: &mut String) {
    for c in message.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::log::write_line($crate::log::Level::Error, format_args!($($t)*)) } }
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log::write_line($crate::log::Level::Warn, format_args!($($t)*)) } }
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::write_line($crate::log::Level::Info, format_args!($($t)*)) } }
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::log::write_line($crate::log::Level::Debug, format_args!($($t)*)) } }

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped() {
        let mut out = String::from("hookinit: ");
        super::escape_controls("bad value `a\nb\r\u{1b}[31m` é", &mut out);
        assert_eq!(out, "hookinit: bad value `a\\nb\\r\\u{1b}[31m` é");
    }
}
