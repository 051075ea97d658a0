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

use crate::extract::ReplaceError;
use crate::tree::{Tree, file_type, join_path};

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

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use crate::{UnpackError, UnpackOptions, unpack};
    use std::collections::BTreeMap;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
    use std::path::Path;

    /// Everything under `dir` but times: type, mode, owner, inode, link count, and content or
    /// link target. A file put back keeps its inode.
    fn state(dir: &Path) -> BTreeMap<String, String> {
        fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
            for entry in fs::read_dir(dir).expect("read_dir") {
                let path = entry.expect("entry").path();
                let meta = fs::symlink_metadata(&path).expect("metadata");
                let what = if meta.is_symlink() {
                    format!("-> {:?}", fs::read_link(&path).expect("read_link"))
                } else if meta.is_file() {
                    format!("{:?}", fs::read(&path).expect("read"))
                } else {
                    String::new()
                };
                let rel = path
                    .strip_prefix(base)
                    .expect("under base")
                    .display()
                    .to_string();
                let line = format!(
                    "{:o} {}:{} ino {} links {} {what}",
                    meta.mode(),
                    meta.uid(),
                    meta.gid(),
                    meta.ino(),
                    meta.nlink()
                );
                out.insert(rel, line);
                if meta.is_dir() {
                    walk(base, &path, out);
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(dir, dir, &mut out);
        out
    }

    /// A target that already holds what a patch replaces: a file, a symlink, a hard link
    /// (to `keep`), a read-only directory and a file in it.
    fn populated() -> Sandbox {
        let sb = Sandbox::new();
        fs::create_dir(sb.dest.join("etc")).expect("etc");
        fs::write(sb.dest.join("etc/conf"), "old conf\n").expect("conf");
        fs::write(sb.dest.join("keep"), "keep\n").expect("keep");
        fs::hard_link(sb.dest.join("keep"), sb.dest.join("etc/hard")).expect("hard link");
        symlink("conf", sb.dest.join("etc/link")).expect("symlink");
        fs::create_dir(sb.dest.join("ro")).expect("ro");
        fs::write(sb.dest.join("ro/f"), "f\n").expect("ro/f");
        fs::set_permissions(sb.dest.join("ro"), fs::Permissions::from_mode(0o555)).expect("ro");
        sb
    }

    /// Good entries that replace, add and create before the bad one.
    const GOOD: [Item<'static>; 7] = [
        File("etc/conf", b"new conf\n", 0o600),
        File("etc/hard", b"new hard\n", 0o644),
        File("etc/link", b"a file now\n", 0o644),
        File("etc/added", b"added\n", 0o644),
        Dir("newdir/"),
        File("newdir/deep/f", b"deep\n", 0o644),
        Symlink("newlink", "etc/conf"),
    ];

    fn unchanged_after_refusal(sb: &Sandbox, archive: &[u8]) -> UnpackError {
        let before = state(&sb.dest);
        let opts = UnpackOptions {
            strip: Some(0),
            ..defaults()
        };
        let err = sb.refused(archive, &opts);
        assert_eq!(state(&sb.dest), before, "the destination changed: {err}");
        err
    }

    /// Issue 17: a zip whose second entry had a bad CRC was refused, but its first entry stayed
    /// written.
    #[test]
    fn a_zip_with_a_bad_crc_leaves_the_destination_as_it_was() {
        let sb = populated();
        let bad_data: &[u8] = b"this entry's checksum is wrong";
        let items = [GOOD[0], File("bad", bad_data, 0o644), GOOD[3]];
        let zip = zip_of(&items);
        let mut crc = flate2::Crc::new();
        crc.update(bad_data);
        let right = crc.sum().to_le_bytes();
        let wrong = (crc.sum() ^ 1).to_le_bytes();
        let err = unchanged_after_refusal(&sb, &replace_all(&zip, &right, &wrong));
        assert!(matches!(err, UnpackError::Corrupt { .. }), "{err}");
        // And with everything else before it.
        let items: Vec<Item<'_>> = GOOD.iter().copied().chain([items[1]]).collect();
        let zip = zip_of(
            &items
                .iter()
                .copied()
                .filter(|i| !matches!(i, Symlink(..)))
                .collect::<Vec<_>>(),
        );
        unchanged_after_refusal(&sb, &replace_all(&zip, &right, &wrong));
    }

    #[test]
    fn a_truncated_tar_leaves_the_destination_as_it_was() {
        let sb = populated();
        let tar = tar_of(&GOOD);
        let tar_gz = gz(&tar);
        let cuts = [
            tar_gz[..tar_gz.len() * 2 / 3].to_vec(),
            tar_gz[..tar_gz.len() - 4].to_vec(),
            tar[..tar.len() - 1024].to_vec(),
        ];
        for archive in cuts {
            let err = unchanged_after_refusal(&sb, &archive);
            assert!(matches!(err, UnpackError::Corrupt { .. }), "{err}");
        }
    }

    #[test]
    fn an_entry_refused_after_good_ones_leaves_the_destination_as_it_was() {
        let sb = populated();
        let escape = [Symlink("out", "../outside"), File("out/pwned", b"x", 0o644)];
        let items: Vec<Item<'_>> = GOOD.iter().chain(&escape).copied().collect();
        for archive in [tar_of(&items), gz(&tar_of(&items))] {
            let err = unchanged_after_refusal(&sb, &archive);
            assert!(matches!(err, UnpackError::SymlinkEscape { .. }), "{err}");
        }
        // A file over a directory fails in the writing pass too, as does a hard link to a
        // file that is not there.
        let items: Vec<Item<'_>> = GOOD
            .iter()
            .copied()
            .chain([File("ro", b"x", 0o644)])
            .collect();
        let err = unchanged_after_refusal(&sb, &tar_of(&items));
        assert!(matches!(err, UnpackError::IsADirectory { .. }), "{err}");
        let items: Vec<Item<'_>> = GOOD
            .iter()
            .copied()
            .chain([Hardlink("h", "nowhere")])
            .collect();
        let err = unchanged_after_refusal(&sb, &tar_of(&items));
        assert!(matches!(err, UnpackError::HardlinkTarget { .. }), "{err}");
        fs::set_permissions(sb.dest.join("ro"), fs::Permissions::from_mode(0o755)).expect("rw");
    }

    #[test]
    fn a_refused_unpack_removes_the_dest_it_created() {
        let sb = Sandbox::new();
        let items = [
            File("a", b"a", 0o644),
            Symlink("out", "/"),
            File("out/x", b"x", 0o644),
        ];
        let archive = sb.write_archive(&tar_of(&items));
        let err = unpack(&archive, &sb.dest.join("new/deeper"), &defaults()).expect_err("refused");
        assert!(matches!(err, UnpackError::SymlinkEscape { .. }), "{err}");
        assert!(sb.target_is_empty(), "{:?}", state(&sb.dest));
        // Refused by the checking pass: the same.
        let archive = sb.write_archive(&tar_of(&[File("../x", b"x", 0o644)]));
        unpack(&archive, &sb.dest.join("new"), &defaults()).expect_err("refused");
        assert!(sb.target_is_empty(), "{:?}", state(&sb.dest));
    }

    #[test]
    fn a_successful_unpack_leaves_nothing_set_aside() {
        let sb = populated();
        let opts = UnpackOptions {
            strip: Some(0),
            ..defaults()
        };
        sb.unpack(&tar_of(&GOOD), &opts).expect("unpack");
        let after = state(&sb.dest);
        assert!(
            after.keys().all(|k| !k.contains(".hookinit-undo")),
            "{after:#?}"
        );
        assert_eq!(
            fs::read(sb.dest.join("etc/conf")).expect("conf"),
            b"new conf\n"
        );
        assert_eq!(
            fs::read(sb.dest.join("keep")).expect("keep"),
            b"keep\n",
            "not through the hard link"
        );
        assert_eq!(fs::metadata(sb.dest.join("keep")).expect("keep").nlink(), 1);
        assert!(
            fs::symlink_metadata(sb.dest.join("etc/link"))
                .expect("link")
                .is_file()
        );
        fs::set_permissions(sb.dest.join("ro"), fs::Permissions::from_mode(0o755)).expect("rw");
    }
}
