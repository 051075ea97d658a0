//! Root filesystems assembled in a temporary directory: scratch, busybox, with hookinit.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::commands::run_ok;
use super::elf::check_static;
use super::static_bin::static_hookinit;

/// Where hookinit lives in the test images, as in examples/Dockerfile.add-to-image.
pub const HOOKINIT_IN_IMAGE: &str = "/usr/local/bin/hookinit";
pub const BUSYBOX: &str = "/bin/busybox";

/// A root filesystem being assembled in a temporary directory (`DIR/rootfs`; `DIR` doubles as a
/// runc bundle and holds the tarball for `podman import`).
pub struct Rootfs {
    dir: tempfile::TempDir,
}

impl Rootfs {
    /// Nothing at all, not even hookinit: `FROM scratch`.
    pub fn scratch() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hookinit-e2e-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        Rootfs { dir }
    }

    /// A small distribution with hookinit: [`Rootfs::busybox_only`] plus the static hookinit in
    /// /usr/local/bin.
    pub fn busybox() -> Self {
        Rootfs::busybox_only().with_hookinit()
    }

    /// A small distribution: busybox-static with every applet linked in /bin, and the
    /// directories a runtime expects.
    pub fn busybox_only() -> Self {
        let rootfs = Rootfs::scratch();
        rootfs.copy(BUSYBOX, "/bin/busybox", 0o755);
        check_static(Path::new(BUSYBOX));
        let list = run_ok(Command::new(BUSYBOX).arg("--list"));
        for applet in list.lines().map(str::trim).filter(|a| !a.is_empty()) {
            if applet != "busybox" {
                rootfs.symlink("busybox", &format!("/bin/{applet}"));
            }
        }
        for dir in ["/proc", "/sys", "/dev", "/tmp", "/run", "/etc", "/root"] {
            rootfs.mkdir(dir);
        }
        std::fs::set_permissions(rootfs.path("/tmp"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        rootfs.file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644);
        rootfs.file("/etc/group", "root:x:0:\n", 0o644);
        rootfs
    }

    /// Adds the static hookinit as /usr/local/bin/hookinit.
    pub fn with_hookinit(self) -> Self {
        self.copy(static_hookinit(), HOOKINIT_IN_IMAGE, 0o755);
        self
    }

    /// The host path of `path` inside the root filesystem.
    pub fn path(&self, path: &str) -> PathBuf {
        self.root().join(path.trim_start_matches('/'))
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// The directory around the root filesystem (the runc bundle).
    pub fn bundle(&self) -> &Path {
        self.dir.path()
    }

    pub fn mkdir(&self, path: &str) -> &Self {
        std::fs::create_dir_all(self.path(path)).unwrap();
        self
    }

    fn parent_of(&self, path: &str) -> PathBuf {
        let host = self.path(path);
        std::fs::create_dir_all(host.parent().unwrap()).unwrap();
        host
    }

    /// Writes a file (e.g. an entrypoint script) with `mode`.
    pub fn file(&self, path: &str, contents: impl AsRef<[u8]>, mode: u32) -> &Self {
        let host = self.parent_of(path);
        std::fs::write(&host, contents).unwrap();
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    /// Copies a host file in.
    pub fn copy(&self, from: impl AsRef<Path>, path: &str, mode: u32) -> &Self {
        let host = self.parent_of(path);
        std::fs::copy(from.as_ref(), &host)
            .unwrap_or_else(|e| panic!("copy {} to {path}: {e}", from.as_ref().display()));
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    pub fn symlink(&self, target: &str, path: &str) -> &Self {
        let host = self.parent_of(path);
        std::os::unix::fs::symlink(target, host).unwrap();
        self
    }

    /// The root filesystem as a tarball (owned by root), for `podman import`.
    pub fn tarball(&self) -> PathBuf {
        let tar = self.dir.path().join("rootfs.tar");
        run_ok(
            Command::new("tar")
                .arg("-C")
                .arg(self.root())
                .args(["--numeric-owner", "--owner=0", "--group=0", "-cf"])
                .arg(&tar)
                .arg("."),
        );
        tar
    }
}
