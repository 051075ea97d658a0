//! The host calls a plugin makes on files and hosts (fetch, unpack, resolve-executable), checked
//! against its grants: paths after resolving the symlinks of their existing part, so that a
//! link inside a granted directory cannot point the host outside it.

use std::path::{Component, Path, PathBuf};

use hookinit_values::{Source, SourceError};

use super::Sandbox;

/// A `fetch-to-file` call the grants allow.
#[derive(Debug)]
pub struct FetchCall {
    /// What the fetch service is given: the URL, or the local path that was checked (its real
    /// path, checked against the read grants).
    pub source: Source,
    pub dest: PathBuf,
}

impl Sandbox {
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

    /// Checks a `fetch-to-file` call: what to hand the fetch service, and where it may write.
    pub fn check_fetch(&self, url: &str, dest: &str) -> Result<FetchCall, String> {
        let source = self.check_source(url)?;
        let dest = self.check_under(dest, &self.write, "write")?;
        Ok(FetchCall { source, dest })
    }

    /// The source of a fetch: an http(s) URL to a granted host, or a readable local file, given
    /// back as the path that was checked.
    fn check_source(&self, url: &str) -> Result<Source, String> {
        let path = match url.parse::<Source>() {
            Ok(Source::Http(http)) => {
                let (host, port) = http.host_port();
                if !self.fetch.iter().any(|grant| grant.allows(&host, port)) {
                    return Err(format!(
                        "denied: {host} is not granted to plugin {} (grant it with fetch={host})",
                        self.name
                    ));
                }
                return Ok(Source::Http(http));
            }
            Ok(Source::Path(path) | Source::File { path, .. }) => path,
            Err(SourceError::Scheme(scheme)) => {
                return Err(format!("denied: unsupported URL scheme {scheme}:"));
            }
            Err(e) => return Err(format!("denied: {url}: {e}")),
        };
        let text = path
            .to_str()
            .ok_or_else(|| format!("denied: {}: not a UTF-8 path", path.display()))?;
        Ok(Source::Path(self.check_readable(text)?))
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
pub(super) fn resolve_existing_prefix(path: &Path) -> std::io::Result<PathBuf> {
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
    use super::super::tests::sandbox;
    use hookinit_values::Source;

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
        let checked = Source::Path(format!("{g}/a b.tar").into());
        assert_eq!(call.source, checked);
        let call = s.check_fetch(&format!("{g}/a b.tar"), &dest).unwrap();
        assert_eq!(call.source, checked);
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
}
