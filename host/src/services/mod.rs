//! Native host services that plugins call through capability checks: fetch and unpack.
//!
//! Both are plain library functions. They print nothing (the caller logs their one-line reports
//! and errors), never panic on hostile input, and carry their own limits (size, time) because
//! wasmtime's epoch interruption cannot stop a blocking host call.

pub mod fetch;
pub mod unpack;

use std::time::Duration;

pub use fetch::{FetchError, FetchOptions, FetchReport, fetch_to_file};
pub use unpack::{Format, UnpackError, UnpackOptions, UnpackReport, unpack};

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A byte count for people: `512 B`, `34.5 KiB`, `1.2 GiB`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A duration for people: `850 µs`, `12 ms`, `1.25 s`.
pub(crate) fn human_duration(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_for_people() {
        assert_eq!(hex(&[0x00, 0xab, 0x10]), "00ab10");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(35_328), "34.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(human_duration(Duration::from_millis(12)), "12 ms");
        assert_eq!(human_duration(Duration::from_millis(1250)), "1.25 s");
    }
}
