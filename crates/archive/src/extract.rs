//! The writing pass: entries written over the destination, all or nothing. What only this pass
//! can find (a symlink leading out, a file over a directory, a bad zip CRC, a full disk) undoes
//! what it wrote, and the destination is left as it was (`undo` says how; only directory times
//! may differ).
//!
//! - Files are replaced by `O_CREAT|O_EXCL|O_NOFOLLOW` after what was there is moved aside, so an
//!   existing symlink or hard link at the destination is replaced, not followed. A directory is
//!   never replaced, and one that existed keeps its mode and owner.
//! - Symlink entries themselves may point anywhere (`/usr/bin/x -> /etc/alternatives/x` is normal
//!   in a root filesystem): they are created, never written through.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstatat};
use nix::unistd::{UnlinkatFlags, linkat, symlinkat, unlinkat};

use crate::UnpackError;
use crate::entry::{Head, Kind, Meta};
use crate::error::lossy;
use crate::limits::components;
use crate::meta::{set_meta, symlink_meta};
use crate::tree::{Parent, Tree, WalkError, file_type, join_path};
use crate::undo::Journal;
use crate::unpack::{BUF_SIZE, Job};

/// What the writing pass wrote, for the report.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) files: u64,
    pub(crate) dirs: u64,
    pub(crate) symlinks: u64,
    pub(crate) hardlinks: u64,
    pub(crate) bytes: u64,
    pub(crate) owner_not_kept: u64,
}

/// A directory we created, whose mode, owner and mtime are applied at the end (a read-only
/// directory must stay writable while its content is unpacked, and writing into a directory
/// changes its mtime).
struct LateDir {
    path: Vec<u8>,
    entry: String,
    meta: Meta,
}

pub(crate) struct Extractor<'t> {
    tree: &'t Tree,
    archive: &'t Path,
    strip: usize,
    same_owner: bool,
    parent: Option<Parent>,
    created: HashSet<Vec<u8>>,
    late_dirs: Vec<LateDir>,
    journal: Journal,
    buf: Vec<u8>,
    stats: Stats,
}

impl<'t> Extractor<'t> {
    pub(crate) fn new(tree: &'t Tree, job: &Job<'t>, strip: u32) -> Self {
        Extractor {
            tree,
            archive: job.archive,
            strip: usize::try_from(strip).unwrap_or(usize::MAX),
            same_owner: job.opts.same_owner,
            parent: None,
            created: HashSet::new(),
            late_dirs: Vec::new(),
            journal: Journal::new(),
            buf: vec![0; BUF_SIZE],
            stats: Stats::default(),
        }
    }

    pub(crate) fn entry(
        &mut self,
        head: &Head,
        comps: &[&[u8]],
        data: &mut dyn Read,
    ) -> Result<(), UnpackError> {
        let Some(rel) = comps.get(self.strip..).filter(|rel| !rel.is_empty()) else {
            return Ok(()); // stripped away, like tar --strip-components
        };
        match &head.kind {
            Kind::Dir => self.dir(head, rel),
            Kind::File => self.file(head, rel, data),
            Kind::Symlink(target) => self.symlink(head, rel, target),
            Kind::Hardlink(target) => self.hardlink(head, rel, target),
            // `admit` refused these already.
            Kind::Special(_) | Kind::Unsupported(_) => Ok(()),
        }
    }

    fn io_error(&self, entry: &str, rel: &[&[u8]], source: impl Into<io::Error>) -> UnpackError {
        let path = self.tree.display(&join_path(rel.iter().copied()));
        UnpackError::Io {
            entry: entry.to_string(),
            path,
            source: source.into(),
        }
    }

    fn dir(&mut self, head: &Head, rel: &[&[u8]]) -> Result<(), UnpackError> {
        let entry = head.display_name();
        // Resolved like any path: an existing symlink to a directory inside the destination is
        // kept (merged /usr: `lib -> usr/lib`), like tar --keep-directory-symlink.
        let walked = self
            .tree
            .walk(rel, true, &mut self.created)
            .map_err(|e| self.tree.walk_error(e, &entry))?;
        // Directories that were already there keep their mode and owner: a patch that lists
        // `etc/` must not loosen /etc. Ours get the archive's metadata at the end.
        if self.created.contains(&walked.path) {
            self.late_dirs.push(LateDir {
                path: walked.path,
                entry,
                meta: head.meta,
            });
        }
        self.stats.dirs += 1;
        Ok(())
    }

