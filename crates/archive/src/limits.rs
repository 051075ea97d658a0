//! The rules that need no filesystem, checked in the first pass so that an archive breaking one
//! is refused before anything is written: `..` and absolute names, NUL bytes, device nodes and
//! fifos, hard links leaving the archive, and the entry, size and metadata caps.
//!
//! Every decompressed byte counts against the size cap, whatever it belongs to (headers,
//! extension records, any entry's data and padding, data after the end marker), and is charged
//! before it is read; extension records (pax, GNU long names) also have a cap of their own
//! ([`metadata_cap`]).

use crate::entry::{Head, Kind};
use crate::{UnpackError, UnpackOptions};

/// Upper bound of [`metadata_cap`].
const MAX_METADATA: u64 = 64 << 20;

/// Why a path was refused by its name alone.
pub(crate) enum BadName {
    Absolute,
    ParentDir,
    Nul,
}

/// Splits an archive path into components: empty and `.` components vanish, an absolute path or
/// a `..` anywhere is refused (not normalised: such names only come from crafted archives).
pub(crate) fn components(raw: &[u8]) -> Result<Vec<&[u8]>, BadName> {
    if raw.first() == Some(&b'/') {
        return Err(BadName::Absolute);
    }
    // No file name can hold one; refused here, before anything is written, not by the kernel.
    if raw.contains(&0) {
        return Err(BadName::Nul);
    }
    let comps: Vec<&[u8]> = raw
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect();
    if comps.iter().any(|c| *c == b"..") {
        return Err(BadName::ParentDir);
    }
    Ok(comps)
}

/// The rules that need no filesystem, applied identically by the checking and the writing pass.
pub(crate) struct Limits<'o> {
    opts: &'o UnpackOptions,
    entries: u64,
    /// Bytes decompressed so far: a tar stream's headers, extension records, data and padding,
    /// or a zip's entry data.
    bytes: u64,
    /// Of those, bytes of extension records (pax, GNU long names), read into memory.
    metadata: u64,
}

impl<'o> Limits<'o> {
    pub(crate) fn new(opts: &'o UnpackOptions) -> Self {
        Limits {
            opts,
            entries: 0,
            bytes: 0,
            metadata: 0,
        }
    }

    /// Checks one entry's kind and name and returns its path components (before stripping).
    /// Its data is charged separately ([`Limits::reach`], [`Limits::charge`]).
    pub(crate) fn admit<'h>(&mut self, head: &'h Head) -> Result<Vec<&'h [u8]>, UnpackError> {
        self.entries += 1;
        if self.entries > self.opts.max_entries {
            return Err(UnpackError::TooManyEntries {
                limit: self.opts.max_entries,
            });
        }
        let entry = || head.display_name();
        match &head.kind {
            Kind::Special(kind) => {
                return Err(UnpackError::SpecialFile {
                    entry: entry(),
                    kind,
                });
            }
            Kind::Unsupported(detail) => {
                return Err(UnpackError::Unsupported {
                    entry: entry(),
                    detail: detail.clone(),
                });
            }
            Kind::Symlink(target) | Kind::Hardlink(target) if target.contains(&0) => {
                return Err(UnpackError::NulInName { entry: entry() });
            }
            Kind::Hardlink(target) if components(target).is_err() => {
                let target = String::from_utf8_lossy(target).into_owned();
                return Err(UnpackError::HardlinkEscape {
                    entry: entry(),
                    target,
                });
            }
            _ => {}
        }
        components(&head.name).map_err(|bad| match bad {
            BadName::Absolute => UnpackError::AbsolutePath { entry: entry() },
            BadName::ParentDir => UnpackError::ParentDir { entry: entry() },
            BadName::Nul => UnpackError::NulInName { entry: entry() },
        })
    }

    /// Charges `size` more decompressed bytes (a zip entry's data) before they are read.
    pub(crate) fn charge(
        &mut self,
        size: u64,
        entry: impl FnOnce() -> String,
    ) -> Result<(), UnpackError> {
        self.reach(self.bytes.saturating_add(size), entry)
    }

    /// Records that the decompressed stream will have reached `total` bytes (a tar entry's end:
    /// header, data and padding), refusing before they are read if that passes the size cap.
    /// Every byte counts, whatever entry it belongs to: the cap bounds the work, not the files.
    pub(crate) fn reach(
        &mut self,
        total: u64,
        entry: impl FnOnce() -> String,
    ) -> Result<(), UnpackError> {
        if total > self.opts.max_bytes {
            return Err(UnpackError::TooLarge {
                entry: entry(),
                limit: self.opts.max_bytes,
            });
        }
        self.bytes = self.bytes.max(total);
        Ok(())
    }

    /// Charges `size` bytes of extension records against the metadata cap.
    pub(crate) fn charge_metadata(
        &mut self,
        size: u64,
        entry: impl FnOnce() -> String,
    ) -> Result<(), UnpackError> {
        let limit = metadata_cap(self.opts.max_bytes);
        self.metadata = self.metadata.saturating_add(size);
        if self.metadata > limit {
            return Err(UnpackError::TooMuchMetadata {
                entry: entry(),
                limit,
            });
        }
        Ok(())
    }

    pub(crate) fn remaining(&self) -> u64 {
        self.opts.max_bytes.saturating_sub(self.bytes)
    }
}

