//! An entry's owner, mode and mtime, applied to what was written. Owners are the archive's when
//! running as root; setuid and setgid bits are kept only where the owner they were meant for
//! was really applied.

use std::os::fd::BorrowedFd;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{FileStat, Mode, UtimensatFlags, fchmod, fstatat, futimens, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat};

use crate::entry::Meta;

/// Which of the archive's owner ids an entry really got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    uid: bool,
    gid: bool,
}

impl Applied {
    pub(crate) fn both(self) -> bool {
        self.uid && self.gid
    }
}

/// The id that chown(2) reads as "leave unchanged": an archive giving it has no owner to apply.
const NO_ID: u32 = u32::MAX;

/// The archive's ids worth asking the kernel for, or `None` when there is nothing to apply.
fn wanted_owner(meta: &Meta, same_owner: bool) -> Option<(Option<Uid>, Option<Gid>)> {
    let (uid, gid) = meta.owner.filter(|_| same_owner)?;
    let uid = (uid != NO_ID).then(|| Uid::from_raw(uid));
    let gid = (gid != NO_ID).then(|| Gid::from_raw(gid));
    (uid.is_some() || gid.is_some()).then_some((uid, gid))
}

/// Owner, then mode (chown clears setuid bits), then mtime. Returns which ids were applied.
pub(crate) fn set_meta(fd: BorrowedFd<'_>, meta: &Meta, same_owner: bool) -> nix::Result<Applied> {
    let applied = match wanted_owner(meta, same_owner) {
        Some((uid, gid)) => match fchown(fd, uid, gid) {
            // Checked, not assumed: what counts is the owner the file has now.
            Ok(()) => owner_applied(&nix::sys::stat::fstat(fd)?, uid, gid),
            Err(Errno::EPERM | Errno::EINVAL) => Applied::default(),
            Err(e) => return Err(e),
        },
        None => Applied::default(),
    };
    fchmod(
        fd,
        Mode::from_bits_truncate(permitted_mode(meta.mode, applied)),
    )?;
    if let Some(mtime) = meta.mtime {
        futimens(fd, &TimeSpec::UTIME_NOW, &TimeSpec::new(mtime, 0))?;
    }
    Ok(applied)
}

fn owner_applied(stat: &FileStat, uid: Option<Uid>, gid: Option<Gid>) -> Applied {
    Applied {
        uid: uid.is_some_and(|u| u.as_raw() == stat.st_uid),
        gid: gid.is_some_and(|g| g.as_raw() == stat.st_gid),
    }
}

/// setuid survives only on an entry that got the archive's uid, setgid only on one that got
/// its gid (GNU tar's rule when it cannot keep ownership): a setuid file owned by whoever ran
/// the unpack, or left root's because the archive's uid was -1, is not what the archive meant.
fn permitted_mode(mode: u32, applied: Applied) -> u32 {
    let mut mode = mode & 0o7777;
    if !applied.uid {
        mode &= !0o4000;
    }
    if !applied.gid {
        mode &= !0o2000;
    }
    mode
}