    fn file(&mut self, head: &Head, rel: &[&[u8]], data: &mut dyn Read) -> Result<(), UnpackError> {
        let entry = head.display_name();
        let name = rel[rel.len() - 1];
        let same_owner = self.same_owner;
        let parent = self
            .tree
            .parent_dir(&mut self.parent, &mut self.created, rel, &entry)?;
        let dir = parent.fd.as_fd();
        let created = self
            .journal
            .make(&parent.spot(name), || create_file(dir, name));
        let (fd, replaced_link) = match created {
            Ok(done) => done,
            Err(e) => return Err(self.replace_error(e, &entry, rel)),
        };
        let mut file = File::from(fd);
        let written = match copy_exact(data, &mut file, head.size, &mut self.buf) {
            Ok(n) => n,
            Err(e) => {
                // Leave no half-written file behind (a zip entry can fail its CRC at the end).
                drop(file);
                let _ = unlinkat(dir, name, UnlinkatFlags::NoRemoveDir);
                return Err(self.copy_error(e, &entry, rel, head.size));
            }
        };
        let kept = set_meta(file.as_fd(), &head.meta, same_owner)
            .map_err(|e| self.io_error(&entry, rel, e))?
            .both();
        drop(file);
        if replaced_link {
            self.parent = None;
        }
        self.count_owner(&head.meta, kept);
        self.stats.files += 1;
        self.stats.bytes += written;
        Ok(())
    }

    fn copy_error(&self, e: CopyError, entry: &str, rel: &[&[u8]], size: u64) -> UnpackError {
        let detail = match e {
            CopyError::Write(e) => return self.io_error(entry, rel, e),
            CopyError::Read(e) => format!("reading entry {entry:?}: {e}"),
            CopyError::Short(n) => format!("entry {entry:?} ends after {n} of {size} bytes"),
            CopyError::Long => format!("entry {entry:?} is longer than its declared {size} bytes"),
        };
        UnpackError::Corrupt {
            path: self.archive.to_path_buf(),
            detail,
        }
    }

    fn replace_error(&self, e: ReplaceError, entry: &str, rel: &[&[u8]]) -> UnpackError {
        match e {
            ReplaceError::IsDir => UnpackError::IsADirectory {
                entry: entry.to_string(),
                path: self.tree.display(&join_path(rel.iter().copied())),
            },
            ReplaceError::Sys(errno) => self.io_error(entry, rel, errno),
        }
    }

    fn count_owner(&mut self, meta: &Meta, kept: bool) {
        if self.same_owner && meta.owner.is_some() && !kept {
            self.stats.owner_not_kept += 1;
        }
    }

    fn symlink(&mut self, head: &Head, rel: &[&[u8]], target: &[u8]) -> Result<(), UnpackError> {
        let entry = head.display_name();
        if target.is_empty() {
            return Err(UnpackError::Unsupported {
                entry,
                detail: "a symlink with an empty target".into(),
            });
        }
        let name = rel[rel.len() - 1];
        let same_owner = self.same_owner;
        let parent = self
            .tree
            .parent_dir(&mut self.parent, &mut self.created, rel, &entry)?;
        let dir = parent.fd.as_fd();
        let made = (self.journal).make(&parent.spot(name), || symlinkat(target, dir, name));
        let kept = match made {
            Ok(_) => symlink_meta(dir, name, &head.meta, same_owner),
            Err(e) => return Err(self.replace_error(e, &entry, rel)),
        };
        // Paths below a replaced or new symlink resolve differently now.
        self.parent = None;
        self.count_owner(&head.meta, kept);
        self.stats.symlinks += 1;
        Ok(())
    }

