//! One line per event on stderr, prefixed `hookinit:`, filtered by verbosity.
//!
//! Levels follow tini: 0 errors only, 1 warnings (the default), 2 informational lifecycle events,
//! 3 debugging detail. The verbose plugin raises the level to 2 and adds timestamps. Writes go
//! straight to fd 2 with one `write` per line so that lines from PID 1 never interleave mid-line.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(1);
static TIMESTAMPS: AtomicBool = AtomicBool::new(false);

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

/// Writes one line. Errors writing to stderr are ignored: PID 1 has nowhere else to report them.
pub fn write_line(level: Level, args: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let tag = match level {
        Level::Error => "error: ",
        Level::Warn => "warning: ",
        Level::Info | Level::Debug => "",
    };
    let mut line = String::with_capacity(96);
    line.push_str("hookinit: ");
    if TIMESTAMPS.load(Ordering::Relaxed) {
        let now = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        line.push_str(&now.to_string());
        line.push(' ');
    }
    line.push_str(tag);
    use std::fmt::Write as _;
    let _ = line.write_fmt(args);
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::log::write_line($crate::log::Level::Error, format_args!($($t)*)) } }
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log::write_line($crate::log::Level::Warn, format_args!($($t)*)) } }
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::write_line($crate::log::Level::Info, format_args!($($t)*)) } }
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::log::write_line($crate::log::Level::Debug, format_args!($($t)*)) } }
