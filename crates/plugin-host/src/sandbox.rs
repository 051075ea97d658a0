//! The sandbox policy: what a plugin may touch and how much it may use. Deny by default.
//!
//! What a plugin gets, and nothing else:
//! - files: the operator's `read=DIR` (read-only) and `write=DIR` (read-write) grants, as WASI
//!   preopens mapped at the same paths as on the host (so paths in messages and in host-service
//!   calls are the real ones). No grant, no file system.
//! - environment: the variables granted by `env=NAME`, `env=PREFIX_*` or `env=*`, with
//!   hookinit's values (`TMPDIR` is the scratch directory, when granted). argv is `[NAME]`. No
//!   stdin. stdout/stderr go to the container log (see `output.rs`).
//! - network: none through WASI (no socket address is allowed, no name lookup). Downloads go
//!   through the host's `fetch` import, allowed only to hosts named by `fetch=HOST` grants
//!   (`example.com` any port, `example.com:8443` that port), redirects included (anywhere, with
//!   the `any_redirect` grant), into a file under a `write=` grant; `file://` URLs and paths need
//!   a read grant instead.
//! - archives: the host's `unpack` import reads an archive under a `read=`/`write=` grant and
//!   writes under a `write=` grant.
//! - main process facts (pid, command, signal dispositions) are always readable: they are the
//!   plugin's business and leak nothing else (no /proc access is granted).
//! - executables: `process.resolve-executable` reads the `#!` line of a program under a read or
//!   write grant (of any program with the `any_program` grant).
//! - a scratch directory, when granted: made by the host (`$TMPDIR` or /tmp, else /dev/shm; mode
//!   0700, a fresh name), the plugin's `TMPDIR`, read-write, and where host services may write;
//!   removed when it is empty after pre-exec, else after the on-exit hooks or a failed start.
//!
//! Every plugin, the built-in ones included, gets exactly what its `Grants` say
//! (`PluginSpec::builtin` declares `verbose`'s and `fstree`'s); with `services_only`, the read and
//! write grants serve the host services and are no WASI preopens (a read-only preopen of `/`
//! would expose every file, and wasmtime refuses the absolute symlinks common in images).
//!
//! Limits per plugin ([`Limits`]): linear memory (64 MiB), a deadline per hook (pre-exec 30 s
//! unless the plugin's spec says otherwise, fstree's 10 min; on-exit 5 s; on-signal 50 ms; init
//! 30 s), log output per hook (64 KiB, lines cut at 2 KiB).
//! Paths handed to host services are checked after resolving symlinks of their existing part, so
//! a link inside a granted directory cannot point the host outside it.

use std::path::{Component, Path, PathBuf};

use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use std::sync::Arc;

use hookinit_init::config::plan::{Grants, PluginSpec};
pub use hookinit_init::plugin_process::Limits;
use hookinit_values::{HostGrant, Source, SourceError};

/// A `fetch-to-file` call the grants allow.
#[derive(Debug)]
pub struct FetchCall {
    /// What the fetch service is given: the URL, or the local path that was checked (never a
    /// `file://` URL, which the service would decode again).
    pub source: String,
    pub dest: PathBuf,
    /// The source is a local file, checked against the read grants.
    pub local: bool,
}

/// One plugin's grants, resolved (directories canonical, environment values read).
#[derive(Clone, Debug, Default)]
pub struct Sandbox {
    pub name: String,
    read: Vec<PathBuf>,
    write: Vec<PathBuf>,
    fetch: Vec<HostGrant>,
    /// The granted variables with hookinit's values (the plugin's WASI environment).
    env: Vec<(String, String)>,
    /// What was granted, as declared.
    grants: Grants,
    scratch: Option<Arc<Scratch>>,
}

