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
//! - executables: `process.resolve-executable` reads the `#!` line of a program under a read or
//!   write grant (of any program for the built-in `verbose`).
//!
//! Built-in plugins carry fixed grants, derived from their configuration ([`Sandbox::new`]), and
//! get no WASI preopen but their scratch directory:
//! - `verbose`: may resolve any program and read its `#!` line (nothing else of the file system:
//!   a read-only preopen of `/` would expose every file, and wasmtime refuses the absolute
//!   symlinks that are common in images); a scratch directory (read-write) for the `BASH_ENV`
//!   file that gives bash, which ignores `PS4` from the environment when run as root, its `PS4`.
//! - `fstree`: fetch from the source's host (redirects followed to any http(s) host, as the
//!   operator's URL decides: GitHub's archive links redirect to another host), write on `dest`
//!   (`/` by default) and a scratch directory for the download, read on a local source.
//!
//! A scratch directory is made by the host (`$TMPDIR` or /tmp, else /dev/shm; mode 0700, a fresh
//! name), handed to the plugin as the configuration key `hookinit.scratch`, and removed with its
//! content when the plugin no longer needs it: fstree's after its pre-exec hook, verbose's after
//! the on-exit hooks (and every one when the start fails or the plugin is dropped).
//!
//! Limits per plugin ([`Limits`]): linear memory (64 MiB), a deadline per hook (pre-exec 30 s,
//! 10 min for built-ins; on-exit 5 s; on-signal 50 ms; init 30 s), log output per hook (64 KiB,
//! lines cut at 2 KiB).
//! Paths handed to host services are checked after resolving symlinks of their existing part, so
//! a link inside a granted directory cannot point the host outside it.

use std::path::{Component, Path, PathBuf};

use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use std::sync::Arc;

use hookinit_init::config::plan::{Builtin, PluginSource, PluginSpec};
use hookinit_init::plugin_process::Hook;
pub use hookinit_init::plugin_process::Limits;
use hookinit_values::{HostGrant, Source, SourceError};

/// The configuration key under which a built-in plugin finds its scratch directory.
pub const SCRATCH_KEY: &str = "hookinit.scratch";

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
    env: Vec<(String, String)>,
    /// Built-ins: the read and write grants are for host services only (no WASI preopen).
    services_only: bool,
    /// `process.resolve-executable` may look anywhere (the built-in verbose).
    resolve_any: bool,
    /// The names of the `env=` grants: the main process's variables the plugin may see.
    env_names: Vec<String>,
    /// Sees every variable of the main process's environment (the built-in verbose, which logs
    /// it with secrets hidden); others see only the names of their `env=` grants.
    env_all: bool,
    /// Redirects of an allowed URL may lead to any http(s) host (the built-in fstree).
    follow_any_redirect: bool,
    scratch: Option<Arc<Scratch>>,
    /// The last hook that needs the scratch directory.
    scratch_until: Option<Hook>,
}

