//! Names unique to a test and a run, and the sweep of what killed runs left behind.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::commands::{PODMAN_GLOBAL, podman, runc};

static COUNTER: AtomicUsize = AtomicUsize::new(0);
const PREFIX: &str = "hookinit-e2e-";

/// A name no other test (or concurrent run) uses: `hookinit-e2e-PID-N-TAG`.
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{PREFIX}{}-{n}-{tag}", std::process::id())
}

/// The pid in a name made by [`unique_name`], if `name` is one.
fn owner_pid(name: &str) -> Option<u32> {
    let name = name.rsplit('/').next()?; // localhost/hookinit-e2e-...:latest
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

fn owner_is_gone(name: &str) -> bool {
    owner_pid(name).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
}

/// Removes containers, images and runc containers left by earlier runs that were killed before
/// their guards ran (their owner pid is gone). Concurrent runs are left alone.
pub(super) fn sweep_leftovers() {
    if let Ok(out) = Command::new("podman")
        .args(PODMAN_GLOBAL)
        .args(["ps", "-a", "--format", "{{.Names}}"])
        .output()
    {
        for name in String::from_utf8_lossy(&out.stdout).lines() {
            if owner_is_gone(name) {
                let _ = podman()
                    .args(["rm", "-f", "-t", "0", name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
    if let Ok(out) = Command::new("podman")
        .args(PODMAN_GLOBAL)
        .args(["images", "--format", "{{.Repository}}"])
        .output()
    {
        for name in String::from_utf8_lossy(&out.stdout).lines() {
            if owner_is_gone(name) {
                let _ = podman()
                    .args(["rmi", "-f", name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
    if let Ok(out) = Command::new("runc").args(["list", "-q"]).output() {
        for id in String::from_utf8_lossy(&out.stdout).lines() {
            if owner_is_gone(id) {
                let _ = runc()
                    .args(["delete", "-f", id])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}
