//! The destination tree, and path resolution that never leaves it.
//!
//! Paths are resolved one component at a time from a directory fd of the destination, each
//! opened with `O_NOFOLLOW`; symlinks met on the way (already on disk or made by the archive) are
//! read and resolved here, and any that leads outside the destination is refused. The kernel
//! therefore never follows a link on our behalf, and an archive that makes `a -> /etc` and then
//! writes `a/passwd` cannot escape. The destination itself must not be, or go through, a
//! symlink: the operator gives its real path.

use std::collections::{HashSet, VecDeque};
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat, mkdirat};

use crate::UnpackError;
use crate::error::lossy;
use crate::undo::{self, Spot};

/// Like the kernel's ELOOP limit.
const MAX_SYMLINK_HOPS: u32 = 40;

/// Why a path could not be resolved inside the destination.
pub(crate) enum WalkError {
    Escape { link: Vec<u8>, target: Vec<u8> },
    Missing(Vec<u8>),
    NotDir(Vec<u8>),
    Loop(Vec<u8>),
    Io(Vec<u8>, Errno),
}

/// A resolved directory: an `O_PATH` fd and its real path below the root (no symlinks).
pub(crate) struct Walked {
    pub(crate) fd: OwnedFd,
    pub(crate) path: Vec<u8>,
}

pub(crate) struct Tree {
    root: OwnedFd,
    /// Canonical destination path: absolute symlink targets are resolved against it.
    pub(crate) dest: PathBuf,
    /// The topmost directory that opening the destination created, if it was missing: a
    /// failed unpack removes it.
    made: Option<PathBuf>,
}

impl Tree {
    /// Opens `dest`, creating what is missing, one component at a time from `/` with
    /// `O_NOFOLLOW`: a destination that is, or goes through, a symlink is refused rather than
    /// followed. The archive was meant for the path the operator wrote; where a link leads can
    /// change under them, and the real path is as easy to give (the error names it).
    pub(crate) fn open(dest: &Path) -> Result<Self, UnpackError> {
        let dest_err = |source| UnpackError::Dest {
            path: dest.to_path_buf(),
            source,
        };
        let absolute = std::path::absolute(dest).map_err(dest_err)?;
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let mut fd = nix::fcntl::open("/", flags, Mode::empty()).map_err(|e| dest_err(e.into()))?;
        let mut real = PathBuf::from("/");
        let mut made = None;
        for comp in absolute.components() {
            use std::path::Component as C;
            let name = match comp {
                C::Normal(name) => name,
                C::ParentDir => {
                    // Every component so far is a real directory: `..` is its parent.
                    real.pop();
                    fd = nix::fcntl::open(&real, flags, Mode::empty())
                        .map_err(|e| dest_err(e.into()))?;
                    continue;
                }
                C::RootDir | C::CurDir | C::Prefix(_) => continue,
            };
            let here = real.join(name);
            fd = match open_dir(fd.as_fd(), name.as_bytes()) {
                Ok(next) => next,
                Err(Errno::ENOENT) => {
                    match mkdirat(fd.as_fd(), name, Mode::from_bits_truncate(0o755)) {
                        Ok(()) => made = made.or_else(|| Some(here.clone())),
                        Err(Errno::EEXIST) => {}
                        Err(e) => return Err(dest_err(e.into())),
                    }
                    open_dir(fd.as_fd(), name.as_bytes()).map_err(|e| dest_err(e.into()))?
                }
                Err(Errno::ENOTDIR | Errno::ELOOP) => {
                    return Err(dest_link_error(dest, &absolute, &here, fd.as_fd(), name));
                }
                Err(e) => return Err(dest_err(e.into())),
            };
            real = here;
        }
        Ok(Tree {
            root: fd,
            dest: real,
            made,
        })
    }

    pub(crate) fn display(&self, rel: &[u8]) -> PathBuf {
        self.dest.join(OsStr::from_bytes(rel))
    }

    /// After a failed unpack: removes the destination if opening it created it.
    pub(crate) fn discard(&self, error: UnpackError) -> UnpackError {
        match self.made.as_deref().map(undo::remove_tree) {
            Some(Err(e)) => UnpackError::NotUndone {
                error: Box::new(error),
                detail: format!(
                    "{}: {e}",
                    self.made.as_deref().unwrap_or(&self.dest).display()
                ),
            },
            _ => error,
        }
    }