/// A private directory made by the host for a built-in plugin; removed, with its content, when
/// the last handle is dropped.
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
    /// Resolves `spec`'s grants. A granted directory that does not exist is an error. Built-in
    /// plugins get their fixed grants instead (see the module documentation).
    pub fn new(spec: &PluginSpec) -> Result<Sandbox, String> {
        if let PluginSource::Builtin(builtin) = spec.source {
            return Sandbox::builtin(&spec.name, builtin, &spec.config);
        }
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
            fetch: spec.grants.fetch.clone(),
            env,
            env_names: spec.grants.env.clone(),
            ..Sandbox::default()
        })
    }

    /// The fixed grants of a built-in plugin, from its configuration.
    fn builtin(
        name: &str,
        builtin: Builtin,
        config: &[(String, String)],
    ) -> Result<Sandbox, String> {
        let get = |key: &str| {
            config
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let mut sandbox = Sandbox {
            name: name.to_string(),
            services_only: true,
            ..Sandbox::default()
        };
        match builtin {
            Builtin::Verbose => {
                sandbox.resolve_any = true;
                sandbox.env_all = true;
                // Without one, bash run as root traces without file:line; verbose says so.
                sandbox.scratch = Scratch::create(name).ok().map(Arc::new);
                sandbox.scratch_until = Some(Hook::OnExit);
            }
            Builtin::Fstree => {
                let text = get("source").ok_or("no source configured")?;
                let source: Source = text.parse().map_err(|e| format!("source={text}: {e}"))?;
                let dest = get("dest").unwrap_or("/");
                let dest = resolve_existing_prefix(Path::new(dest))
                    .map_err(|e| format!("dest={dest}: {e}"))?;
                sandbox.write.push(dest);
                match source {
                    Source::Http(url) => {
                        sandbox.fetch.push(HostGrant::for_url(&url));
                        sandbox.follow_any_redirect = true;
                        let scratch = Scratch::create(name)?;
                        sandbox.write.push(scratch.path().to_path_buf());
                        sandbox.scratch = Some(Arc::new(scratch));
                        sandbox.scratch_until = Some(Hook::PreExec);
                    }
                    Source::Path(path) | Source::File { path, .. } => {
                        let real = resolve_existing_prefix(&path)
                            .map_err(|e| format!("{}: {e}", path.display()))?;
                        sandbox.read.push(real);
                    }
                }
            }
        }
        Ok(sandbox)
    }

    /// Configuration the host adds for the plugin's `init` (a built-in's scratch directory).
    pub fn host_config(&self) -> Vec<(String, String)> {
        self.scratch
            .iter()
            .map(|s| {
                (
                    SCRATCH_KEY.to_string(),
                    s.path().to_string_lossy().into_owned(),
                )
            })
            .collect()
    }

    /// Removes the scratch directory once `hook` (or, with `None`, everything) is over and it
    /// was needed until then.
    pub fn release_scratch(&mut self, after: Option<Hook>) {
        if after.is_none() || after == self.scratch_until {
            self.scratch = None;
        }
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
        if self.resolve_any {
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
        parts.extend(self.env.iter().map(|(k, _)| format!("env={k}")));
        if self.follow_any_redirect {
            parts.push("redirects to any http(s) host".to_string());
        }
        if self.resolve_any {
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
        let (read, write) = if self.services_only {
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
        self.env_all || self.env_names.iter().any(|granted| granted == name)
    }

    /// The hosts `fetch` may reach for this plugin, for the fetch service's allow-list (which
    /// also applies it to redirects).
    pub fn fetch_hosts(&self) -> Option<Vec<HostGrant>> {
        (!self.follow_any_redirect).then(|| self.fetch.clone())
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
    use hookinit_init::config::plan::Grants;

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
                fetch: fetch.iter().map(|s| s.parse().unwrap()).collect(),
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
        assert_eq!(s.host_config()[0].0, SCRATCH_KEY);
        assert!(s.describe().contains("redirects to any http(s) host"));
        s.release_scratch(Some(Hook::OnExit));
        assert!(scratch.exists(), "fstree's scratch is for pre-exec only");
        s.release_scratch(Some(Hook::PreExec));
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
        assert!(s.fetch.is_empty() && s.read.is_empty() && s.write.is_empty());
        let scratch = s.scratch.as_ref().unwrap().path().to_path_buf();
        s.release_scratch(Some(Hook::PreExec));
        assert!(
            scratch.exists(),
            "verbose's BASH_ENV file lives until on-exit"
        );
        std::fs::write(scratch.join("bash_env"), b"PS4=x").unwrap();
        s.release_empty_scratch();
        assert!(scratch.exists(), "not empty: kept");
        s.release_scratch(None);
        assert!(!scratch.exists());
        let mut s = builtin(Builtin::Verbose, &[]);
        let scratch = s.scratch.as_ref().unwrap().path().to_path_buf();
        s.release_empty_scratch();
        assert!(!scratch.exists() && s.host_config().is_empty());
        let r = tempfile::tempdir().unwrap();
        let operator = sandbox(&[r.path()], &[], &[]);
        assert!(!operator.may_resolve(Path::new("/bin/sh")));
        assert!(!operator.may_resolve(&r.path().join("missing")));
        std::fs::write(r.path().join("x"), b"").unwrap();
        assert!(operator.may_resolve(&r.path().join("x")));
    }
}
