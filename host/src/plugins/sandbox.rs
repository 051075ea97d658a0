//! The sandbox policy: what a plugin may touch and how much it may use. Deny by default.
//!
//! What a plugin gets, and nothing else:
//! - files: the operator's `read=DIR` (read-only) and `write=DIR` (read-write) grants, as WASI
//!   preopens mapped at the same paths as on the host (so paths in messages and in host-service
//!   calls are the real ones). No grant, no file system.
//! - environment: the variables named by `env=NAME` grants, with hookinit's values. argv is
//!   `[NAME]`. No stdin. stdout/stderr go to the container log (see `output.rs`).
//! - network: none through WASI (no socket address is allowed, no name lookup). Downloads go
//!   through the host's `fetch` import, allowed only to hosts named by `fetch=HOST` grants
//!   (`example.com` any port, `example.com:8443` that port), redirects included, into a file
//!   under a `write=` grant; `file://` URLs and paths need a read grant instead.
//! - archives: the host's `unpack` import reads an archive under a `read=`/`write=` grant and
//!   writes under a `write=` grant.
//! - main process facts (pid, command, signal dispositions) are always readable: they are the
//!   plugin's business and leak nothing else (no /proc access is granted).
//!
//! Limits per plugin ([`Limits`]): linear memory (64 MiB), a deadline per hook (pre-exec 30 s,
//! 10 min for built-ins; on-exit 5 s; on-signal 50 ms; init 30 s), log output per hook (64 KiB,
//! lines cut at 2 KiB).
//! Paths handed to host services are checked after resolving symlinks of their existing part, so
//! a link inside a granted directory cannot point the host outside it.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use super::types::Hook;
use crate::config::plan::PluginSpec;

/// Resource limits of one plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory, in bytes.
    pub memory: usize,
    /// Deadline of `init` (instantiation included).
    pub init: Duration,
    pub pre_exec: Duration,
    pub on_exit: Duration,
    pub on_signal: Duration,
    /// pre-exec deadline of built-in plugins, whose downloads (fstree) carry their own connect
    /// and total timeouts.
    pub builtin_pre_exec: Duration,
    /// Log output (stdout, stderr, log import together) accepted per hook call, in bytes.
    pub log_bytes_per_call: usize,
    /// Longest log line; longer ones are cut.
    pub log_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: 64 << 20,
            init: Duration::from_secs(30),
            pre_exec: Duration::from_secs(30),
            on_exit: Duration::from_secs(5),
            on_signal: Duration::from_millis(50),
            builtin_pre_exec: Duration::from_secs(600),
            log_bytes_per_call: 64 << 10,
            log_line: 2 << 10,
        }
    }
}

impl Limits {
    pub fn deadline(&self, hook: Hook) -> Duration {
        match hook {
            Hook::PreExec => self.pre_exec,
            Hook::OnExit => self.on_exit,
            Hook::OnSignal => self.on_signal,
        }
    }
}

/// One plugin's grants, resolved (directories canonical, environment values read).
#[derive(Clone, Debug, Default)]
pub struct Sandbox {
    pub name: String,
    read: Vec<PathBuf>,
    write: Vec<PathBuf>,
    fetch: Vec<String>,
    env: Vec<(String, String)>,
}

impl Sandbox {
    /// Resolves `spec`'s grants. A granted directory that does not exist is an error.
    pub fn new(spec: &PluginSpec) -> Result<Sandbox, String> {
        let dirs = |list: &[PathBuf], what: &str| -> Result<Vec<PathBuf>, String> {
            list.iter()
                .map(|dir| {
                    let real = std::fs::canonicalize(dir)
                        .map_err(|e| format!("grant {what}={}: {e}", dir.display()))?;
                    if !real.is_dir() {
                        return Err(format!("grant {what}={}: not a directory", dir.display()));
                    }
                    Ok(real)
                })
                .collect()
        };
        let env = spec
            .grants
            .env
            .iter()
            .filter_map(|name| Some((name.clone(), std::env::var(name).ok()?)))
            .collect();
        Ok(Sandbox {
            name: spec.name.clone(),
            read: dirs(&spec.grants.read, "read")?,
            write: dirs(&spec.grants.write, "write")?,
            fetch: spec
                .grants
                .fetch
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            env,
        })
    }

