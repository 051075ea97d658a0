//! One unpack from start to end: the pin, the format, the destination, the two passes (see
//! `untar` and `unzip`) and the report; and what those passes share.

use std::fs::File;
use std::io;
use std::path::Path;
use std::time::Instant;

use crate::error::one_line;
use crate::extract::Stats;
use crate::file::open_archive;
use crate::format::detect_format;
use crate::sha256::{run_hashing, verify_pin};
use crate::tree::Tree;
use crate::untar::unpack_tar;
use crate::unzip::unpack_zip;
use crate::{Format, UnpackError, UnpackOptions, UnpackReport};

/// Read and write buffer size: large enough that per-call overhead vanishes next to copying.
pub(crate) const BUF_SIZE: usize = 256 * 1024;

/// Unpacks `archive` over `dest` (created if missing) and reports what it did.
///
/// All or nothing: when the archive is refused or fails part-way, `dest` is left as it was
/// (see the crate documentation); nothing is ever written outside it.
pub fn unpack(
    archive: &Path,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackReport, UnpackError> {
    let start = Instant::now();
    let pinned = opts.sha256;
    let file = open_archive(archive).map_err(|source| UnpackError::Read {
        path: archive.to_path_buf(),
        source,
    })?;
    let format = detect_format(&file, archive)?;
    let job = Job {
        archive,
        file: &file,
        format,
        opts,
    };

    // A pinned archive is hashed before anything else, so that a mismatch writes nothing.
    let verified = pinned
        .map(|expected| verify_pin(&job, expected))
        .transpose()?;
    let tree = Tree::open(dest)?;
    let ran = match verified {
        Some(sha) => run(&job, &tree).map(|done| (done, sha)),
        None => run_hashing(&job, &tree),
    };
    let (done, sha) = ran.map_err(|error| tree.discard(error))?;

    Ok(UnpackReport {
        archive: archive.to_path_buf(),
        dest: tree.dest.clone(),
        format,
        strip: done.strip.levels,
        auto_stripped: done.strip.wrapper,
        files: done.stats.files,
        dirs: done.stats.dirs,
        symlinks: done.stats.symlinks,
        hardlinks: done.stats.hardlinks,
        bytes: done.stats.bytes,
        owner_not_kept: done.stats.owner_not_kept,
        archive_sha256: sha,
        elapsed: start.elapsed(),
    })
}

/// What the writing pass produced.
pub(crate) struct Done {
    pub(crate) strip: crate::strip::Strip,
    pub(crate) stats: Stats,
}

/// One unpack's archive and options, as both passes see them.
pub(crate) struct Job<'a> {
    pub(crate) archive: &'a Path,
    pub(crate) file: &'a File,
    pub(crate) format: Format,
    pub(crate) opts: &'a UnpackOptions,
}

impl Job<'_> {
    pub(crate) fn read_error(&self, source: io::Error) -> UnpackError {
        UnpackError::Read {
            path: self.archive.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(&self, detail: impl Into<String>) -> UnpackError {
        UnpackError::Corrupt {
            path: self.archive.to_path_buf(),
            detail: one_line(detail.into()),
        }
    }
}

pub(crate) fn run(job: &Job<'_>, tree: &Tree) -> Result<Done, UnpackError> {
    match job.format {
        Format::Zip => unpack_zip(job, tree),
        _ => unpack_tar(job, tree),
    }
}

#[cfg(test)]
mod tests {
    use crate::{UnpackOptions, unpack};
    use std::path::Path;

    /// Throughput check against `tar -xzf`: set `HOOKINIT_BENCH_ARCHIVE` and `HOOKINIT_BENCH_DEST`
    /// and run with `--ignored --nocapture`.
    #[test]
    #[ignore = "benchmark: needs HOOKINIT_BENCH_ARCHIVE and HOOKINIT_BENCH_DEST"]
    fn bench_unpack() {
        let (Ok(archive), Ok(dest)) = (
            std::env::var("HOOKINIT_BENCH_ARCHIVE"),
            std::env::var("HOOKINIT_BENCH_DEST"),
        ) else {
            return;
        };
        let opts = UnpackOptions {
            strip: Some(0),
            max_bytes: u64::MAX,
            ..UnpackOptions::default()
        };
        let report = unpack(Path::new(&archive), Path::new(&dest), &opts).expect("unpack");
        println!("{report}");
    }
}
