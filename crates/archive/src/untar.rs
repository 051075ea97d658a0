//! The tar path (plain, gzip, xz, zstd). A checking pass decompresses the whole stream before
//! anything is written, which verifies the compressed stream's own checksums, catches corrupt or
//! truncated data and decides the automatic strip; the writing pass then decompresses it again.
//!
//! Entries are read raw and their GNU long-name and pax records applied here, so that those
//! records are bounded in size and number.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::thread;

use crate::entry::{Head, Kind, Meta};
use crate::error::lossy;
use crate::extract::Extractor;
use crate::file::FileAt;
use crate::format::looks_tar;
use crate::limits::Limits;
use crate::read_ahead::{fill, read_ahead};
use crate::strip::{Strip, TopDir};
use crate::tree::Tree;
use crate::unpack::{BUF_SIZE, Done, Job};
use crate::{Format, UnpackError};

/// GNU long names and pax headers are read into memory; real ones are a few KiB at most.
const MAX_EXTENSION: u64 = 1 << 20;
/// Extension headers (long name, long link, pax, global pax) allowed before one entry.
const MAX_EXTENSIONS_IN_A_ROW: u32 = 8;
/// Data decompressed after the end-of-archive marker is read (to verify the compressed stream's
/// own checksum) but not without bound: record padding is kilobytes, not a decompression bomb.
const MAX_TRAILER: u64 = 64 << 20;
/// xz -9 needs 65 MiB; a header asking for gigabytes of dictionary is refused.
const XZ_MEM_LIMIT_KIB: u32 = 256 * 1024;

pub(crate) fn unpack_tar(job: &Job<'_>, tree: &Tree) -> Result<Done, UnpackError> {
    // First pass: decompress and check the whole stream (this is what verifies gzip/xz/zstd
    // checksums and catches truncation) and find the top folder, before writing anything.
    let mut top = TopDir::default();
    let stream = tar_stream(job.file, job.format).map_err(|e| job.corrupt(e.to_string()))?;
    let mut buf = vec![0; BUF_SIZE];
    read_tar(job, stream, |head, comps, data| {
        top.observe(comps, matches!(head.kind, Kind::Dir));
        // Read the data here in large blocks (tar would skip it 8 KiB at a time): decompressing
        // is the cost of this pass.
        loop {
            match data.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(job.corrupt(e.to_string())),
            }
        }
    })?;

    let strip = Strip::decide(job.opts.strip, &top);
    let mut ex = Extractor::new(tree, job, strip.levels);
    // Second pass: decompress on the other core while this one writes, as `tar -z` does with
    // its gzip child.
    let written = thread::scope(|scope| {
        let stream = read_ahead(
            scope,
            tar_stream(job.file, job.format).map_err(|e| job.corrupt(e.to_string()))?,
        );
        read_tar(job, stream, |head, comps, data| ex.entry(head, comps, data))
    });
    Ok(Done {
        strip,
        stats: ex.conclude(written)?,
    })
}

/// The decompressed tar stream of a tar-family archive.
fn tar_stream<'f>(file: &'f File, format: Format) -> io::Result<Box<dyn Read + Send + 'f>> {
    let raw = BufReader::with_capacity(BUF_SIZE, FileAt::new(file));
    // The outer BufReader serves tar's 512-byte header reads; file data reads are as large as
    // the buffer and go straight through.
    let buffered = |r: Box<dyn Read + Send + 'f>| Box::new(BufReader::with_capacity(BUF_SIZE, r));
    Ok(match format {
        Format::Tar => Box::new(raw),
        // Multi-member like gzip -d: concatenated .gz files are one stream.
        Format::TarGz => buffered(Box::new(flate2::bufread::MultiGzDecoder::new(raw))),
        Format::TarXz => buffered(Box::new(lzma_rust2::XzReader::new_mem_limit(
            raw,
            true,
            XZ_MEM_LIMIT_KIB,
        ))),
        Format::TarZst => buffered(Box::new(zstd::stream::read::Decoder::with_buffer(raw)?)),
        Format::Zip => return Err(io::Error::other("a zip archive is not a tar stream")),
    })
}

/// Pax and GNU extension records waiting for the entry they describe.
#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<i64>,
    /// Extension headers read since the last entry.
    extensions: u32,
}

