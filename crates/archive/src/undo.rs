//! All or nothing: what the writing pass changes, so that an unpack that fails part-way (a
//! corrupt zip entry, a refused symlink, a full disk) puts the destination back as it was.
//!
//! - Directories the unpack creates are removed with everything in them.
//! - In a directory that existed before, a new entry is recorded, and an entry in its way
//!   (never a directory) is not unlinked but renamed aside in its own directory, under a name no
//!   archive can predict: a rename within a directory never crosses file systems, is as cheap
//!   as the unlink it replaces, and keeps the inode (content, owner, mode, times, hard links).
//!   Success unlinks the entries set aside; failure removes what was made and renames them
//!   back.
//! - Directories that existed keep their mode and owner either way (the writing pass never
//!   changes them); only their timestamps may differ afterwards.
//!
//! Unpacking into an empty or new destination (the common case) records nothing but the
//! directories it creates. An unpack killed part-way (SIGKILL, power loss) cannot undo: entries
//! set aside are then left as `.hookinit-undo-*` next to the ones that replaced them.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::hash::BuildHasher;
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, renameat};
use nix::sys::stat::{SFlag, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};

use super::{ReplaceError, Tree, file_type, join_path};

/// Where a new entry goes.
pub(super) struct Spot<'a> {
    pub dir: BorrowedFd<'a>,
    /// The directory's real path below the destination.
    pub dir_path: &'a [u8],
    /// Whether this unpack created the directory (nothing in it needs keeping).
    pub ours: bool,
    pub name: &'a [u8],
}

impl Spot<'_> {
    fn path(&self) -> Vec<u8> {
        join_path(
            [self.dir_path, self.name]
                .into_iter()
                .filter(|p| !p.is_empty()),
        )
    }
}

pub(super) struct Journal {
    /// Entries made in directories that existed before, by real path below the destination,
    /// with the name (in the same directory) of the entry they replaced, if any.
    touched: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// Random, so that an archive cannot name an entry after one we will set aside.
    token: u64,
    next: u64,
}

impl Journal {
    pub fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Journal {
            touched: HashMap::new(),
            token: RandomState::new().hash_one(nanos),
            next: 0,
        }
    }

    /// Runs `make` to create the entry at `spot`; if something is in the way, moves it aside
    /// (or unlinks it when this unpack made it) and tries once more. Returns what `make` gave
    /// and whether a symlink was in the way.
    pub fn make<T>(
        &mut self,
        spot: &Spot<'_>,
        make: impl Fn() -> nix::Result<T>,
    ) -> Result<(T, bool), ReplaceError> {
        let made = match make() {
            Ok(value) => (value, false),
            Err(Errno::EEXIST) => {
                let was_link = self.clear(spot)?;
                (make().map_err(ReplaceError::Sys)?, was_link)
            }
            Err(e) => return Err(ReplaceError::Sys(e)),
        };
        if !spot.ours {
            self.touched.entry(spot.path()).or_insert(None);
        }
        Ok(made)
    }

    /// Makes way at `spot`; returns whether the entry there was a symlink.
    fn clear(&mut self, spot: &Spot<'_>) -> Result<bool, ReplaceError> {
        let no_follow = AtFlags::AT_SYMLINK_NOFOLLOW;
        let stat = fstatat(spot.dir, spot.name, no_follow).map_err(ReplaceError::Sys)?;
        let kind = file_type(&stat);
        if kind == SFlag::S_IFDIR {
            return Err(ReplaceError::IsDir);
        }
        let path = spot.path();
        if spot.ours || self.touched.contains_key(&path) {
            unlinkat(spot.dir, spot.name, UnlinkatFlags::NoRemoveDir).map_err(ReplaceError::Sys)?;
        } else {
            let aside = self.free_name(spot.dir)?;
            renameat(spot.dir, spot.name, spot.dir, aside.as_slice()).map_err(ReplaceError::Sys)?;
            self.touched.insert(path, Some(aside));
        }
        Ok(kind == SFlag::S_IFLNK)
    }

    fn free_name(&mut self, dir: BorrowedFd<'_>) -> Result<Vec<u8>, ReplaceError> {
        loop {
            self.next += 1;
            let name = format!(".hookinit-undo-{:016x}-{}", self.token, self.next).into_bytes();
            match fstatat(dir, name.as_slice(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Err(Errno::ENOENT) => return Ok(name),
                Ok(_) => {}
                Err(e) => return Err(ReplaceError::Sys(e)),
            }
        }
    }

    /// The unpack succeeded: drops the entries set aside. Best effort: one that cannot be
    /// removed stays, under its `.hookinit-undo-` name.
    pub fn commit(self, tree: &Tree) {
        let mut set_aside: Vec<(&[u8], &[u8])> = (self.touched.iter())
            .filter_map(|(path, aside)| Some((split(path).0, aside.as_deref()?)))
            .collect();
        // By directory, so that each is opened once.
        set_aside.sort_unstable();
        let mut open: Option<(&[u8], std::os::fd::OwnedFd)> = None;
        for (dir, aside) in set_aside {
            if open.as_ref().is_none_or(|(path, _)| *path != dir) {
                open = open_real_dir(tree, dir).ok().map(|fd| (dir, fd));
            }
            if let Some((_, fd)) = &open {
                let _ = unlinkat(fd, aside, UnlinkatFlags::NoRemoveDir);
            }
        }
    }

    /// The unpack failed: removes what it made and puts back what it set aside, then removes the
    /// directories it created (`created`, real paths below the destination). Goes on after an
    /// error and returns the first.
    pub fn undo(self, tree: &Tree, created: &HashSet<Vec<u8>>) -> Result<(), String> {
        let mut first = None;
        let mut note = |what: &[u8], e: io::Error| {
            first.get_or_insert_with(|| format!("{}: {e}", tree.display(what).display()));
        };
        for (path, aside) in &self.touched {
            if let Err(e) = restore(tree, path, aside.as_deref()) {
                note(path, e);
            }
        }
        // Only the topmost: removing them removes the rest.
        for path in created {
            let (parent, _) = split(path);
            if !created.contains(parent)
                && let Err(e) = remove_tree(&tree.display(path))
            {
                note(path, e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// Removes the entry at `path` and renames `aside` (in the same directory) back to it.
fn restore(tree: &Tree, path: &[u8], aside: Option<&[u8]>) -> io::Result<()> {
    let (dir, name) = split(path);
    let fd = open_real_dir(tree, dir)?;
    match unlinkat(&fd, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(aside) = aside {
        renameat(&fd, aside, &fd, name)?;
    }
    Ok(())
}

/// Opens a directory by its real path below the destination (no symlink on the way).
fn open_real_dir(tree: &Tree, dir: &[u8]) -> io::Result<std::os::fd::OwnedFd> {
    let comps: Vec<&[u8]> = dir
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    let walked = tree
        .walk(&comps, false, &mut HashSet::new())
        .map_err(|_| io::Error::from(io::ErrorKind::NotFound))?;
    Ok(walked.fd)
}

/// Directory and last component of a real path below the destination.
fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

/// Removes a directory this unpack created, with its content. `remove_dir_all` never follows a
/// symlink inside; a directory the archive made read-only is opened up first when that stops
/// a non-root unpacker.
pub(super) fn remove_tree(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            open_up(path);
            fs::remove_dir_all(path)
        }
        other => other,
    }
}

fn open_up(dir: &Path) {
    let is_dir = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    if !is_dir(dir) {
        return;
    }
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        open_up(&entry.path());
    }
}
