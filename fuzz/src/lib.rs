//! The part of hookinit the fuzz targets reach, compiled from `host/src` itself.
//!
//! The targets fuzz pure code: the DEBUG grammar, the configuration file and archive
//! extraction. Depending on the whole `hookinit` crate would also build wasmtime and Cranelift,
//! twice (once for `host/build.rs`, once instrumented for libFuzzer), which costs most of CI's
//! time for code no target runs. So this library, named `hookinit` like the real crate, holds the
//! very source files of those modules, included by path, at the same module paths
//! (`hookinit::config::debug`, `hookinit::services::unpack`...): the targets read as if they used
//! the real crate, and fuzz exactly its code.
//!
//! If a build breaks here after a change in `host/src` (a new `use crate::...` in one of these
//! files), add the module it needs below, by path, the same way.

#![allow(dead_code, unused_imports)]

#[path = "../../host/src/config"]
pub mod config {
    pub mod debug;
    pub mod file;
    pub mod plan;
}

#[path = "../../host/src/log.rs"]
pub mod log;

#[path = "../../host/src/values.rs"]
pub mod values;

#[path = "../../host/src/signals"]
pub mod signals {
    pub mod names;
}

#[path = "../../host/src/services"]
pub mod services {
    pub mod unpack;

    pub use unpack::{Format, UnpackError, UnpackOptions, UnpackReport, unpack};

    // `host/src/services/mod.rs` also declares `fetch` (an HTTP client with TLS), so it is not
    // included; these three helpers, which only format `unpack`'s messages, are copied from it.

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
    pub(crate) fn human_duration(d: std::time::Duration) -> String {
        if d < std::time::Duration::from_millis(1) {
            format!("{} µs", d.as_micros())
        } else if d < std::time::Duration::from_secs(1) {
            format!("{} ms", d.as_millis())
        } else {
            format!("{:.2} s", d.as_secs_f64())
        }
    }
}
