//! Content-addressed cache of compiled plugins: `.cwasm` files keyed by the component's sha256
//! and the engine's compatibility hash, in `$HOOKINIT_CACHE_DIR` or `/tmp/hookinit-cache`
//! (writable in a read-only image; fill it at image build time with `hookinit plugin compile`).
//!
//! A `.cwasm` is native code loaded without validation, so the cache only holds files hookinit
//! wrote itself: the directory must belong to hookinit's user (or root) and be writable by no
//! one else (it is created 0700), and so must each file; otherwise the cache is not used. Files are
//! written to a temporary name and renamed, so a loaded (mapped) file never changes.
//! Fetched components (`plugin=URL`) are kept under `wasm/` by their sha256.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hookinit_values::Sha256Pin;
use hookinit_values::show::hex;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled plugins are kept.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
}

/// The sha256 of `bytes`.
pub fn sha256_of(bytes: &[u8]) -> Sha256Pin {
    Sha256Pin::from_digest(Sha256::digest(bytes).into())
}

/// What identifies compiled code that this hookinit can load: 16 hex digits from the wasmtime
/// version, the architecture and the engine configuration (the source of engine.rs, which is
/// all of it). Builds with and without a compiler agree on it, so a cache filled by one serves
/// the other; wasmtime still checks each file's settings when it loads it.
pub fn engine_tag() -> String {
    let mut h = Sha256::new();
    h.update(b"wasmtime-48.0.8\0");
    h.update(std::env::consts::ARCH.as_bytes());
    h.update(b"\0");
    h.update(include_str!("engine.rs").as_bytes());
    hex(&h.finalize()[..8])
}

impl Cache {
    /// `$HOOKINIT_CACHE_DIR`, else `/tmp/hookinit-cache`.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("HOOKINIT_CACHE_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp/hookinit-cache"))
    }

    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file name for `wasm` compiled for this hookinit.
    pub fn key(wasm: &[u8]) -> String {
        format!("{}-{}.cwasm", sha256_of(wasm), engine_tag())
    }

    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// The cached compilation of `key`, if present, trusted and loadable.
    pub fn load(&self, engine: &Engine, key: &str) -> Option<Component> {
        let path = self.path(key);
        if !trusted(&self.dir, true).ok()? || !trusted(&path, false).ok()? {
            return None;
        }
        // SAFETY: the file was written by hookinit (owner and mode checked above, name derived
        // from the content and the engine settings); wasmtime also checks its version and
        // settings and refuses anything else.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                hookinit_init::warn!("plugin cache: ignoring {}: {e}", path.display());
                None
            }
        }
    }

    /// Stores `bytes` as `name` (atomically); returns the path.
    pub fn store(&self, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
        self.ensure_dir(&self.dir)?;
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            self.ensure_dir(parent)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all().ok();
        fs::rename(&tmp, &path).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })?;
        Ok(path)
    }

    /// A fetched component by its sha256, if present and trusted.
    pub fn fetched(&self, sha256: Sha256Pin) -> Option<Vec<u8>> {
        let path = self.dir.join("wasm").join(format!("{sha256}.wasm"));
        if !trusted(&path, false).ok()? {
            return None;
        }
        let bytes = fs::read(&path).ok()?;
        (sha256_of(&bytes) == sha256).then_some(bytes)
    }

    fn ensure_dir(&self, dir: &Path) -> std::io::Result<()> {
        match fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(dir)
        {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        if trusted(dir, true)? {
            Ok(())
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{} is not owned by this user or is writable by others",
                    dir.display()
                ),
            ))
        }
    }
}

/// Owned by our effective user or by root (a cache filled at image build time, read by a
/// non-root container user), not writable by group or others, of the expected kind.
fn trusted(path: &Path, dir: bool) -> std::io::Result<bool> {
    let meta = fs::symlink_metadata(path)?;
    let kind_ok = if dir { meta.is_dir() } else { meta.is_file() };
    let owner_ok = meta.uid() == nix::unistd::geteuid().as_raw() || meta.uid() == 0;
    Ok(kind_ok && owner_ok && meta.mode() & 0o022 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn stores_atomically_and_refuses_files_others_could_have_written() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("c"));
        let path = cache.store("x.cwasm", b"data").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"data");
        assert_eq!(
            fs::metadata(dir.path().join("c")).unwrap().mode() & 0o777,
            0o700
        );
        assert!(trusted(&path, false).unwrap());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        assert!(!trusted(&path, false).unwrap());
    }

    #[test]
    fn fetched_components_are_checked_against_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let sha = sha256_of(b"component");
        cache
            .store(&format!("wasm/{sha}.wasm"), b"component")
            .unwrap();
        assert_eq!(cache.fetched(sha).as_deref(), Some(&b"component"[..]));
        cache
            .store(&format!("wasm/{sha}.wasm"), b"tampered")
            .unwrap();
        assert_eq!(cache.fetched(sha), None);
    }
}