/// A private directory made by the host for a plugin granted one; removed, with its content,
/// when the last handle is dropped.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A fresh directory (mode 0700) `hookinit-NAME-*` under `$TMPDIR` or /tmp, else /dev/shm.
    pub fn create(name: &str) -> Result<Scratch, String> {
        use std::os::unix::fs::DirBuilderExt;
        let mut bases = vec![std::env::temp_dir()];
        for extra in ["/tmp", "/dev/shm"] {
            if !bases.iter().any(|b| b == Path::new(extra)) {
                bases.push(PathBuf::from(extra));
            }
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut last = String::new();
        for base in &bases {
            for attempt in 0..4u32 {
                let path = base.join(format!(
                    "hookinit-{name}-{}-{:x}",
                    std::process::id(),
                    nanos.wrapping_add(attempt)
                ));
                match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                    Ok(()) => {
                        let path = std::fs::canonicalize(&path).unwrap_or(path);
                        return Ok(Scratch { path });
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => {
                        last = format!("{}: {e}", base.display());
                        break;
                    }
                }
            }
        }
        Err(format!(
            "no writable directory for temporary files ({last}); set TMPDIR"
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

impl Sandbox {
    /// Resolves `spec`'s grants. A granted directory that does not exist is an error (with
    /// `services_only`, grants may name files and paths not made yet: their existing part is
    /// resolved).
    pub fn new(spec: &PluginSpec) -> Result<Sandbox, String> {
        let grants = &spec.grants;
        let resolve = |list: &[PathBuf], what: &str| -> Result<Vec<PathBuf>, String> {
            list.iter()
                .map(|dir| {
                    let fail = |e: std::io::Error| format!("grant {what}={}: {e}", dir.display());
                    if grants.services_only {
                        return resolve_existing_prefix(dir).map_err(fail);
                    }
                    let real = std::fs::canonicalize(dir).map_err(fail)?;
                    if !real.is_dir() {
                        return Err(format!("grant {what}={}: not a directory", dir.display()));
                    }
                    Ok(real)
                })
                .collect()
        };
        let env = std::env::vars()
            .filter(|(name, _)| grants.sees_env(name))
            .collect();
        let mut sandbox = Sandbox {
            name: spec.name.clone(),
            read: resolve(&grants.read, "read")?,
            write: resolve(&grants.write, "write")?,
            fetch: grants.fetch.clone(),
            env,
            grants: grants.clone(),
            scratch: None,
        };
        if grants.scratch {
            let scratch = Scratch::create(&spec.name)?;
            // Host services may write there too (a download).
            sandbox.write.push(scratch.path().to_path_buf());
            sandbox.scratch = Some(Arc::new(scratch));
        }
        Ok(sandbox)
    }

    /// Removes the scratch directory: the plugin is done with it (the on-exit hooks ran, or
    /// the start failed).
    pub fn release_scratch(&mut self) {
        self.scratch = None;
    }

    /// Removes the scratch directory now if the plugin left nothing in it (the main process
    /// may never start, and then no on-exit hook comes to remove it).
    pub fn release_empty_scratch(&mut self) {
        if let Some(scratch) = &self.scratch
            && std::fs::remove_dir(scratch.path()).is_ok()
        {
            self.scratch = None;
        }
    }

    /// Whether `process.resolve-executable` may report on `path` (an absolute path).
    pub fn may_resolve(&self, path: &Path) -> bool {
        if self.grants.any_program {
            return true;
        }
        let Ok(real) = std::fs::canonicalize(path) else {
            return false;
        };
        self.read
            .iter()
            .chain(&self.write)
            .any(|root| real.starts_with(root))
    }

    /// The grants in one line, for the start-up log: `read=/a write=/b fetch=host env=X` or
    /// `no grants`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.read.iter().map(|d| format!("read={}", d.display())));
        parts.extend(self.write.iter().map(|d| format!("write={}", d.display())));
        parts.extend(self.fetch.iter().map(|h| format!("fetch={h}")));
        parts.extend(self.grants.env.iter().map(|k| format!("env={k}")));
        if self.grants.any_redirect {
            parts.push("redirects to any http(s) host".to_string());
        }
        if self.grants.any_program {
            parts.push("#! lines of any program".to_string());
        }
        if let Some(scratch) = &self.scratch {
            parts.push(format!("scratch={}", scratch.path().display()));
        }
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
        if let Some(scratch) = &self.scratch {
            // Where a plugin looks for its temporary files (std::env::temp_dir() and the like).
            b.env("TMPDIR", scratch.path().to_string_lossy());
        }
        let (read, write) = if self.grants.services_only {
            (&[][..], &[][..])
        } else {
            (&self.read[..], &self.write[..])
        };
        if let Some(scratch) = &self.scratch {
            let dir = scratch.path();
            let guest = dir.to_string_lossy();
            b.preopened_dir(dir, &*guest, FsPerms::ReadWrite)
                .map_err(|e| format!("scratch {}: {e}", dir.display()))?;
        }
        for dir in read {
            let guest = dir.to_string_lossy();
            b.preopened_dir(dir, &*guest, FsPerms::ReadOnly)
                .map_err(|e| format!("grant read={}: {e}", dir.display()))?;
        }
        for dir in write {
            let guest = dir.to_string_lossy();
            b.preopened_dir(dir, &*guest, FsPerms::ReadWrite)
                .map_err(|e| format!("grant write={}: {e}", dir.display()))?;
        }
        b.stdout(stdout).stderr(stderr);
        b.allow_ip_name_lookup(false);
        Ok(b.build())
    }

    /// Whether the plugin may see the main process's variable `name` (an `env=` grant).
    pub fn sees_env(&self, name: &str) -> bool {
        self.grants.sees_env(name)
    }

    /// The hosts `fetch` may reach for this plugin, for the fetch service's allow-list (which
    /// also applies it to redirects).
    pub fn fetch_hosts(&self) -> Option<Vec<HostGrant>> {
        (!self.grants.any_redirect).then(|| self.fetch.clone())
    }

    /// Checks a `fetch-to-file` call: what to hand the fetch service, and where it may write.
    pub fn check_fetch(&self, url: &str, dest: &str) -> Result<FetchCall, String> {
        let (source, local) = self.check_source(url)?;
        let dest = self.check_under(dest, &self.write, "write")?;
        Ok(FetchCall {
            source,
            dest,
            local,
        })
    }

    /// The source of a fetch: an http(s) URL to a granted host, or a readable local file, given
    /// back as the path that was checked (true for the latter).
    fn check_source(&self, url: &str) -> Result<(String, bool), String> {
        let path = match url.parse::<Source>() {
            Ok(Source::Http(http)) => {
                let (host, port) = http.host_port();
                if !self.fetch.iter().any(|grant| grant.allows(&host, port)) {
                    return Err(format!(
                        "denied: {host} is not granted to plugin {} (grant it with fetch={host})",
                        self.name
                    ));
                }
                return Ok((url.to_owned(), false));
            }
            Ok(Source::Path(path) | Source::File { path, .. }) => path,
            Err(SourceError::Scheme(scheme)) => {
                return Err(format!("denied: unsupported URL scheme {scheme}:"));
            }
            Err(e) => return Err(format!("denied: {url}: {e}")),
        };
        let utf8 = |path: PathBuf| {
            path.into_os_string()
                .into_string()
                .map_err(|p| format!("denied: {}: not a UTF-8 path", Path::new(&p).display()))
        };
        let checked = self.check_readable(&utf8(path)?)?;
        Ok((utf8(checked)?, true))
    }

    /// Checks an `unpack` call; returns (archive, destination directory). The grant is checked
    /// on the destination's real path, but the path is returned as given: the unpack refuses a
    /// destination that goes through a symlink rather than follow it (services/unpack.rs), and
    /// one without symlinks is its real path.
    pub fn check_unpack(&self, archive: &str, dest: &str) -> Result<(PathBuf, PathBuf), String> {
        let archive = self.check_readable(archive)?;
        self.check_under(dest, &self.write, "write")?;
        Ok((archive, PathBuf::from(dest)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use hookinit_init::config::plan::{Builtin, PluginSource};

    fn sandbox(read: &[&Path], write: &[&Path], fetch: &[&str]) -> Sandbox {
        let mut spec = PluginSpec::operator("t".into(), PluginSource::Path("/x.wasm".into()));
        spec.grants = Grants {
            read: read.iter().map(|p| p.to_path_buf()).collect(),
            write: write.iter().map(|p| p.to_path_buf()).collect(),
            fetch: fetch.iter().map(|s| s.parse().unwrap()).collect(),
            ..Grants::default()
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
        // The port of a grant is compared with the URL's effective port; a wildcard grants
        // subdomains (both were refused by the old string matching).
        let ported = sandbox(&[], &[dir.path()], &["example.com:443", "*.cdn.example"]);
        let dest = format!("{d}/a");
        assert!(ported.check_fetch("https://example.com/x", &dest).is_ok());
        assert!(ported.check_fetch("http://example.com/x", &dest).is_err());
        assert!(
            ported
                .check_fetch("https://eu.cdn.example/x", &dest)
                .is_ok()
        );
        assert!(ported.check_fetch("https://cdn.example/x", &dest).is_err());
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
    fn a_file_url_is_checked_as_the_path_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let grant = std::fs::canonicalize(dir.path()).unwrap();
        let g = grant.display();
        std::fs::create_dir(grant.join("a")).unwrap();
        std::fs::write(grant.join("a b.tar"), b"x").unwrap();
        let s = sandbox(&[], &[&grant], &[]);
        let dest = format!("{g}/out");
        // Percent-encoded dot segments and slashes: the fetch service decodes them, so they
        // are checked decoded (once read as a name inside the grant, they led out of it).
        for escape in [
            format!("file://{g}/%2e%2e/%2E%2E/etc/passwd"),
            format!("file://{g}/a%2F..%2F..%2F..%2Fetc%2Fpasswd"),
        ] {
            let e = s.check_fetch(&escape, &dest).unwrap_err();
            assert!(e.starts_with("denied"), "{escape}: {e}");
        }
        // The service is handed the path that was checked, not the URL.
        let call = s
            .check_fetch(&format!("file://{g}/a%20b.tar"), &dest)
            .unwrap();
        assert_eq!(call.source, format!("{g}/a b.tar"));
        assert!(call.local);
        let call = s.check_fetch(&format!("{g}/a b.tar"), &dest).unwrap();
        assert_eq!(
            (call.source.as_str(), call.local),
            (&*format!("{g}/a b.tar"), true)
        );
        let e = s.check_fetch("file://elsewhere/x", &dest).unwrap_err();
        assert!(e.starts_with("denied"), "{e}");
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

    fn builtin(b: Builtin, config: &[(&str, &str)]) -> Sandbox {
        let config = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Sandbox::new(&PluginSpec::builtin(b, config)).unwrap()
    }

    #[test]
    fn fstree_fixed_grants_for_a_url() {
        let dest = tempfile::tempdir().unwrap();
        let d = dest.path().to_str().unwrap();
        let mut s = builtin(
            Builtin::Fstree,
            &[("source", "https://Example.com:8443/x.tgz"), ("dest", d)],
        );
        assert_eq!(s.fetch, ["example.com:8443".parse().unwrap()]);
        assert_eq!(
            s.fetch_hosts(),
            None,
            "redirects may leave the source's host"
        );
        let scratch = s.scratch.as_ref().unwrap().path().to_path_buf();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&scratch).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let into = format!("{}/x.tgz", scratch.display());
        assert!(
            s.check_fetch("https://example.com:8443/x.tgz", &into)
                .is_ok()
        );
        assert!(s.check_fetch("https://other.com/x.tgz", &into).is_err());
        assert!(
            s.check_fetch("https://example.com:8443/x", "/etc/x")
                .is_err()
        );
        assert!(s.check_unpack(&into, d).is_ok());
        assert!(s.check_unpack(&into, "/etc").is_err());
        assert!(s.describe().contains("redirects to any http(s) host"));
        s.release_scratch();
        assert!(!scratch.exists());
    }

    #[test]
    fn fstree_fixed_grants_for_a_local_file() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tgz");
        std::fs::write(&archive, b"x").unwrap();
        let a = archive.to_str().unwrap();
        let s = builtin(Builtin::Fstree, &[("source", &format!("file://{a}"))]);
        assert!(s.scratch.is_none() && s.fetch.is_empty());
        assert!(s.check_unpack(a, "/srv/new").is_ok(), "dest defaults to /");
        let dest = tempfile::tempdir().unwrap();
        let d = dest.path().to_str().unwrap();
        let s = builtin(Builtin::Fstree, &[("source", a), ("dest", d)]);
        assert!(s.check_unpack(a, d).is_ok());
        let other = format!("{}/b.tgz", dir.path().display());
        assert!(
            s.check_unpack(&other, d).is_err(),
            "only the source is readable"
        );
        assert!(s.check_unpack(a, "/srv").is_err(), "only dest is writable");
    }

    #[test]
    fn verbose_fixed_grants() {
        let mut s = builtin(Builtin::Verbose, &[]);
        assert!(s.may_resolve(Path::new("/bin/sh")));
        let scratch = s.scratch.as_ref().unwrap().path().to_path_buf();
        assert!(s.fetch.is_empty() && s.read.is_empty());
        assert_eq!(
            s.write,
            std::slice::from_ref(&scratch),
            "only its scratch directory"
        );
        std::fs::write(scratch.join("bash_env"), b"PS4=x").unwrap();
        s.release_empty_scratch();
        assert!(scratch.exists(), "not empty: kept (bash reads BASH_ENV)");
        s.release_scratch();
        assert!(!scratch.exists());
        let mut s = builtin(Builtin::Verbose, &[]);
        let scratch = s.scratch.as_ref().unwrap().path().to_path_buf();
        s.release_empty_scratch();
        assert!(!scratch.exists());
        assert!(s.sees_env("ANYTHING"), "verbose is granted env=*");
        let r = tempfile::tempdir().unwrap();
        let operator = sandbox(&[r.path()], &[], &[]);
        assert!(!operator.may_resolve(Path::new("/bin/sh")));
        assert!(!operator.may_resolve(&r.path().join("missing")));
        std::fs::write(r.path().join("x"), b"").unwrap();
        assert!(operator.may_resolve(&r.path().join("x")));
    }
}
