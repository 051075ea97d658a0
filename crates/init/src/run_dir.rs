//! hookinit's run directory (`HOOKINIT_RUN_DIR`, default `/run/hookinit`): stayalive's `env` file
//! and the `hookinit ctl` socket live there.
//!
//! PID 1 uses it only if it is hookinit's own: made here (0700) or, if it exists, owned by
//! hookinit's user, not a symlink and writable by nobody else. The main process (perhaps another
//! user) may own `/run`; in a directory it can write to it could plant a symlink where PID 1, as
//! root, writes. So files are made beside the directory's fd, never through its path.

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, fstat};

pub const DEFAULT: &str = "/run/hookinit";

/// The run directory: `HOOKINIT_RUN_DIR` if set, else [`DEFAULT`]. PID 1 and `hookinit ctl` both
/// read it this way.
pub fn from_env(value: Option<OsString>) -> PathBuf {
    value.map_or_else(|| PathBuf::from(DEFAULT), PathBuf::from)
}

/// Opens `dir`, making it (mode 0700, parents as needed) when it is missing, and checks that it
/// is hookinit's own (see the module's doc). The error says what to do.
pub fn open(dir: &Path) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let opened = match nix::fcntl::open(dir, flags, Mode::empty()) {
        Err(Errno::ENOENT) => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
            nix::fcntl::open(dir, flags, Mode::empty())
        }
        other => other,
    };
    let fd = opened.map_err(|e| match e {
        Errno::ELOOP | Errno::ENOTDIR => io::Error::other(format!(
            "{} is a symlink or not a directory; hookinit writes only into a directory of its own",
            dir.display()
        )),
        e => e.into(),
    })?;
    let stat = fstat(&fd)?;
    let me = nix::unistd::geteuid().as_raw();
    if stat.st_uid != me || stat.st_mode & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "{} is owned by uid {} with mode {:o}; hookinit writes only into a directory it owns \
             that nobody else may write to (remove it, or set HOOKINIT_RUN_DIR to another)",
            dir.display(),
            stat.st_uid,
            stat.st_mode & 0o7777
        )));
    }
    Ok(fd)
}

/// What to do when the run directory cannot be used, for the lines that report it.
pub const HINT: &str = "for a read-only or non-root container, set HOOKINIT_RUN_DIR to a \
                        directory hookinit may make (or run with --tmpfs /run)";