    /// Resolves `comps` to a directory below the root, creating missing directories when
    /// `create` (recording them in `created`).
    ///
    /// Each component is opened with `O_NOFOLLOW` relative to its parent's fd. A symlink is read
    /// and its target spliced into the remaining components: a relative target continues from
    /// the link's directory, an absolute one must lie under the destination's real path, and a
    /// `..` that would climb above the root is refused.
    pub(crate) fn walk(
        &self,
        comps: &[&[u8]],
        create: bool,
        created: &mut HashSet<Vec<u8>>,
    ) -> Result<Walked, WalkError> {
        let mut pending: VecDeque<Vec<u8>> = comps.iter().map(|c| c.to_vec()).collect();
        let mut stack: Vec<(Vec<u8>, OwnedFd)> = Vec::new();
        let mut last_link: Option<(Vec<u8>, Vec<u8>)> = None;
        let mut hops = 0;
        while let Some(name) = pending.pop_front() {
            if name.is_empty() || name == b"." {
                continue;
            }
            if name == b".." {
                if stack.pop().is_none() {
                    // Archive names never hold `..`, so it came from the last link followed.
                    let (link, target) = last_link.unwrap_or_default();
                    return Err(WalkError::Escape { link, target });
                }
                continue;
            }
            let parent = stack.last().map_or(self.root.as_fd(), |(_, fd)| fd.as_fd());
            let here = join_path(
                stack
                    .iter()
                    .map(|(n, _)| n.as_slice())
                    .chain([name.as_slice()]),
            );
            let fd = match open_dir(parent, &name) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) if create => {
                    match mkdirat(parent, name.as_slice(), Mode::from_bits_truncate(0o755)) {
                        // Only what we made is ours to remove again.
                        Ok(()) => drop(created.insert(here.clone())),
                        Err(Errno::EEXIST) => {}
                        Err(e) => return Err(WalkError::Io(here, e)),
                    }
                    open_dir(parent, &name).map_err(|e| WalkError::Io(here.clone(), e))?
                }
                Err(Errno::ENOENT) => return Err(WalkError::Missing(here)),
                Err(Errno::ENOTDIR | Errno::ELOOP) => {
                    let stat = fstatat(parent, name.as_slice(), AtFlags::AT_SYMLINK_NOFOLLOW)
                        .map_err(|e| WalkError::Io(here.clone(), e))?;
                    if file_type(&stat) != SFlag::S_IFLNK {
                        return Err(WalkError::NotDir(here));
                    }
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(WalkError::Loop(here));
                    }
                    let target = readlinkat(parent, name.as_slice())
                        .map_err(|e| WalkError::Io(here.clone(), e))?;
                    let target = target.into_encoded_bytes();
                    let rest = if target.first() == Some(&b'/') {
                        match Path::new(OsStr::from_bytes(&target)).strip_prefix(&self.dest) {
                            Ok(rest) => {
                                stack.clear();
                                rest.as_os_str().as_bytes().to_vec()
                            }
                            Err(_) => return Err(WalkError::Escape { link: here, target }),
                        }
                    } else {
                        target.clone()
                    };
                    for comp in rest.split(|&b| b == b'/').rev() {
                        pending.push_front(comp.to_vec());
                    }
                    last_link = Some((here, target));
                    continue;
                }
                Err(e) => return Err(WalkError::Io(here, e)),
            };
            stack.push((name, fd));
        }
        let path = join_path(stack.iter().map(|(n, _)| n.as_slice()));
        let fd = match stack.pop() {
            Some((_, fd)) => fd,
            None => self
                .root
                .try_clone()
                .map_err(|e| WalkError::Io(Vec::new(), io_errno(&e)))?,
        };
        Ok(Walked { fd, path })
    }

    /// The directory that will hold `rel`'s last component, resolved safely and created.
    /// `cache` keeps the last one: archives list a folder's files together.
    pub(crate) fn parent_dir<'c>(
        &self,
        cache: &'c mut Option<Parent>,
        created: &mut HashSet<Vec<u8>>,
        rel: &[&[u8]],
        entry: &str,
    ) -> Result<&'c Parent, UnpackError> {
        let dirs = &rel[..rel.len() - 1];
        let key = join_path(dirs.iter().copied());
        let parent = match cache.take() {
            Some(parent) if parent.key == key => parent,
            _ => {
                let walked = self
                    .walk(dirs, true, created)
                    .map_err(|e| self.walk_error(e, entry))?;
                let ours = self.made.is_some() || created.contains(&walked.path);
                Parent {
                    key,
                    fd: walked.fd,
                    path: walked.path,
                    ours,
                }
            }
        };
        Ok(cache.insert(parent))
    }

    pub(crate) fn walk_error(&self, e: WalkError, entry: &str) -> UnpackError {
        let entry = entry.to_string();
        match e {
            WalkError::Escape { link, target } => UnpackError::SymlinkEscape {
                entry,
                link: lossy(&link),
                target: lossy(&target),
                dest: self.dest.clone(),
            },
            WalkError::Missing(path) => UnpackError::Io {
                entry,
                path: self.display(&path),
                source: io::ErrorKind::NotFound.into(),
            },
            WalkError::NotDir(path) => UnpackError::NotADirectory {
                entry,
                path: self.display(&path),
            },
            WalkError::Loop(path) => UnpackError::Io {
                entry,
                path: self.display(&path),
                source: Errno::ELOOP.into(),
            },
            WalkError::Io(path, errno) => UnpackError::Io {
                entry,
                path: self.display(&path),
                source: errno.into(),
            },
        }
    }
}