    fn hardlink(
        &mut self,
        head: &Head,
        rel: &[&[u8]],
        target_raw: &[u8],
    ) -> Result<(), UnpackError> {
        let entry = head.display_name();
        let target = lossy(target_raw);
        let refuse = |reason| UnpackError::HardlinkTarget {
            entry: entry.clone(),
            target: target.clone(),
            reason,
        };
        // `admit` refused absolute and `..` targets; the target is stripped like entry names.
        let comps = components(target_raw).unwrap_or_default();
        let Some(target_rel) = comps.get(self.strip..).filter(|t| !t.is_empty()) else {
            return Err(refuse("is removed by the strip level"));
        };
        let (target_name, target_dirs) =
            target_rel.split_last().ok_or_else(|| refuse("is empty"))?;
        let source = match self.tree.walk(target_dirs, false, &mut self.created) {
            Ok(walked) => walked.fd,
            Err(WalkError::Escape { .. }) => {
                return Err(UnpackError::HardlinkEscape { entry, target });
            }
            Err(WalkError::Missing(_)) => return Err(refuse("does not exist")),
            Err(e) => return Err(self.tree.walk_error(e, &entry)),
        };
        let stat = match fstatat(source.as_fd(), *target_name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) if file_type(&stat) == SFlag::S_IFREG => stat,
            Ok(_) => return Err(refuse("is not a regular file")),
            Err(Errno::ENOENT) => return Err(refuse("does not exist")),
            Err(e) => return Err(self.io_error(&entry, rel, e)),
        };
        let name = rel[rel.len() - 1];
        let parent = self
            .tree
            .parent_dir(&mut self.parent, &mut self.created, rel, &entry)?;
        let dir = parent.fd.as_fd();
        // A hard link to itself (or to a file it already is) is done; unlinking it first would
        // delete the only copy.
        if let Ok(existing) = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
            && (existing.st_dev, existing.st_ino) == (stat.st_dev, stat.st_ino)
        {
            self.stats.hardlinks += 1;
            return Ok(());
        }
        let linked = self.journal.make(&parent.spot(name), || {
            linkat(source.as_fd(), *target_name, dir, name, AtFlags::empty())
        });
        match linked {
            Ok(((), replaced_link)) => {
                if replaced_link {
                    self.parent = None;
                }
                self.stats.hardlinks += 1;
                Ok(())
            }
            Err(e) => Err(self.replace_error(e, &entry, rel)),
        }
    }

    /// Ends the writing pass: on success applies the directories' metadata and drops what was
    /// set aside; on failure puts the destination back as it was (see `undo`).
    pub(crate) fn conclude(
        mut self,
        written: Result<(), UnpackError>,
    ) -> Result<Stats, UnpackError> {
        match written.and_then(|()| self.apply_late_dirs()) {
            Ok(()) => {
                self.journal.commit(self.tree);
                Ok(self.stats)
            }
            Err(error) => match self.journal.undo(self.tree, &self.created) {
                Ok(()) => Err(error),
                Err(detail) => Err(UnpackError::NotUndone {
                    error: Box::new(error),
                    detail,
                }),
            },
        }
    }

    /// Applies the metadata of the directories we created, deepest first so that a read-only
    /// parent does not stop us reaching its children.
    fn apply_late_dirs(&mut self) -> Result<(), UnpackError> {
        let late_dirs = std::mem::take(&mut self.late_dirs);
        for dir in late_dirs.iter().rev() {
            let comps: Vec<&[u8]> = dir.path.split(|&b| b == b'/').collect();
            let Some((name, parents)) = comps.split_last() else {
                continue;
            };
            let walked = self
                .tree
                .walk(parents, false, &mut self.created)
                .map_err(|e| self.tree.walk_error(e, &dir.entry))?;
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let fd = openat(walked.fd.as_fd(), *name, flags, Mode::empty())
                .map_err(|e| self.io_error(&dir.entry, &comps, e))?;
            let kept = set_meta(fd.as_fd(), &dir.meta, self.same_owner)
                .map_err(|e| self.io_error(&dir.entry, &comps, e))?
                .both();
            self.count_owner(&dir.meta, kept);
        }
        Ok(())
    }
}

pub(crate) enum ReplaceError {
    IsDir,
    Sys(Errno),
}

/// A new, empty regular file `name` in `dir`. `O_EXCL|O_NOFOLLOW` means we never open (and
/// write through) an existing file or link: what is in the way is cleared by [`Journal::make`].
fn create_file(dir: BorrowedFd<'_>, name: &[u8]) -> nix::Result<OwnedFd> {
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(dir, name, flags, Mode::from_bits_truncate(0o600))
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
    Short(u64),
    Long,
}

