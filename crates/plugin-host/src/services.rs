//! The bridge from the WIT `fetch` and `archive` imports (already checked against the grants by
//! sandbox/) to the native services (the `hookinit-fetch` and `hookinit-archive` crates).
//!
//! This is the only file of the plugin runtime that names the services' types.

use std::path::Path;
use std::time::Duration;

use super::bindings::wit;
use hookinit_archive::UnpackOptions;
use hookinit_fetch::FetchOptions;
use hookinit_values::show::clip;
use hookinit_values::{HostGrant, Sha256Pin, Source};

/// Downloads `source` into `dest`. `allowed_hosts` restricts every request, redirects included
/// (`None`: the operator's own download, `plugin=URL`). A local source is one the caller checked
/// against a read grant (sandbox/calls.rs).
pub fn fetch(
    source: &Source,
    dest: &Path,
    options: &wit::FetchOptions,
    allowed_hosts: Option<Vec<HostGrant>>,
) -> Result<wit::FetchReport, String> {
    let local = source.local_path();
    let pin = parse_pin(options.sha256.as_deref())?;
    let mut opts = FetchOptions {
        allowed_hosts,
        allow_local: local.is_some(),
        ..FetchOptions::default()
    };
    if let Some(ms) = options.timeout_ms {
        opts.total_timeout = Duration::from_millis(u64::from(ms));
    }
    if let Some(max) = options.max_bytes {
        opts.max_bytes = max;
    }
    let created = local.is_some_and(|path| keep_mode(path, dest));
    let report = hookinit_fetch::fetch_to_file(source, dest, &opts).map_err(|e| {
        if created {
            let _ = std::fs::remove_file(dest);
        }
        e.to_string()
    })?;
    if let Some(pin) = pin
        && report.sha256 != pin
    {
        let _ = std::fs::remove_file(dest);
        return Err(format!(
            "sha256 of {} is {}, not the pinned {pin}; the file was removed",
            report.url, report.sha256
        ));
    }
    Ok(wit::FetchReport {
        bytes: report.bytes,
        sha256: report.sha256.to_string(),
        final_url: report.url,
    })
}

/// A plugin's pin (`sha256:` in front is tolerated), read before anything is fetched or
/// unpacked.
fn parse_pin(text: Option<&str>) -> Result<Option<Sha256Pin>, String> {
    let Some(text) = text else {
        return Ok(None);
    };
    let hex = text.strip_prefix("sha256:").unwrap_or(text);
    hex.parse()
        .map(Some)
        .map_err(|e| format!("bad sha256 pin `{}`: {e}", clip(text)))
}

/// A copy of a local file keeps its permission bits (a core file stays readable by its owner
/// only): the destination is made with them before the fetch service truncates and fills it.
/// Returns whether it created the destination.
fn keep_mode(path: &Path, dest: &Path) -> bool {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let mode = meta.permissions().mode() & 0o777;
    if std::fs::symlink_metadata(dest).is_ok_and(|m| m.is_file()) {
        let _ = std::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode));
        false
    } else {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(dest)
            .is_ok()
    }
}

/// Unpacks `archive` into `dest`.
pub fn unpack(
    archive: &Path,
    dest: &Path,
    options: &wit::UnpackOptions,
) -> Result<wit::UnpackReport, String> {
    let mut opts = UnpackOptions {
        strip: options.strip,
        sha256: parse_pin(options.sha256.as_deref())?,
        ..UnpackOptions::default()
    };
    if let Some(max) = options.max_bytes {
        opts.max_bytes = max;
    }
    let report = hookinit_archive::unpack(archive, dest, &opts).map_err(|e| e.to_string())?;
    Ok(wit::UnpackReport {
        files: report.files,
        dirs: report.dirs,
        links: report.symlinks + report.hardlinks,
        bytes: report.bytes,
        format: report.format.to_string(),
        strip: report.strip,
        archive_sha256: report.archive_sha256.to_string(),
        elapsed_ms: u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(sha256: Option<String>) -> wit::FetchOptions {
        wit::FetchOptions {
            sha256,
            timeout_ms: None,
            max_bytes: None,
        }
    }

    #[test]
    fn pins_are_read_before_the_fetch_and_checked_after() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        std::fs::write(&source, b"data").unwrap();
        let source = &Source::Path(source);
        let dest = dir.path().join("dest");
        let e = fetch(source, &dest, &options(Some("abc".into())), None).unwrap_err();
        assert!(e.starts_with("bad sha256 pin `abc`: expected 64"), "{e}");
        assert!(!dest.exists(), "nothing fetched");
        let pin = crate::cache::sha256_of(b"data").to_string();
        let tolerated = format!("sha256:{}", pin.to_uppercase());
        let report = fetch(source, &dest, &options(Some(tolerated)), None).unwrap();
        assert_eq!(report.sha256, pin);
        let wrong = "0".repeat(64);
        let e = fetch(source, &dest, &options(Some(wrong)), None).unwrap_err();
        assert!(e.contains(&format!("is {pin}, not the pinned 000")), "{e}");
        assert!(!dest.exists(), "a mismatch leaves no file");
    }
}
