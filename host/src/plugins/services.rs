//! The bridge from the WIT `fetch` and `archive` imports (already checked against the grants by
//! sandbox.rs) to the native services in `crate::services`.
//!
//! This is the only file of the plugin runtime that names the services' types.

use std::path::Path;
use std::time::Duration;

use super::bindings::wit;
use crate::services::{self, FetchOptions, UnpackOptions};

/// Downloads `url` into `dest`. `allowed_hosts` restricts every request, redirects included
/// (`None`: the operator's own download, `plugin=URL`). Local sources (`file://`, paths) are
/// accepted only when `local_checked` (the caller checked them against a read grant).
pub fn fetch(
    url: &str,
    dest: &Path,
    options: &wit::FetchOptions,
    allowed_hosts: Option<Vec<String>>,
    local_checked: bool,
) -> Result<wit::FetchReport, String> {
    let mut opts = FetchOptions {
        allowed_hosts,
        allow_local: local_checked,
        ..FetchOptions::default()
    };
    if let Some(ms) = options.timeout_ms {
        opts.total_timeout = Duration::from_millis(u64::from(ms));
    }
    if let Some(max) = options.max_bytes {
        opts.max_bytes = max;
    }
    let report = services::fetch_to_file(url, dest, &opts).map_err(|e| e.to_string())?;
    if let Some(pin) = &options.sha256 {
        let pin = pin.trim_start_matches("sha256:");
        if !report.sha256.eq_ignore_ascii_case(pin) {
            let _ = std::fs::remove_file(dest);
            return Err(format!(
                "sha256 of {} is {}, not the pinned {pin}; the file was removed",
                report.url, report.sha256
            ));
        }
    }
    Ok(wit::FetchReport {
        bytes: report.bytes,
        sha256: report.sha256,
        final_url: report.url,
    })
}

/// Unpacks `archive` into `dest`.
pub fn unpack(
    archive: &Path,
    dest: &Path,
    options: &wit::UnpackOptions,
) -> Result<wit::UnpackReport, String> {
    let mut opts = UnpackOptions {
        strip: options.strip,
        ..UnpackOptions::default()
    };
    if let Some(max) = options.max_bytes {
        opts.max_bytes = max;
    }
    let report = services::unpack(archive, dest, &opts).map_err(|e| e.to_string())?;
    Ok(wit::UnpackReport {
        files: report.files,
        dirs: report.dirs,
        links: report.symlinks + report.hardlinks,
        bytes: report.bytes,
    })
}