/// Copies exactly `size` bytes. The extra read at the end makes the zip reader reach its end
/// (where it checks the CRC) and catches a zip entry longer than its declared size.
fn copy_exact(
    data: &mut dyn Read,
    file: &mut File,
    size: u64,
    buf: &mut [u8],
) -> Result<u64, CopyError> {
    let mut done = 0u64;
    while done < size {
        let want = buf
            .len()
            .min(usize::try_from(size - done).unwrap_or(usize::MAX));
        let n = match data.read(&mut buf[..want]) {
            Ok(0) => return Err(CopyError::Short(done)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        file.write_all(&buf[..n]).map_err(CopyError::Write)?;
        done += n as u64;
    }
    let mut probe = [0u8; 1];
    loop {
        match data.read(&mut probe) {
            Ok(0) => return Ok(done),
            Ok(_) => return Err(CopyError::Long),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CopyError::Read(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
    use tar::EntryType;

    #[test]
    fn overwrite_replaces_content_and_mode() {
        let sb = Sandbox::new();
        fs::create_dir(sb.dest.join("bin")).expect("bin");
        fs::write(sb.dest.join("bin/run"), "old content that is longer").expect("old");
        fs::set_permissions(sb.dest.join("bin/run"), fs::Permissions::from_mode(0o600))
            .expect("chmod");
        sb.unpack(&tar_of(&github_items()), &defaults())
            .expect("unpack");
        assert_eq!(
            fs::read(sb.dest.join("bin/run")).expect("run"),
            b"#!/bin/sh\necho hi\n"
        );
        assert_eq!(
            fs::metadata(sb.dest.join("bin/run")).expect("run").mode() & 0o7777,
            0o755
        );
    }

    #[test]
    fn overwrite_replaces_a_symlink_instead_of_following_it() {
        let sb = Sandbox::new();
        symlink("../outside/keep", sb.dest.join("conf")).expect("symlink");
        sb.unpack(&tar_of(&[File("conf", b"new", 0o644)]), &defaults())
            .expect("unpack");
        assert_eq!(fs::read(sb.dest.join("conf")).expect("conf"), b"new");
        assert!(
            fs::symlink_metadata(sb.dest.join("conf"))
                .expect("conf")
                .is_file()
        );
        assert_eq!(
            fs::read(sb.tmp.path().join("outside/keep")).expect("keep"),
            b"keep"
        );
    }

    #[test]
    fn existing_directories_keep_their_mode_new_ones_get_the_archives() {
        let sb = Sandbox::new();
        fs::create_dir(sb.dest.join("etc")).expect("etc");
        fs::set_permissions(sb.dest.join("etc"), fs::Permissions::from_mode(0o700)).expect("chmod");
        let mut ro = header("ro/", EntryType::Directory, 0, 0o555, "");
        ro.set_cksum();
        let mut tar = tar::Builder::new(Vec::new());
        tar.append(
            &header("etc/", EntryType::Directory, 0, 0o777, ""),
            io::empty(),
        )
        .expect("etc");
        tar.append(&ro, io::empty()).expect("ro");
        tar.append(&header("ro/f", EntryType::Regular, 1, 0o644, ""), &b"f"[..])
            .expect("f");
        sb.unpack(&tar.into_inner().expect("tar"), &defaults())
            .expect("unpack");
        assert_eq!(
            fs::metadata(sb.dest.join("etc")).expect("etc").mode() & 0o7777,
            0o700
        );
        assert_eq!(
            fs::metadata(sb.dest.join("ro")).expect("ro").mode() & 0o7777,
            0o555
        );
        assert_eq!(fs::read(sb.dest.join("ro/f")).expect("f"), b"f");
        fs::set_permissions(sb.dest.join("ro"), fs::Permissions::from_mode(0o755))
            .expect("cleanup");
    }

    #[test]
    fn hardlinks_inside_the_target_share_the_inode() {
        let sb = Sandbox::new();
        let items = [
            File("a", b"data", 0o644),
            Hardlink("b", "a"),
            Hardlink("a", "a"),
        ];
        let report = sb.unpack(&tar_of(&items), &defaults()).expect("unpack");
        let (a, b) = (
            fs::metadata(sb.dest.join("a")).expect("a"),
            fs::metadata(sb.dest.join("b")).expect("b"),
        );
        assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
        assert_eq!(fs::read(sb.dest.join("a")).expect("a"), b"data");
        assert_eq!(report.hardlinks, 2);
    }

    #[test]
    fn a_file_over_a_directory_is_refused() {
        let sb = Sandbox::new();
        fs::create_dir(sb.dest.join("d")).expect("d");
        let err = sb.refused(&tar_of(&[File("d", b"x", 0o644)]), &defaults());
        assert!(matches!(err, UnpackError::IsADirectory { .. }), "{err}");
    }

    #[test]
    fn refuses_a_hardlink_through_a_symlink_that_leaves() {
        let sb = Sandbox::new();
        let err = sb.refused(
            &tar_of(&[Symlink("out", "../outside"), Hardlink("k", "out/keep")]),
            &defaults(),
        );
        assert!(matches!(err, UnpackError::HardlinkEscape { .. }), "{err}");
        assert_eq!(
            fs::metadata(sb.tmp.path().join("outside/keep"))
                .expect("keep")
                .nlink(),
            1
        );
    }
}