/// Why `here`, a component of the destination path, could not be opened as a directory: it is
/// a symlink (refused, naming the path to give instead) or some other file.
fn dest_link_error(
    dest: &Path,
    absolute: &Path,
    here: &Path,
    parent: BorrowedFd<'_>,
    name: &OsStr,
) -> UnpackError {
    let Ok(target) = readlinkat(parent, name) else {
        return UnpackError::Dest {
            path: dest.to_path_buf(),
            source: Errno::ENOTDIR.into(),
        };
    };
    let rest = absolute.strip_prefix(here).unwrap_or(Path::new(""));
    let real = match fs::canonicalize(here) {
        Ok(real) if rest.as_os_str().is_empty() => real.display().to_string(),
        Ok(real) => real.join(rest).display().to_string(),
        Err(_) => "its real path".into(),
    };

    UnpackError::DestSymlink {
        dest: dest.to_path_buf(),
        link: here.to_path_buf(),
        target: PathBuf::from(target),
        real,
    }
}

fn open_dir(parent: BorrowedFd<'_>, name: &[u8]) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(parent, name, flags, Mode::empty())
}

pub(crate) fn file_type(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits())
}

fn io_errno(e: &io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

pub(crate) fn join_path<'a>(parts: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(part);
    }
    out
}

/// The last parent directory used: archives list a folder's files together, so this saves
/// resolving the same path again and again.
pub(crate) struct Parent {
    key: Vec<u8>,
    pub(crate) fd: OwnedFd,
    /// Its real path below the destination.
    path: Vec<u8>,
    /// Whether this unpack created it.
    ours: bool,
}

