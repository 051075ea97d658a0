//! The zip path. The central directory lists every entry, so the checking pass reads only that;
//! each entry's CRC is checked as the entry is written.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::os::unix::fs::FileExt;

use nix::sys::stat::SFlag;

use crate::UnpackError;
use crate::entry::{Head, Kind, Meta};
use crate::error::lossy;
use crate::extract::Extractor;
use crate::file::FileAt;
use crate::limits::Limits;
use crate::strip::{Strip, TopDir};
use crate::tree::{Tree, join_path};
use crate::unpack::{Done, Job};

/// A symlink stored as zip data is a path, so `PATH_MAX` bounds it.
const MAX_LINK_TARGET: u64 = 4096;

pub(crate) fn unpack_zip(job: &Job<'_>, tree: &Tree) -> Result<Done, UnpackError> {
    let zip_err = |e: zip::result::ZipError| job.corrupt(e.to_string());
    let reader = BufReader::with_capacity(64 * 1024, FileAt::new(job.file));
    let mut zip = zip::ZipArchive::new(reader).map_err(zip_err)?;

    // The central directory lists everything: check it all before writing.
    if zip.has_duplicate_names() {
        let name = first_duplicate(job.file, zip.central_directory_start());
        return Err(UnpackError::DuplicateName {
            entry: name.map_or_else(|| "(a name)".into(), |n| lossy(&n)),
        });
    }
    let mut limits = Limits::new(job.opts);
    let mut top = TopDir::default();
    let mut names = HashSet::new();
    for i in 0..zip.len() {
        let head = zip_head(&zip.by_index_data(i).map_err(zip_err)?);
        let comps = limits.admit(&head)?;
        limits.charge(head.size, || head.display_name())?;
        // `a` and `./a` (or `a/`) are one path too.
        if !comps.is_empty() && !names.insert(join_path(comps.iter().copied())) {
            return Err(UnpackError::DuplicateName {
                entry: head.display_name(),
            });
        }
        top.observe(&comps, matches!(head.kind, Kind::Dir));
    }

    let strip = Strip::decide(job.opts.strip, &top);
    let mut ex = Extractor::new(tree, job, strip.levels);
    let written = write_zip(job, &mut zip, &mut ex);
    Ok(Done {
        strip,
        stats: ex.conclude(written)?,
    })
}

/// The zip's writing pass; a CRC is checked as each entry's data ends.
fn write_zip<R: Read + Seek>(
    job: &Job<'_>,
    zip: &mut zip::ZipArchive<R>,
    ex: &mut Extractor<'_>,
) -> Result<(), UnpackError> {
    let zip_err = |e: zip::result::ZipError| job.corrupt(e.to_string());
    let mut limits = Limits::new(job.opts);
    for i in 0..zip.len() {
        let mut head = zip_head(&zip.by_index_data(i).map_err(zip_err)?);
        let mut data = zip.by_index(i).map_err(zip_err)?;
        // Info-ZIP's extended timestamp is real UTC time; prefer it to the DOS one.
        let unix_mtime = data.extra_data_fields().find_map(|field| match field {
            zip::extra_fields::ExtraField::ExtendedTimestamp(ts) => ts.mod_time(),
            _ => None,
        });
        head.meta.mtime = unix_mtime.map(i64::from).or(head.meta.mtime);
        if let Kind::Symlink(target) = &mut head.kind {
            // Zip keeps a symlink's target as its content.
            let read = (&mut data).take(MAX_LINK_TARGET + 1).read_to_end(target);
            if read.map_err(|e| job.corrupt(e.to_string()))? as u64 > MAX_LINK_TARGET {
                return Err(job.corrupt(format!(
                    "symlink {:?} has an oversized target",
                    head.display_name()
                )));
            }
        }
        let comps = limits.admit(&head)?;
        ex.entry(&head, &comps, &mut data)?;
    }
    Ok(())
}

/// The first name the central directory lists twice: the zip crate keeps only the last of
/// them, so they are read here from the directory itself.
fn first_duplicate(file: &File, dir_start: u64) -> Option<Vec<u8>> {
    const FIXED: u64 = 46;
    let mut seen = HashSet::new();
    let mut pos = dir_start;
    let mut fixed = [0u8; FIXED as usize];
    loop {
        file.read_exact_at(&mut fixed, pos).ok()?;
        if fixed[..4] != *b"PK\x01\x02" {
            return None;
        }
        let field = |at: usize| u64::from(u16::from_le_bytes([fixed[at], fixed[at + 1]]));
        let (name_len, extra, comment) = (field(28), field(30), field(32));
        let mut name = vec![0; name_len as usize];
        file.read_exact_at(&mut name, pos + FIXED).ok()?;
        if !seen.insert(name.clone()) {
            return Some(name);
        }
        pos += FIXED + name_len + extra + comment;
    }
}

