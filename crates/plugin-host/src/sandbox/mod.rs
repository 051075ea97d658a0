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

mod calls;
mod scratch;

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use hookinit_init::config::plan::{Grants, PluginSpec};
pub use hookinit_init::plugin_process::Limits;
use hookinit_values::HostGrant;

pub use calls::FetchCall;
use calls::resolve_existing_prefix;
pub use scratch::Scratch;

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
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use hookinit_init::config::plan::{Builtin, PluginSource};
    use std::path::Path;

    pub(crate) fn sandbox(read: &[&Path], write: &[&Path], fetch: &[&str]) -> Sandbox {
        let mut spec = PluginSpec::operator("t".into(), PluginSource::Path("/x.wasm".into()));
        spec.grants = Grants {
            read: read.iter().map(|p| p.to_path_buf()).collect(),
            write: write.iter().map(|p| p.to_path_buf()).collect(),
            fetch: fetch.iter().map(|s| s.parse().unwrap()).collect(),
            ..Grants::default()
        };
        Sandbox::new(&spec).unwrap()
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