/// Owner and mtime of a symlink itself. Errors are ignored: some filesystems cannot set a
/// link's times, and a link's owner only matters in sticky directories.
pub(crate) fn symlink_meta(
    dir: BorrowedFd<'_>,
    name: &[u8],
    meta: &Meta,
    same_owner: bool,
) -> bool {
    let kept = wanted_owner(meta, same_owner).is_some_and(|(uid, gid)| {
        let flags = AtFlags::AT_SYMLINK_NOFOLLOW;
        fchownat(dir, name, uid, gid, flags).is_ok()
            && fstatat(dir, name, flags).is_ok_and(|st| owner_applied(&st, uid, gid).both())
    });
    if let Some(mtime) = meta.mtime {
        let _ = utimensat(
            dir,
            name,
            &TimeSpec::UTIME_NOW,
            &TimeSpec::new(mtime, 0),
            UtimensatFlags::NoFollowSymlink,
        );
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UnpackOptions;
    use crate::test_support::*;
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;
    use tar::EntryType;

    #[test]
    fn mtime_is_kept() {
        let sb = Sandbox::new();
        sb.unpack(&tar_of(&github_items()), &defaults())
            .expect("unpack");
        for path in ["etc/app.conf", "bin/run", "etc", "bin"] {
            let meta = fs::metadata(sb.dest.join(path)).expect(path);
            assert_eq!(meta.mtime(), MTIME as i64, "{path}");
        }
        let link = fs::symlink_metadata(sb.dest.join("bin/go")).expect("go");
        assert_eq!(link.mtime(), MTIME as i64);
    }

    #[test]
    fn setuid_is_dropped_when_ownership_is_not_kept() {
        let sb = Sandbox::new();
        let opts = UnpackOptions {
            same_owner: false,
            ..defaults()
        };
        sb.unpack(&tar_of(&[File("su", b"x", 0o4755), Dir("tmp/")]), &opts)
            .expect("unpack");
        assert_eq!(
            fs::metadata(sb.dest.join("su")).expect("su").mode() & 0o7777,
            0o755
        );
    }

    /// A tar of one file `name` with `mode`, owned by `uid:gid` as a pax record gives them
    /// (any u32, which a ustar field cannot hold).
    fn tar_owned(name: &str, mode: u32, uid: u32, gid: u32) -> Vec<u8> {
        let records = [
            pax_text("uid", &uid.to_string()),
            pax_text("gid", &gid.to_string()),
        ]
        .concat();
        let mut builder = tar::Builder::new(Vec::new());
        let pax = header(
            "PaxHeaders/x",
            EntryType::XHeader,
            records.len() as u64,
            0o644,
            "",
        );
        builder.append(&pax, &records[..]).expect("pax");
        builder
            .append(&header(name, EntryType::Regular, 1, mode, ""), &b"x"[..])
            .expect("file");
        builder.into_inner().expect("tar")
    }

    /// One pax record: `LEN key=value\n`, LEN counting itself.
    fn pax_text(key: &str, value: &str) -> Vec<u8> {
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while len.to_string().len() + body.len() != len {
            len = len.to_string().len() + body.len();
        }
        format!("{len}{body}").into_bytes()
    }

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").mode() & 0o7777
    }

    /// Issue 17: uid 4294967295 is chown's "no change", so `fchown(-1, -1)` succeeded and the
    /// setuid bit stayed on a file that kept the unpacker's (root's) owner.
    #[test]
    fn set_id_bits_are_dropped_for_owner_minus_one() {
        let sb = Sandbox::new();
        let opts = UnpackOptions {
            same_owner: true,
            ..defaults()
        };
        let report = sb
            .unpack(&tar_owned("su", 0o6755, NO_ID, NO_ID), &opts)
            .expect("unpack");
        let meta = fs::metadata(sb.dest.join("su")).expect("su");
        assert_eq!(meta.mode() & 0o7777, 0o755);
        assert_eq!((meta.uid(), meta.gid()), (geteuid_raw(), getegid_raw()));
        assert_eq!(report.owner_not_kept, 1);
        // Only the gid is -1: the uid applies, so setuid stays and setgid goes.
        let own = geteuid_raw();
        sb.unpack(&tar_owned("sg", 0o6755, own, NO_ID), &opts)
            .expect("unpack");
        assert_eq!(mode_of(&sb.dest.join("sg")), 0o4755);
    }

    #[test]
    fn set_id_bits_follow_the_owner_really_applied() {
        let sb = Sandbox::new();
        let opts = UnpackOptions {
            same_owner: true,
            ..defaults()
        };
        let report = sb
            .unpack(&tar_owned("su", 0o6755, 4321, 4322), &opts)
            .expect("unpack");
        let meta = fs::metadata(sb.dest.join("su")).expect("su");
        if nix::unistd::geteuid().is_root() {
            assert_eq!((meta.uid(), meta.gid()), (4321, 4322));
            assert_eq!(meta.mode() & 0o7777, 0o6755, "owner applied: bits kept");
            assert_eq!(report.owner_not_kept, 0);
        } else {
            assert_eq!(meta.uid(), geteuid_raw());
            assert_eq!(meta.mode() & 0o7777, 0o755, "owner refused: bits dropped");
            assert_eq!(report.owner_not_kept, 1);
        }
    }

    fn geteuid_raw() -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    fn getegid_raw() -> u32 {
        nix::unistd::getegid().as_raw()
    }

    #[test]
    fn permitted_mode_keeps_each_bit_with_its_id() {
        let both = Applied {
            uid: true,
            gid: true,
        };
        let uid = Applied {
            uid: true,
            gid: false,
        };
        let gid = Applied {
            uid: false,
            gid: true,
        };
        assert_eq!(permitted_mode(0o7755, both), 0o7755);
        assert_eq!(permitted_mode(0o7755, uid), 0o5755);
        assert_eq!(permitted_mode(0o7755, gid), 0o3755);
        assert_eq!(
            permitted_mode(0o7755, Applied::default()),
            0o1755,
            "sticky stays"
        );
    }
}