fn zip_head(entry: &zip::read::ZipFileEntry<'_>) -> Head {
    use zip::CompressionMethod as C;
    let name = entry.name_raw().to_vec();
    let unix = entry.unix_mode();
    let format = SFlag::S_IFMT.bits();
    let kind = match unix.map(|m| m & format) {
        _ if entry.encrypted() => {
            Kind::Unsupported("encrypted zip entries are not supported".into())
        }
        _ if !matches!(entry.compression(), C::Stored | C::Deflated) => Kind::Unsupported(format!(
            "zip compression {} is not supported",
            entry.compression()
        )),
        Some(t) if t == SFlag::S_IFLNK.bits() => Kind::Symlink(Vec::new()),
        Some(t) if t == SFlag::S_IFCHR.bits() => Kind::Special("character device"),
        Some(t) if t == SFlag::S_IFBLK.bits() => Kind::Special("block device"),
        Some(t) if t == SFlag::S_IFIFO.bits() => Kind::Special("fifo"),
        Some(t) if t == SFlag::S_IFSOCK.bits() => Kind::Special("socket"),
        _ if entry.is_dir() => Kind::Dir,
        _ => Kind::File,
    };
    let default_mode = if matches!(kind, Kind::Dir) {
        0o755
    } else {
        0o644
    };
    let mode = unix.map_or(default_mode, |m| m & 0o7777);
    let mtime = entry.last_modified().map(dos_time);
    Head {
        name,
        kind,
        meta: Meta {
            mode,
            mtime,
            owner: None,
        },
        size: entry.size(),
    }
}

/// MS-DOS timestamps carry no zone; read as UTC, as most unzip tools do in containers (TZ=UTC).
fn dos_time(t: zip::DateTime) -> i64 {
    let days = days_from_civil(
        i64::from(t.year()),
        i64::from(t.month()),
        i64::from(t.day()),
    );
    days * 86_400 + i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use std::fs;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn zip_keeps_modes_and_mtimes() {
        let sb = Sandbox::new();
        let items: Vec<_> = github_items()
            .into_iter()
            .filter(|i| !matches!(i, GlobalPax(_)))
            .collect();
        sb.unpack(&zip_of(&items), &defaults()).expect("unpack");
        let run = fs::metadata(sb.dest.join("bin/run")).expect("run");
        assert_eq!(run.mode() & 0o777, 0o755);
        assert_eq!(run.mtime(), MTIME as i64);
        assert_eq!(
            fs::metadata(sb.dest.join("etc")).expect("etc").mtime(),
            MTIME as i64
        );
    }

    #[test]
    fn empty_zip_unpacks_nothing() {
        let sb = Sandbox::new();
        let report = sb.unpack(&zip_of(&[]), &defaults()).expect("unpack");
        assert_eq!(report.files + report.dirs, 0);
    }

    #[test]
    fn refuses_a_zip_symlink_leading_out() {
        let sb = Sandbox::new();
        let err = sb.refused(
            &zip_of(&[Symlink("a", "/"), File("a/tmp/x", b"x", 0o644)]),
            &defaults(),
        );
        assert!(matches!(err, UnpackError::SymlinkEscape { .. }), "{err}");
        let err = sb.refused(&zip_of(&[File("../x", b"x", 0o644)]), &defaults());
        assert!(matches!(err, UnpackError::ParentDir { .. }), "{err}");
    }

    /// Issue 17: a zip naming one file twice was unpacked, the last copy silently winning.
    #[test]
    fn refuses_a_zip_that_names_a_file_twice() {
        let sb = Sandbox::new();
        let zip = zip_of(&[
            File("ok", b"ok", 0o644),
            File("etc/dup1", b"first", 0o644),
            File("etc/dup2", b"second", 0o644),
        ]);
        // Same length, so only the names change (they are in no checksum).
        let dup = replace_all(&zip, b"etc/dup2", b"etc/dup1");
        let err = sb.refused(&dup, &defaults());
        assert!(
            matches!(&err, UnpackError::DuplicateName { entry } if entry == "etc/dup1"),
            "{err}"
        );
        assert!(sb.target_is_empty());
        // Two spellings of one path are one name too.
        let zip = zip_of(&[File("etc/a", b"1", 0o644), File("etc//a", b"2", 0o644)]);
        let err = sb.refused(&zip, &defaults());
        assert!(
            matches!(&err, UnpackError::DuplicateName { entry } if entry == "etc//a"),
            "{err}"
        );
        assert!(sb.target_is_empty());
    }

    #[test]
    fn dos_dates_convert_to_unix_time() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        let t = zip::DateTime::from_date_and_time(2020, 9, 13, 12, 26, 40).expect("date");
        assert_eq!(dos_time(t), 1_600_000_000);
    }
}