    /// The grants in one line, for the start-up log: `read=/a write=/b fetch=host env=X` or
    /// `no grants`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.read.iter().map(|d| format!("read={}", d.display())));
        parts.extend(self.write.iter().map(|d| format!("write={}", d.display())));
        parts.extend(self.fetch.iter().map(|h| format!("fetch={h}")));
        parts.extend(self.env.iter().map(|(k, _)| format!("env={k}")));
        if parts.is_empty() {
            "no grants".to_string()
        } else {
            parts.join(" ")
        }
    }

    /// The WASI context: preopens for the directory grants, the granted environment, the given
    /// output streams, nothing else.
    pub fn wasi_ctx(
        &self,
        stdout: impl wasmtime_wasi::cli::StdoutStream + 'static,
        stderr: impl wasmtime_wasi::cli::StdoutStream + 'static,
    ) -> Result<WasiCtx, String> {
        let mut b = WasiCtxBuilder::new();
        // Must precede preopened_dir: captured per preopen. Runs file I/O inline on the worker
        // thread instead of on tokio's blocking pool (no extra threads in PID 1).
        b.allow_blocking_current_thread(true);
        b.arg(&self.name);
        for (k, v) in &self.env {
            b.env(k, v);
        }
        for dir in &self.read {
            let guest = dir.to_string_lossy();
            b.preopened_dir(dir, &*guest, FsPerms::ReadOnly)
                .map_err(|e| format!("grant read={}: {e}", dir.display()))?;
        }
        for dir in &self.write {
            let guest = dir.to_string_lossy();
            b.preopened_dir(dir, &*guest, FsPerms::ReadWrite)
                .map_err(|e| format!("grant write={}: {e}", dir.display()))?;
        }
        b.stdout(stdout).stderr(stderr);
        b.allow_ip_name_lookup(false);
        Ok(b.build())
    }

    /// The hosts `fetch` may reach for this plugin, for the fetch service's allow-list (which
    /// also applies it to redirects).
    pub fn fetch_hosts(&self) -> &[String] {
        &self.fetch
    }

    /// Checks a `fetch-to-file` call; returns the destination file to write and whether the
    /// source is a local file (checked against the read grants).
    pub fn check_fetch(&self, url: &str, dest: &str) -> Result<(PathBuf, bool), String> {
        let local = self.check_source(url)?;
        let dest = self.check_under(dest, &self.write, "write")?;
        Ok((dest, local))
    }

    /// The source of a fetch: an http(s) URL to a granted host, or a readable local file
    /// (returns true for the latter).
    fn check_source(&self, url: &str) -> Result<bool, String> {
        match url
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase())
        {
            Some(s) if s == "http" || s == "https" => {
                let (host, port) = url_host(url)
                    .ok_or_else(|| format!("denied: cannot read the host of {url}"))?;
                if !host_allowed(&self.fetch, &host, port) {
                    return Err(format!(
                        "denied: {host} is not granted to plugin {} (grant it with fetch={host})",
                        self.name
                    ));
                }
                Ok(false)
            }
            Some(s) if s == "file" => {
                self.check_readable(&url["file://".len()..])?;
                Ok(true)
            }
            Some(s) => Err(format!("denied: unsupported URL scheme {s}:")),
            None => {
                self.check_readable(url)?;
                Ok(true)
            }
        }
    }

    /// Checks an `unpack` call; returns (archive, destination directory).
    pub fn check_unpack(&self, archive: &str, dest: &str) -> Result<(PathBuf, PathBuf), String> {
        let archive = self.check_readable(archive)?;
        let dest = self.check_under(dest, &self.write, "write")?;
        Ok((archive, dest))
    }

    fn check_readable(&self, path: &str) -> Result<PathBuf, String> {
        let granted: Vec<PathBuf> = self.read.iter().chain(&self.write).cloned().collect();
        self.check_under(path, &granted, "read")
    }

    /// `path` must be absolute, without `..`, and (after resolving the symlinks of its longest
    /// existing prefix) inside one of `roots`.
    fn check_under(&self, path: &str, roots: &[PathBuf], grant: &str) -> Result<PathBuf, String> {
        let denied = || {
            format!(
                "denied: {path} is outside the {grant} grants of plugin {}",
                self.name
            )
        };
        let p = Path::new(path);
        if !p.is_absolute() || p.components().any(|c| c == Component::ParentDir) {
            return Err(format!(
                "denied: {path}: give an absolute path without `..`"
            ));
        }
        let resolved = resolve_existing_prefix(p).map_err(|e| format!("{path}: {e}"))?;
        if roots.iter().any(|root| resolved.starts_with(root)) {
            Ok(resolved)
        } else {
            Err(denied())
        }
    }
}