impl Pending {
    fn apply_pax(&mut self, records: &[u8]) -> Result<(), String> {
        let number = |v: &[u8]| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
        };
        for record in tar::PaxExtensions::new(records) {
            let record = record.map_err(|e| format!("bad pax header: {e}"))?;
            let value = record.value_bytes();
            match record.key_bytes() {
                b"path" => self.path = Some(value.to_vec()),
                b"linkpath" => self.link = Some(value.to_vec()),
                b"size" => self.size = number(value),
                b"uid" => self.uid = number(value),
                b"gid" => self.gid = number(value),
                b"mtime" => {
                    // Fractional seconds are dropped: we set whole-second mtimes.
                    let whole = value.split(|&b| b == b'.').next().unwrap_or_default();
                    self.mtime = std::str::from_utf8(whole).ok().and_then(|s| s.parse().ok());
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Combines the pending records with the entry's own header.
    fn head_for<R: Read>(self, entry: &tar::Entry<'_, R>) -> Result<Head, String> {
        let header = entry.header();
        let name = self
            .path
            .unwrap_or_else(|| header.path_bytes().into_owned());
        if self.size.is_some_and(|size| size != entry.size()) {
            // We iterate raw headers, so honouring a pax size would desynchronise the stream.
            return Err(format!(
                "entry {:?}: a pax size that differs from the header size is not supported",
                lossy(&name)
            ));
        }
        let mode = header
            .mode()
            .map_err(|e| format!("entry {:?}: {e}", lossy(&name)))?;
        let mtime = self
            .mtime
            .or_else(|| header.mtime().ok().and_then(|t| i64::try_from(t).ok()));
        let uid = self
            .uid
            .or_else(|| header.uid().ok())
            .and_then(|id| u32::try_from(id).ok());
        let gid = self
            .gid
            .or_else(|| header.gid().ok())
            .and_then(|id| u32::try_from(id).ok());
        let link = || {
            self.link
                .clone()
                .or_else(|| header.link_name_bytes().map(Cow::into_owned))
        };
        use tar::EntryType as T;
        let kind = match header.entry_type() {
            // Old tars mark directories only by a trailing slash.
            T::Regular | T::Continuous if name.ends_with(b"/") => Kind::Dir,
            T::Regular | T::Continuous => Kind::File,
            T::Directory => Kind::Dir,
            T::Symlink => Kind::Symlink(link().unwrap_or_default()),
            T::Link => Kind::Hardlink(link().unwrap_or_default()),
            T::Char => Kind::Special("character device"),
            T::Block => Kind::Special("block device"),
            T::Fifo => Kind::Special("fifo"),
            T::GNUSparse => Kind::Unsupported("GNU sparse files are not supported".into()),
            other => Kind::Unsupported(format!(
                "tar entry type {:?} is not supported",
                other.as_byte() as char
            )),
        };
        let meta = Meta {
            mode,
            mtime,
            owner: uid.zip(gid),
        };
        Ok(Head {
            name,
            kind,
            meta,
            size: entry.size(),
        })
    }
}

/// Counts what tar reads, to tell an end-of-archive marker from a stream that just stops.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Calls `visit` for each entry of a tar stream that [`Limits`] admits, with its path
/// components.
///
/// Entries are read raw and the GNU long-name and pax records applied here, so that their size
/// is bounded (the tar crate would read any size into memory). Every byte of the stream is
/// charged against the size cap before it is read: headers, extension records, any entry's
/// data and padding, and what follows the end-of-archive marker.
fn read_tar(
    job: &Job<'_>,
    mut stream: impl Read,
    mut visit: impl FnMut(&Head, &[&[u8]], &mut dyn Read) -> Result<(), UnpackError>,
) -> Result<(), UnpackError> {
    let mut limits = Limits::new(job.opts);
    // Say so plainly when a compressed file holds something other than a tar archive.
    let mut first = [0u8; 512];
    let len = fill(&mut stream, &mut first).map_err(|e| job.corrupt(e.to_string()))?;
    if !looks_tar(&first[..len]) {
        let inside = match job.format {
            Format::Tar => String::new(),
            other => format!(" inside the {other} data"),
        };
        return Err(job.corrupt(format!(
            "no tar archive{inside} (the first header is invalid)"
        )));
    }
    let stream = io::Cursor::new(first).take(len as u64).chain(stream);
    let mut archive = tar::Archive::new(Counted {
        inner: stream,
        count: 0,
    });
    let mut pending = Pending::default();
    // Where the next header starts: the end-of-archive marker must be there.
    let mut next_header = 0u64;
    let entries = archive
        .entries()
        .map_err(|e| job.corrupt(e.to_string()))?
        .raw(true);
    for item in entries {
        let mut entry = item.map_err(|e| job.corrupt(e.to_string()))?;
        next_header = entry
            .raw_file_position()
            .saturating_add(entry.size().div_ceil(512).saturating_mul(512));
        use tar::EntryType as T;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            T::GNULongName | T::GNULongLink | T::XHeader | T::XGlobalHeader
        ) {
            let name = || lossy(&entry.path_bytes());
            limits.charge_metadata(entry.size(), name)?;
            limits.reach(next_header, name)?;
            let data = read_extension(job, &mut entry, &mut pending.extensions)?;
            match kind {
                T::GNULongName => pending.path = Some(data),
                T::GNULongLink => pending.link = Some(data),
                T::XHeader => pending.apply_pax(&data).map_err(|e| job.corrupt(e))?,
                // Archive comments (GitHub's commit id): nothing to apply.
                _ => {}
            }
            continue;
        }
        let head = std::mem::take(&mut pending)
            .head_for(&entry)
            .map_err(|e| job.corrupt(e))?;
        let comps = limits.admit(&head)?;
        limits.reach(next_header, || head.display_name())?;
        visit(&head, &comps, &mut entry)?;
    }
    let mut rest = archive.into_inner();
    if rest.count < next_header + 512 {
        return Err(job.corrupt("the archive ends without its end-of-archive marker"));
    }
    read_trailer(job, &mut rest, &mut limits)
}

/// Reads what follows the end-of-archive marker so that the decompressor checks its trailer
/// (CRC, size): record padding is kilobytes; more counts against the caps.
fn read_trailer(
    job: &Job<'_>,
    rest: &mut Counted<impl Read>,
    limits: &mut Limits<'_>,
) -> Result<(), UnpackError> {
    let budget = limits.remaining().min(MAX_TRAILER);
    let trailer = io::copy(&mut (&mut *rest).take(budget + 1), &mut io::sink())
        .map_err(|e| job.corrupt(e.to_string()))?;
    limits.reach(rest.count, || {
        "(data after the end-of-archive marker)".into()
    })?;
    if trailer > MAX_TRAILER {
        return Err(job.corrupt("more than 64 MiB of data after the end of the archive"));
    }
    Ok(())
}

/// Reads an extension header's data (long name, long link, pax records) into memory; `seen`
/// counts those read since the last entry, since their number must be bounded too (real
/// archives put one or two before an entry).
fn read_extension(
    job: &Job<'_>,
    entry: &mut dyn Read,
    seen: &mut u32,
) -> Result<Vec<u8>, UnpackError> {
    *seen += 1;
    if *seen > MAX_EXTENSIONS_IN_A_ROW {
        return Err(job.corrupt(format!(
            "more than {MAX_EXTENSIONS_IN_A_ROW} extended headers in a row"
        )));
    }
    let mut data = Vec::new();
    let read = entry
        .take(MAX_EXTENSION + 1)
        .read_to_end(&mut data)
        .map_err(|e| job.corrupt(e.to_string()))?;
    if read as u64 > MAX_EXTENSION {
        return Err(job.corrupt("an extended (long name or pax) header larger than 1 MiB"));
    }
    while data.last() == Some(&0) {
        data.pop();
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use crate::{UnpackError, UnpackOptions};
    use std::fs;
    use tar::{EntryType, Header};

    #[test]
    fn concatenated_gzip_members_are_one_stream() {
        let sb = Sandbox::new();
        let tar = tar_of(&github_items());
        let (first, second) = tar.split_at(1024);
        let bytes = [gz(first), gz(second)].concat();
        let report = sb.unpack(&bytes, &defaults()).expect("unpack");
        check_github_tree(&sb.dest, &report);
    }

    #[test]
    fn long_names_from_gnu_and_pax_headers_are_used() {
        let sb = Sandbox::new();
        let long = format!("{}/file", "d".repeat(150));
        let mut builder = tar::Builder::new(Vec::new());
        // The tar writer emits a GNU long-name entry for this one.
        let mut gnu = Header::new_gnu();
        gnu.set_size(3);
        gnu.set_mode(0o644);
        gnu.set_entry_type(EntryType::Regular);
        builder
            .append_data(&mut gnu, &long, &b"gnu"[..])
            .expect("gnu");
        // And a pax record that renames the next entry.
        let record = format!("{} path=pax/{}\n", 10 + 4 + 150, "p".repeat(150));
        let pax = header(
            "PaxHeaders/x",
            EntryType::XHeader,
            record.len() as u64,
            0o644,
            "",
        );
        builder.append(&pax, record.as_bytes()).expect("pax");
        builder
            .append(
                &header("short", EntryType::Regular, 3, 0o644, ""),
                &b"pax"[..],
            )
            .expect("short");
        let opts = UnpackOptions {
            strip: Some(0),
            ..defaults()
        };
        sb.unpack(&builder.into_inner().expect("tar"), &opts)
            .expect("unpack");
        assert_eq!(
            fs::read(sb.dest.join(&long)).expect("gnu long name"),
            b"gnu"
        );
        assert_eq!(
            fs::read(sb.dest.join("pax").join("p".repeat(150))).expect("pax path"),
            b"pax"
        );
        assert!(!sb.dest.join("short").exists());
    }

    #[test]
    fn data_after_the_end_marker_counts_against_the_size_cap() {
        let sb = Sandbox::new();
        let mut tar = tar_of(&[File("a", b"a", 0o644)]);
        tar.extend_from_slice(&[0; 100 << 10]);
        let opts = UnpackOptions {
            max_bytes: 64 << 10,
            ..defaults()
        };
        let err = sb.refused(&zst(&tar), &opts);
        assert!(matches!(err, UnpackError::TooLarge { .. }), "{err}");
        assert!(
            err.to_string().contains("after the end-of-archive"),
            "{err}"
        );
        assert!(sb.target_is_empty());
    }

    #[test]
    fn refuses_endless_extension_headers() {
        let sb = Sandbox::new();
        let records: &[u8] = b"14 comment=xx\n";
        let items: Vec<Item<'_>> = std::iter::repeat_n(GlobalPax(records), 9)
            .chain([File("a", b"x", 0o644)])
            .collect();
        let err = sb.refused(&tar_of(&items), &defaults());
        assert!(
            err.to_string()
                .contains("more than 8 extended headers in a row"),
            "{err}"
        );
        assert!(sb.target_is_empty());
        // Eight are still fine.
        let items: Vec<Item<'_>> = std::iter::repeat_n(GlobalPax(records), 8)
            .chain([File("a", b"x", 0o644)])
            .collect();
        sb.unpack(&tar_of(&items), &defaults()).expect("unpack");
    }

    #[test]
    fn refuses_truncated_gzip() {
        let sb = Sandbox::new();
        let big: Vec<u8> = (0..200_000u32).flat_map(u32::to_le_bytes).collect();
        let bytes = gz(&tar_of(&[
            File("big", &big, 0o644),
            File("after", b"x", 0o644),
        ]));
        let err = sb.refused(&bytes[..bytes.len() * 2 / 3], &defaults());
        assert!(matches!(err, UnpackError::Corrupt { .. }), "{err}");
        assert!(sb.target_is_empty());
        // Cut inside the gzip trailer only: the tar data is whole but the CRC is missing.
        let err = sb.refused(&bytes[..bytes.len() - 4], &defaults());
        assert!(matches!(err, UnpackError::Corrupt { .. }), "{err}");
        assert!(sb.target_is_empty());
    }

    #[test]
    fn refuses_truncated_tar() {
        let sb = Sandbox::new();
        let tar = tar_of(&[File("a", b"a", 0o644), File("b", &[7; 2000], 0o644)]);
        // Inside b's data, then exactly after b (no end-of-archive marker).
        for cut in [1024 + 512 + 700, 1024 + 512 + 2048] {
            let err = sb.refused(&tar[..cut], &defaults());
            assert!(matches!(err, UnpackError::Corrupt { .. }), "{err}");
            assert!(sb.target_is_empty());
        }
    }

    #[test]
    fn refuses_oversized_long_names() {
        let sb = Sandbox::new();
        let mut builder = tar::Builder::new(Vec::new());
        let long = vec![b'a'; 2 << 20];
        let mut h = header(
            "././@LongLink",
            EntryType::GNULongName,
            long.len() as u64,
            0o644,
            "",
        );
        h.set_cksum();
        builder.append(&h, &long[..]).expect("long name");
        let err = sb.refused(&builder.into_inner().expect("tar"), &defaults());
        assert!(matches!(err, UnpackError::Corrupt { .. }), "{err}");
    }
}
