//! Scratch directories: private, made by the host for a plugin granted one, removed with it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Every scratch directory that exists, so that the plugin process can remove them all and exit
/// at once when PID 1 is leaving, instead of tearing every plugin down first.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

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
                        live().push(path.clone());
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

    /// Removes every scratch directory still there (the process is about to exit).
    pub fn remove_all() {
        for path in live().drain(..) {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        live().retain(|p| p != &self.path);
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}