/// Canonicalises the longest existing prefix of `path` and appends the rest unchanged.
fn resolve_existing_prefix(path: &Path) -> std::io::Result<PathBuf> {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        match std::fs::canonicalize(&existing) {
            Ok(real) => {
                let mut out = real;
                out.extend(rest.iter().rev());
                return Ok(out);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let name = existing.file_name().map(|n| n.to_os_string());
                match (name, existing.parent()) {
                    (Some(name), Some(parent)) => {
                        rest.push(name);
                        existing = parent.to_path_buf();
                    }
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Host (lower case, IPv6 without brackets) and explicit port of an http(s) URL.
pub fn url_host(url: &str) -> Option<(String, Option<u16>)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) if !p.is_empty() => Some(p.parse().ok()?),
        _ => None,
    };
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port))
}

/// `fetch=` grant matching, as the fetch service applies it to redirects: `host` (any port) or
/// `host:port` (`[v6]:port`).
pub fn host_allowed(grants: &[String], host: &str, port: Option<u16>) -> bool {
    grants.iter().any(|grant| {
        let (g_host, g_port) = match grant.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || grant.starts_with('[') => match p.parse::<u16>() {
                Ok(p) => (h.trim_start_matches('[').trim_end_matches(']'), Some(p)),
                Err(_) => (grant.as_str(), None),
            },
            _ => (grant.trim_start_matches('[').trim_end_matches(']'), None),
        };
        g_host == host && (g_port.is_none() || g_port == port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::plan::{Grants, PluginSource};

    fn sandbox(read: &[&Path], write: &[&Path], fetch: &[&str]) -> Sandbox {
        let spec = PluginSpec {
            name: "t".into(),
            source: PluginSource::Path("/x.wasm".into()),
            sha256: None,
            allow_unpinned: false,
            config: vec![],
            grants: Grants {
                read: read.iter().map(|p| p.to_path_buf()).collect(),
                write: write.iter().map(|p| p.to_path_buf()).collect(),
                fetch: fetch.iter().map(|s| s.to_string()).collect(),
                env: vec![],
            },
        };
        Sandbox::new(&spec).unwrap()
    }

    #[test]
    fn fetch_needs_a_host_grant_and_a_write_grant() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let none = sandbox(&[], &[dir.path()], &[]);
        assert!(
            none.check_fetch("https://example.com/a", &format!("{d}/a"))
                .unwrap_err()
                .contains("fetch=example.com")
        );
        let ok = sandbox(&[], &[dir.path()], &["example.com"]);
        assert!(
            ok.check_fetch("https://Example.COM:8443/a", &format!("{d}/a"))
                .is_ok()
        );
        assert!(
            ok.check_fetch("https://example.com/a", "/etc/passwd")
                .unwrap_err()
                .starts_with("denied")
        );
        assert!(
            ok.check_fetch("https://example.com/a", &format!("{d}/../x"))
                .is_err()
        );
        assert!(
            ok.check_fetch("https://evil.com/a", &format!("{d}/a"))
                .is_err()
        );
        assert!(
            ok.check_fetch("gopher://example.com/a", &format!("{d}/a"))
                .is_err()
        );
    }

    #[test]
    fn a_symlink_inside_a_grant_does_not_lead_outside() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let s = sandbox(&[], &[dir.path()], &["h"]);
        let through = format!("{}/link/new/file", dir.path().display());
        assert!(
            s.check_fetch("http://h/x", &through)
                .unwrap_err()
                .starts_with("denied")
        );
        let inside = format!("{}/new/file", dir.path().display());
        assert!(s.check_fetch("http://h/x", &inside).is_ok());
    }

    #[test]
    fn unpack_reads_under_read_grants_and_writes_under_write_grants() {
        let r = tempfile::tempdir().unwrap();
        let w = tempfile::tempdir().unwrap();
        let s = sandbox(&[r.path()], &[w.path()], &[]);
        let a = format!("{}/a.tar", r.path().display());
        let wd = w.path().display().to_string();
        assert!(s.check_unpack(&a, &wd).is_ok());
        assert!(s.check_unpack(&a, &r.path().display().to_string()).is_err());
        assert!(s.check_unpack("/etc/passwd", &wd).is_err());
    }

    #[test]
    fn host_grants() {
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(host_allowed(
            &g(&["example.com"]),
            "example.com",
            Some(8080)
        ));
        assert!(host_allowed(
            &g(&["example.com:8080"]),
            "example.com",
            Some(8080)
        ));
        assert!(!host_allowed(
            &g(&["example.com:8080"]),
            "example.com",
            None
        ));
        assert!(!host_allowed(&g(&["example.com"]), "badexample.com", None));
        assert!(host_allowed(&g(&["[::1]:80"]), "::1", Some(80)));
        assert_eq!(
            url_host("http://u:p@[::1]:80/x"),
            Some(("::1".into(), Some(80)))
        );
        assert_eq!(
            url_host("https://EXAMPLE.com/a?b"),
            Some(("example.com".into(), None))
        );
    }
}
