//! fstree: the built-in plugin behind `DEBUG=fstree=SOURCE[,strip=N][,sha256=HEX][,dest=DIR]
//! [,max-size=SIZE][,timeout=DURATION]`.
//!
//! Before the main process starts, it has the host download SOURCE (http, https, file URL or
//! path) into its scratch directory, or takes a local file where it is, and unpack it over `/`
//! (or DIR): tar, tar.gz, tar.xz, tar.zst or zip, recognised by content; a source archive's
//! one top folder (`NAME-REF/`, as GitHub and GitLab serve them) stripped unless `strip=N` says
//! otherwise; the archive refused unless its sha256 is HEX when given; entries that would escape
//! the destination, device nodes, fifos and archives past the size cap (1 GiB unless
//! `max-size`) refused. The downloading and the unpacking are native
//! host services (`fetch`, `archive`), which apply these rules and their own timeouts; this
//! plugin decides what to ask for and reports.
//!
//! One summary line (files, bytes, the archive's sha256, time taken) is always printed. Any
//! failure is an error from the pre-exec hook: the main process is not started (hookinit exits
//! with status 2, or stays up under `stayalive`).
//!
//! Its grants, declared in `PluginSpec::builtin` (crates/init/src/config/plan.rs) like an
//! operator plugin's: fetch from the source's host (its redirects may go to any http(s) host),
//! write on the destination, a scratch directory (its `TMPDIR`) for the download, read on a
//! local source; it is required. Configuration keys (set by the DEBUG grammar): `source`,
//! `strip`, `sha256`, `dest`, `max-size` (bytes), `timeout` (milliseconds).

use std::time::Instant;

use hookinit_sdk::prelude::*;
use hookinit_sdk::{FetchOptions, UnpackOptions};

/// Downloads are capped at the unpacked size cap, and at least at this (1 GiB).
const MIN_DOWNLOAD_CAP: u64 = 1 << 30;

#[derive(Default)]
struct Fstree {
    source: String,
    strip: Option<u32>,
    sha256: Option<String>,
    dest: String,
    max_size: Option<u64>,
    timeout_ms: Option<u32>,
    scratch: Option<String>,
}

impl Plugin for Fstree {
    const HOOKS: Hooks = Hooks::PRE_EXEC;

    fn init(&mut self, config: &Config) -> Result<Hooks, String> {
        self.source = config.require("source")?.to_string();
        self.strip = config.parse("strip")?;
        self.sha256 = config.get("sha256").map(str::to_ascii_lowercase);
        self.dest = config.get("dest").unwrap_or("/").to_string();
        self.max_size = config.parse("max-size")?;
        self.timeout_ms = config
            .parse::<u64>("timeout")?
            .map(|ms| u32::try_from(ms).unwrap_or(u32::MAX));
        self.scratch = std::env::var("TMPDIR").ok().filter(|d| !d.is_empty());
        Ok(Self::HOOKS)
    }

    fn pre_exec(&mut self, cmd: Command) -> Result<Command, String> {
        let started = Instant::now();
        let source = self.source.trim();
        let remote = is_remote(source);
        let (archive, sha256) = if remote {
            let scratch = self.scratch.as_deref().ok_or(
                "no scratch directory to download into (set TMPDIR to a writable directory)",
            )?;
            let file = format!("{scratch}/{}", archive_name(source));
            let options = FetchOptions {
                sha256: self.sha256.clone(),
                timeout_ms: self.timeout_ms,
                max_bytes: Some(self.max_size.unwrap_or(0).max(MIN_DOWNLOAD_CAP)),
            };
            let report = host::fetch_to_file(source, &file, &options)?;
            info!(
                "fetched {} bytes from {} (sha256 {}) in {} ms",
                report.bytes,
                report.final_url,
                report.sha256,
                started.elapsed().as_millis()
            );
            // Verified by the download already.
            (file, None)
        } else {
            let path = source.strip_prefix("file://").unwrap_or(source);
            // A relative path is relative to hookinit's (and the main process's) directory.
            let path = if path.starts_with('/') {
                path.to_string()
            } else {
                format!("{}/{path}", cmd.cwd.trim_end_matches('/'))
            };
            (path, self.sha256.clone())
        };
        let options = UnpackOptions {
            strip: self.strip,
            max_bytes: self.max_size,
            sha256,
        };
        let unpacked = host::unpack(&archive, &self.dest, options);
        if remote {
            // The download is done with; an empty scratch directory is removed after pre-exec.
            let _ = std::fs::remove_file(&archive);
        }
        let report = unpacked.map_err(|e| format!("{e} (source {})", shown(source)))?;
        println!(
            "unpacked {} into {}: {}, {}, {}, {} bytes ({}, strip {}, sha256 {}) in {} ms",
            shown(source),
            self.dest,
            plural(report.files, "file"),
            plural(report.dirs, "dir"),
            plural(report.links, "link"),
            report.bytes,
            report.format,
            report.strip,
            report.archive_sha256,
            started.elapsed().as_millis()
        );
        Ok(cmd)
    }
}

export_plugin!(Fstree);

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn is_remote(source: &str) -> bool {
    let lower = source.get(..8).unwrap_or(source).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The last path segment of a URL, made safe as a file name (for messages and the scratch file).
fn archive_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let after_host = path.split_once("://").map_or(path, |(_, r)| r);
    let name = after_host
        .split_once('/')
        .map_or("", |(_, p)| p)
        .rsplit('/')
        .next()
        .unwrap_or("");
    let safe: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .take(64)
        .collect();
    if safe.is_empty() || safe.starts_with('.') {
        "archive".to_string()
    } else {
        safe
    }
}

/// The source as it may be shown: a URL's user and password masked.
fn shown(source: &str) -> String {
    match source.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => source.to_string(),
            }
        }
        None => source.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(archive_name("https://h/a/b/fix.tar.gz?x=1"), "fix.tar.gz");
        assert_eq!(archive_name("https://h/"), "archive");
        assert_eq!(archive_name("https://h"), "archive");
        assert_eq!(archive_name("https://h/..%2f"), "archive");
        assert_eq!(shown("https://u:p@h/x"), "https://***@h/x");
        assert!(is_remote("HTTPS://h/x"));
        assert!(!is_remote("/srv/x.tgz"));
    }
}