/// The cap on extension records (pax, GNU long names) in total: a quarter of the size cap, at
/// most 64 MiB. Real archives carry a few hundred bytes per entry at most; these records are
/// read into memory and cost a header's parsing each, so a stream of them is a bomb of its own.
pub fn metadata_cap(max_bytes: u64) -> u64 {
    (max_bytes / 4).min(MAX_METADATA)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_MAX_BYTES;
    use crate::test_support::*;
    use std::path::Path;
    use std::time::{Duration, Instant};
    use tar::EntryType;

    #[test]
    fn refuses_parent_dir_components() {
        let sb = Sandbox::new();
        let err = sb.refused(
            &tar_of(&[File("ok", b"ok", 0o644), File("../x", b"x", 0o644)]),
            &defaults(),
        );
        assert!(
            matches!(&err, UnpackError::ParentDir { entry } if entry == "../x"),
            "{err}"
        );
        assert!(sb.target_is_empty(), "checked before anything is written");
    }

    #[test]
    fn refuses_absolute_names() {
        let sb = Sandbox::new();
        let name = format!("/tmp/hookinit-abs-{}", std::process::id());
        let err = sb.refused(&tar_of(&[File(&name, b"x", 0o644)]), &defaults());
        assert!(matches!(err, UnpackError::AbsolutePath { .. }), "{err}");
        assert!(!Path::new(&name).exists() && sb.target_is_empty());
    }

    #[test]
    fn refuses_a_hardlink_to_etc_passwd() {
        let sb = Sandbox::new();
        let err = sb.refused(&tar_of(&[Hardlink("passwd", "/etc/passwd")]), &defaults());
        assert!(matches!(err, UnpackError::HardlinkEscape { .. }), "{err}");
        assert!(sb.target_is_empty());
    }

    #[test]
    fn refuses_a_hardlink_to_the_parent() {
        let sb = Sandbox::new();
        let err = sb.refused(&tar_of(&[Hardlink("x", "../outside/keep")]), &defaults());
        assert!(matches!(err, UnpackError::HardlinkEscape { .. }), "{err}");
        assert!(sb.target_is_empty());
    }

    #[test]
    fn refuses_character_devices() {
        let sb = Sandbox::new();
        let err = sb.refused(
            &tar_of(&[File("ok", b"ok", 0o644), Special("null", EntryType::Char)]),
            &defaults(),
        );
        assert!(
            matches!(
                err,
                UnpackError::SpecialFile {
                    kind: "character device",
                    ..
                }
            ),
            "{err}"
        );
        assert!(sb.target_is_empty());
    }

    #[test]
    fn refuses_fifos() {
        let sb = Sandbox::new();
        let err = sb.refused(&tar_of(&[Special("pipe", EntryType::Fifo)]), &defaults());
        assert!(
            matches!(err, UnpackError::SpecialFile { kind: "fifo", .. }),
            "{err}"
        );
        let err = sb.refused(&zip_of(&[Special("pipe", EntryType::Fifo)]), &defaults());
        assert!(
            matches!(err, UnpackError::SpecialFile { kind: "fifo", .. }),
            "{err}"
        );
        assert!(sb.target_is_empty());
    }

    #[test]
    fn refuses_archives_past_the_size_cap() {
        let sb = Sandbox::new();
        // a ends at 1024 bytes into the stream (header and padded data), b at 2048.
        let opts = UnpackOptions {
            max_bytes: 1500,
            ..defaults()
        };
        let items = [File("a", b"12345", 0o644), File("b", b"123456", 0o644)];
        let err = sb.refused(&gz(&tar_of(&items)), &opts);
        assert!(
            matches!(&err, UnpackError::TooLarge { entry, limit: 1500 } if entry == "b"),
            "{err}"
        );
        assert!(sb.target_is_empty());
    }

    #[test]
    fn headers_count_against_the_size_cap() {
        let sb = Sandbox::new();
        let names: Vec<String> = (0..30).map(|i| format!("empty{i}")).collect();
        let items: Vec<Item<'_>> = names.iter().map(|n| File(n, b"", 0o644)).collect();
        // 30 headers of 512 bytes, no data at all.
        let opts = UnpackOptions {
            max_bytes: 10_000,
            ..defaults()
        };
        let err = sb.refused(&tar_of(&items), &opts);
        assert!(
            matches!(&err, UnpackError::TooLarge { entry, .. } if entry == "empty19"),
            "{err}"
        );
        assert!(sb.target_is_empty());
    }

    /// Issue 17's bomb: eight 1 MiB pax global headers before each of many empty files, a
    /// small .tar.zst that decompresses to gigabytes of headers. They were not counted, and the
    /// archive was accepted after decompressing it all twice.
    fn pax_bomb(files: u32) -> Vec<u8> {
        const RECORD: usize = 1 << 20;
        let mut record = format!("{RECORD} comment=").into_bytes();
        record.resize(RECORD - 1, b'x');
        record.push(b'\n');
        let pax = header(
            "pax_global_header",
            EntryType::XGlobalHeader,
            RECORD as u64,
            0o644,
            "",
        );
        let mut eight = Vec::new();
        for _ in 0..8 {
            eight.extend_from_slice(pax.as_bytes());
            eight.extend_from_slice(&record);
        }
        // zstd frames concatenate into one stream: the 8 MiB of headers are compressed once.
        let eight = zst(&eight);
        let mut bomb = Vec::new();
        for i in 0..files {
            bomb.extend_from_slice(&eight);
            let file = header(&format!("f{i}"), EntryType::Regular, 0, 0o644, "");
            bomb.extend(zst(file.as_bytes()));
        }
        bomb.extend(zst(&[0; 1024]));
        bomb
    }

    #[test]
    fn refuses_an_extension_header_bomb_quickly() {
        let sb = Sandbox::new();
        let bomb = pax_bomb(256);
        assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
        let opts = UnpackOptions {
            max_bytes: 1 << 20,
            ..defaults()
        };
        let started = Instant::now();
        let err = sb.refused(&bomb, &opts);
        let took = started.elapsed();
        assert!(
            matches!(&err, UnpackError::TooMuchMetadata { entry, limit } if entry == "pax_global_header" && *limit == 256 << 10),
            "{err}"
        );
        assert!(!err.to_string().contains('\n'), "{err}");
        // It stops at the first header: milliseconds, where it took 3.4 s.
        assert!(took < Duration::from_secs(1), "took {took:?}");
        assert!(sb.target_is_empty());
        // With the default caps the 64 MiB metadata cap stops it.
        let err = sb.refused(&bomb, &defaults());
        assert!(
            matches!(err, UnpackError::TooMuchMetadata { limit, .. } if limit == 64 << 20),
            "{err}"
        );
        assert!(sb.target_is_empty());
    }

    #[test]
    fn metadata_cap_is_a_quarter_of_the_size_cap_up_to_64_mib() {
        assert_eq!(metadata_cap(1 << 20), 256 << 10);
        assert_eq!(metadata_cap(DEFAULT_MAX_BYTES), 64 << 20);
        assert_eq!(metadata_cap(u64::MAX), 64 << 20);
    }

    /// Found by fuzz/ (target `unpack`): data carried by a directory entry was read through
    /// (decompressed) without counting against the size cap.
    #[test]
    fn data_of_other_entries_counts_against_the_size_cap() {
        let sb = Sandbox::new();
        let opts = UnpackOptions {
            max_bytes: 1000,
            ..defaults()
        };
        let mut builder = tar::Builder::new(Vec::new());
        let dir = header("d/", EntryType::Directory, 4096, 0o755, "");
        builder.append(&dir, &[0u8; 4096][..]).expect("append");
        let tar = builder.into_inner().expect("finish tar");
        let err = sb.refused(&gz(&tar), &opts);
        assert!(
            matches!(&err, UnpackError::TooLarge { entry, limit: 1000 } if entry == "d/"),
            "{err}"
        );
        assert!(sb.target_is_empty());
    }

    /// Found by fuzz/ (target `unpack`): a NUL inside a GNU long name was only refused by the
    /// kernel while writing, after the entries before it had been written.
    #[test]
    fn refuses_a_nul_in_a_long_name_before_writing() {
        let sb = Sandbox::new();
        let mut builder = tar::Builder::new(Vec::new());
        let ok = header("first", EntryType::Regular, 1, 0o644, "");
        builder.append(&ok, &b"x"[..]).expect("append");
        let long = b"dir/a\0b";
        let ext = header(
            "././@LongLink",
            EntryType::GNULongName,
            long.len() as u64,
            0o644,
            "",
        );
        builder.append(&ext, &long[..]).expect("append");
        let file = header("short", EntryType::Regular, 1, 0o644, "");
        builder.append(&file, &b"y"[..]).expect("append");
        let err = sb.refused(&builder.into_inner().expect("tar"), &defaults());
        assert!(matches!(err, UnpackError::NulInName { .. }), "{err}");
        assert!(!err.to_string().contains('\0'), "{err:?}");
        assert!(sb.target_is_empty());
    }

    #[test]
    fn refuses_archives_past_the_entry_cap() {
        let sb = Sandbox::new();
        let opts = UnpackOptions {
            max_entries: 2,
            ..defaults()
        };
        let err = sb.refused(&tar_of(&[Dir("a/"), Dir("b/"), Dir("c/")]), &opts);
        assert!(
            matches!(err, UnpackError::TooManyEntries { limit: 2 }),
            "{err}"
        );
        assert!(sb.target_is_empty());
    }
}
