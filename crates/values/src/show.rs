//! How values are shown to people in messages: quoted values clipped, digests in hex, sizes and
//! durations in units people read.

use std::time::Duration;

/// How much of a value a message quotes.
const QUOTED_BYTES: usize = 200;

/// A value quoted in a message, at most [`QUOTED_BYTES`] of it: a 1 MB DEBUG word or
/// configuration value stays one readable line (`verbos...e (130000 bytes)`).
pub fn clip(text: &str) -> Clipped<'_> {
    Clipped(text)
}

pub struct Clipped<'a>(&'a str);

impl std::fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.len() <= QUOTED_BYTES {
            return f.write_str(self.0);
        }
        let cut = self.0.floor_char_boundary(QUOTED_BYTES - 40);
        write!(f, "{}... ({} bytes)", &self.0[..cut], self.0.len())
    }
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A byte count for people: `512 B`, `34.5 KiB`, `1.2 GiB`.
pub fn human_bytes(n: u64) -> String {
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
pub fn human_duration(d: Duration) -> String {
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
    fn long_values_are_clipped() {
        let word = "x".repeat(130_000);
        let shown = clip(&word).to_string();
        assert!(shown.len() < 200, "{}", shown.len());
        assert!(shown.ends_with("... (130000 bytes)"), "{shown}");
        assert_eq!(clip("short").to_string(), "short");
        let wide = "é".repeat(150);
        assert!(clip(&wide).to_string().ends_with("... (300 bytes)"));
    }

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