impl Parent {
    pub(crate) fn spot<'p>(&'p self, name: &'p [u8]) -> Spot<'p> {
        Spot {
            dir: self.fd.as_fd(),
            dir_path: &self.path,
            ours: self.ours,
            name,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use crate::{UnpackError, UnpackOptions, unpack};
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    #[test]
    fn symlinked_directories_inside_the_target_are_followed() {
        let sb = Sandbox::new();
        fs::create_dir_all(sb.dest.join("usr/lib")).expect("usr/lib");
        symlink("usr/lib", sb.dest.join("lib")).expect("merged /usr");
        let absolute = sb.dest.canonicalize().expect("canonical").join("usr");
        let items = [
            Dir("lib/"),
            File("lib/libx.so", b"elf", 0o644),
            Symlink("abs", absolute.to_str().expect("utf-8")),
            File("abs/y", b"y", 0o644),
        ];
        sb.unpack(&tar_of(&items), &defaults()).expect("unpack");
        assert!(
            fs::symlink_metadata(sb.dest.join("lib"))
                .expect("lib")
                .is_symlink(),
            "kept"
        );
        assert_eq!(
            fs::read(sb.dest.join("usr/lib/libx.so")).expect("libx"),
            b"elf"
        );
        assert_eq!(fs::read(sb.dest.join("usr/y")).expect("y"), b"y");
    }

    #[test]
    fn refuses_writing_through_a_symlink_to_root() {
        let sb = Sandbox::new();
        let escape = format!("hookinit-escape-{}", std::process::id());
        let inner = format!("a/tmp/{escape}");
        let err = sb.refused(
            &tar_of(&[Symlink("a", "/"), File(&inner, b"x", 0o644)]),
            &defaults(),
        );
        assert!(
            matches!(&err, UnpackError::SymlinkEscape { link, .. } if link == "a"),
            "{err}"
        );
        assert!(!Path::new("/tmp").join(&escape).exists());
    }

    #[test]
    fn refuses_writing_through_a_symlink_to_the_parent() {
        let sb = Sandbox::new();
        let err = sb.refused(
            &tar_of(&[Symlink("a", ".."), File("a/x", b"x", 0o644)]),
            &defaults(),
        );
        assert!(matches!(err, UnpackError::SymlinkEscape { .. }), "{err}");
    }

    #[test]
    fn refuses_writing_through_an_existing_symlink_that_leaves() {
        let sb = Sandbox::new();
        symlink("../outside", sb.dest.join("link")).expect("symlink");
        let opts = UnpackOptions {
            strip: Some(0),
            ..defaults()
        };
        let err = sb.refused(&tar_of(&[File("link/pwned", b"x", 0o644)]), &opts);
        assert!(matches!(err, UnpackError::SymlinkEscape { .. }), "{err}");
    }

    #[test]
    fn refuses_a_symlink_chain_that_leaves() {
        let sb = Sandbox::new();
        let items = [
            Dir("d/"),
            Symlink("d/up", ".."),
            Symlink("b", "d/up/d/up/.."),
            File("b/x", b"x", 0o644),
        ];
        let err = sb.refused(&tar_of(&items), &defaults());
        assert!(matches!(err, UnpackError::SymlinkEscape { .. }), "{err}");
    }

    /// Issue 17: a `dest` that was a symlink was followed.
    #[test]
    fn refuses_a_dest_that_is_a_symlink() {
        let sb = Sandbox::new();
        let link = sb.tmp.path().join("link");
        symlink("outside", &link).expect("symlink");
        let archive = sb.write_archive(&tar_of(&[File("x", b"x", 0o644)]));
        let err = unpack(&archive, &link, &defaults()).expect_err("followed a symlink dest");
        assert!(matches!(err, UnpackError::DestSymlink { .. }), "{err}");
        let real = sb.tmp.path().canonicalize().expect("tmp").join("outside");
        let message = err.to_string();
        assert!(message.contains("is a symlink (to outside)"), "{message}");
        assert!(
            message.ends_with(&format!("give the real path, {}", real.display())),
            "{message}"
        );
        assert!(!sb.tmp.path().join("outside/x").exists());
    }

    #[test]
    fn refuses_a_dest_whose_path_goes_through_a_symlink() {
        let sb = Sandbox::new();
        symlink("outside", sb.tmp.path().join("link")).expect("symlink");
        let archive = sb.write_archive(&tar_of(&[File("x", b"x", 0o644)]));
        let dest = sb.tmp.path().join("link/sub/deeper");
        let err = unpack(&archive, &dest, &defaults()).expect_err("followed a symlink");
        assert!(
            matches!(&err, UnpackError::DestSymlink { link, .. } if link.ends_with("link")),
            "{err}"
        );
        assert!(
            !sb.tmp.path().join("outside/sub").exists(),
            "nothing created"
        );
    }

    #[test]
    fn a_missing_dest_is_created() {
        let sb = Sandbox::new();
        let archive = sb.write_archive(&tar_of(&[File("x", b"x", 0o644)]));
        let dest = sb.dest.join("new/./deeper");
        let report = unpack(&archive, &dest, &defaults()).expect("unpack");
        assert_eq!(fs::read(sb.dest.join("new/deeper/x")).expect("x"), b"x");
        assert_eq!(report.dest, sb.dest.join("new/deeper"));
    }
}
