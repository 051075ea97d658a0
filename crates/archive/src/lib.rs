//! Safe extraction of tar (plain, gzip, xz, zstd) and zip archives over a root filesystem.
//!
//! This is what `fstree=URL` and operator plugins (through their grants) use to patch a
//! container's filesystem, so the archive is treated as hostile:
//!
//! - Every rule that needs no filesystem (`..`, absolute names, device nodes and fifos, hard
//!   links leaving the archive, duplicate zip names, entry, size and metadata caps) is checked in
//!   a first pass, so such an archive is refused before anything is written. For a tar stream
//!   that pass decompresses everything, which also catches corrupt or truncated data and
//!   decides the automatic strip of a GitHub-style top folder; for a zip it reads the central
//!   directory only, and each entry's CRC is checked as the entry is written.
//! - Every decompressed byte counts against the size cap, whatever it belongs to (headers,
//!   extension records, any entry's data and padding, data after the end marker), and is
//!   charged before it is read; extension records (pax, GNU long names) also have a cap of
//!   their own ([`metadata_cap`]).
//! - The second pass writes, all or nothing: what only it can find (a symlink leading out, a
//!   file over a directory, a bad zip CRC, a full disk) undoes what it wrote, and the
//!   destination is left as it was (`undo.rs` says how; only directory times may differ).
//! - Paths are resolved one component at a time from a directory fd of the destination, each
//!   opened with `O_NOFOLLOW`; symlinks met on the way (already on disk or made by the archive)
//!   are read and resolved here, and any that leads outside the destination is refused. The
//!   kernel therefore never follows a link on our behalf, and an archive that makes `a -> /etc`
//!   and then writes `a/passwd` cannot escape. The destination itself must not be, or go
//!   through, a symlink: the operator gives its real path.
//! - Symlink entries themselves may point anywhere (`/usr/bin/x -> /etc/alternatives/x` is normal
//!   in a root filesystem): they are created, never written through.
//! - Files are replaced by `O_CREAT|O_EXCL|O_NOFOLLOW` after what was there is moved aside, so an
//!   existing symlink or hard link at the destination is replaced, not followed. A directory is
//!   never replaced, and one that existed keeps its mode and owner.
//! - Owners are the archive's when running as root; setuid and setgid bits are kept only where
//!   the owner they were meant for was really applied.

use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{
    FileStat, Mode, SFlag, UtimensatFlags, fchmod, fstatat, futimens, mkdirat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};
use sha2::{Digest, Sha256};

use hookinit_values::show::{hex, human_bytes, human_duration};

mod undo;

use undo::{Journal, Spot};

/// Default cap on unpacked content: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// Default cap on the number of entries.
pub const DEFAULT_MAX_ENTRIES: u64 = 1_000_000;

/// Read and write buffer size: large enough that per-call overhead vanishes next to copying.
const BUF_SIZE: usize = 256 * 1024;
/// GNU long names and pax headers are read into memory; real ones are a few KiB at most.
const MAX_EXTENSION: u64 = 1 << 20;
/// Extension headers (long name, long link, pax, global pax) allowed before one entry.
const MAX_EXTENSIONS_IN_A_ROW: u32 = 8;
/// Upper bound of [`metadata_cap`].
const MAX_METADATA: u64 = 64 << 20;
/// A symlink stored as zip data is a path, so `PATH_MAX` bounds it.
const MAX_LINK_TARGET: u64 = 4096;
/// Like the kernel's ELOOP limit.
const MAX_SYMLINK_HOPS: u32 = 40;
/// Data decompressed after the end-of-archive marker is read (to verify the compressed stream's
/// own checksum) but not without bound: record padding is kilobytes, not a decompression bomb.
const MAX_TRAILER: u64 = 64 << 20;
/// xz -9 needs 65 MiB; a header asking for gigabytes of dictionary is refused.
const XZ_MEM_LIMIT_KIB: u32 = 256 * 1024;
/// Top folders that are part of a root filesystem and therefore never stripped automatically:
/// an archive of just `etc/` means `/etc`, not the contents of etc at `/`.
const ROOTFS_DIRS: &[&[u8]] = &[
    b"bin", b"boot", b"dev", b"etc", b"home", b"lib", b"lib32", b"lib64", b"libx32", b"media",
    b"mnt", b"opt", b"proc", b"root", b"run", b"sbin", b"srv", b"sys", b"tmp", b"usr", b"var",
];

/// How to unpack. `Default` gives the `fstree` behaviour.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Leading path components removed from every entry (`strip=N`). `None` strips one level
    /// when every entry lives in a single top folder (GitHub's `repo-ref/`) whose name is not a
    /// root-filesystem directory such as `etc` or `usr`.
    pub strip: Option<u32>,
    /// Expected sha256 of the archive file (64 hex digits, optionally `sha256:`-prefixed). It is
    /// checked before anything is written.
    pub sha256: Option<String>,
    /// Cap on the unpacked content (the sum of regular file sizes).
    pub max_bytes: u64,
    /// Cap on the number of entries.
    pub max_entries: u64,
    /// Give entries the archive's uid/gid, as tar does when run as root. Defaults to whether the
    /// process runs as root. Where the kernel refuses (EPERM, or EINVAL for an id a user
    /// namespace does not map), or the archive's id is 4294967295 (chown's "no change"), the
    /// entry keeps our ownership and is counted in [`UnpackReport::owner_not_kept`]: a patch
    /// should not fail over ownership. setuid survives only where the archive's uid was
    /// applied, setgid only where its gid was; without `same_owner` both are dropped.
    pub same_owner: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            strip: None,
            sha256: None,
            max_bytes: DEFAULT_MAX_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
            same_owner: nix::unistd::geteuid().is_root(),
        }
    }
}

/// Archive formats, recognised by their first bytes, never by the file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Tar,
    TarGz,
    TarXz,
    TarZst,
    Zip,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Tar => "tar",
            Format::TarGz => "tar.gz",
            Format::TarXz => "tar.xz",
            Format::TarZst => "tar.zst",
            Format::Zip => "zip",
        })
    }
}

/// What an unpack did; its `Display` is the one summary line the caller logs.
#[derive(Debug, Clone)]
pub struct UnpackReport {
    pub archive: PathBuf,
    pub dest: PathBuf,
    pub format: Format,
    /// The strip level applied (explicit or automatic).
    pub strip: u32,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    /// Entries whose archive ownership the kernel refused (see [`UnpackOptions::same_owner`]).
    pub owner_not_kept: u64,
    pub archive_sha256: String,
    pub elapsed: Duration,
}

impl fmt::Display for UnpackReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.archive.file_name().unwrap_or(self.archive.as_os_str());
        write!(
            f,
            "unpacked {} ({}), {}, {}, {} from {} ({}, strip {}, sha256 {}) into {} in {}",
            plural(self.files, "file"),
            human_bytes(self.bytes),
            plural(self.dirs, "dir"),
            plural(self.symlinks, "symlink"),
            plural(self.hardlinks, "hard link"),
            Path::new(name).display(),
            self.format,
            self.strip,
            self.archive_sha256,
            self.dest.display(),
            human_duration(self.elapsed),
        )?;
        if self.owner_not_kept > 0 {
            write!(
                f,
                "; ownership not kept on {}",
                plural(self.owner_not_kept, "entry")
            )?;
        }
        Ok(())
    }
}

fn plural(n: u64, word: &str) -> String {
    match (n, word.strip_suffix('y')) {
        (1, _) => format!("1 {word}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {word}s"),
    }
}

/// Why an unpack failed. Each message names the archive or the entry and says what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("invalid sha256 pin {value:?}: expected 64 hex digits")]
    BadSha256 { value: String },
    #[error("cannot read archive {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{path} is not a tar or zip archive ({detail}); fstree takes tar, tar.gz, tar.xz, tar.zst and zip"
    )]
    NotAnArchive { path: PathBuf, detail: String },
    #[error("{path} is corrupt or truncated: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("sha256 of {path} is {actual}, not the pinned {expected}; nothing was unpacked")]
    Sha256Mismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("cannot unpack into {path}: {source}")]
    Dest { path: PathBuf, source: io::Error },
    #[error(
        "refused dest {dest}: {link} is a symlink (to {target}), which is not followed; give the real path, {real}"
    )]
    DestSymlink {
        dest: PathBuf,
        link: PathBuf,
        target: PathBuf,
        real: String,
    },
    #[error("refused entry {entry:?}: absolute path")]
    AbsolutePath { entry: String },
    #[error("refused entry {entry:?}: `..` path component")]
    ParentDir { entry: String },
    #[error("refused entry {entry:?}: a NUL byte in its name or link target")]
    NulInName { entry: String },
    #[error("refused entry {entry:?}: symlink {link:?} -> {target:?} leads outside {dest}")]
    SymlinkEscape {
        entry: String,
        link: String,
        target: String,
        dest: PathBuf,
    },
    #[error("refused hard link {entry:?}: target {target:?} is outside the destination")]
    HardlinkEscape { entry: String, target: String },
    #[error("refused hard link {entry:?}: target {target:?} {reason}")]
    HardlinkTarget {
        entry: String,
        target: String,
        reason: &'static str,
    },
    #[error("refused entry {entry:?}: {kind} entries are never unpacked")]
    SpecialFile { entry: String, kind: &'static str },
    #[error("refused entry {entry:?}: {detail}")]
    Unsupported { entry: String, detail: String },
    #[error(
        "refused archive: it unpacks to more than the {} cap (headers included) at entry {entry:?}; raise the cap (max-size) if this is expected",
        human_bytes(*limit)
    )]
    TooLarge { entry: String, limit: u64 },
    #[error(
        "refused archive: its extended headers (pax records, long names) pass {} at entry {entry:?}; this cap is a quarter of the size cap, at most 64 MiB",
        human_bytes(*limit)
    )]
    TooMuchMetadata { entry: String, limit: u64 },
    #[error(
        "refused archive: the zip holds {entry:?} twice (which copy wins depends on the tool); rebuild it with each name once"
    )]
    DuplicateName { entry: String },
    #[error("refused archive: more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("cannot unpack {entry:?}: {path} is not a directory")]
    NotADirectory { entry: String, path: PathBuf },
    #[error("cannot unpack {entry:?}: {path} is a directory")]
    IsADirectory { entry: String, path: PathBuf },
    #[error("{error}; and the destination could not be put back as it was: {detail}")]
    NotUndone {
        error: Box<UnpackError>,
        detail: String,
    },
    #[error("cannot unpack {entry:?} to {path}: {source}")]
    Io {
        entry: String,
        path: PathBuf,
        source: io::Error,
    },
}

/// Unpacks `archive` over `dest` (created if missing) and reports what it did.
///
/// All or nothing: when the archive is refused or fails part-way, `dest` is left as it was
/// (see the module documentation); nothing is ever written outside it.
pub fn unpack(
    archive: &Path,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackReport, UnpackError> {
    let start = Instant::now();
    let pinned = opts.sha256.as_deref().map(parse_sha256).transpose()?;
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
        strip: done.strip,
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

fn verify_pin(job: &Job<'_>, expected: String) -> Result<String, UnpackError> {
    let actual = sha256_file(job.file, &AtomicBool::new(false)).map_err(|e| job.read_error(e))?;
    if actual == expected {
        Ok(actual)
    } else {
        let path = job.archive.to_path_buf();
        Err(UnpackError::Sha256Mismatch {
            path,
            expected,
            actual,
        })
    }
}

/// Unpacks while another thread hashes the archive: nobody waits on an unpinned hash.
fn run_hashing(job: &Job<'_>, tree: &Tree) -> Result<(Done, String), UnpackError> {
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        let hashing = scope.spawn(|| sha256_file(job.file, &stop));
        let done = run(job, tree);
        // A refused archive need not be hashed to the end.
        stop.store(done.is_err(), Ordering::Relaxed);
        let sha = hashing
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the hashing thread panicked")));
        Ok((done?, sha.map_err(|e| job.read_error(e))?))
    })
}

fn parse_sha256(value: &str) -> Result<String, UnpackError> {
    let hex = value.trim();
    let hex = hex
        .strip_prefix("sha256:")
        .unwrap_or(hex)
        .to_ascii_lowercase();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(UnpackError::BadSha256 {
            value: value.to_string(),
        })
    }
}

fn sha256_file(file: &File, stop: &AtomicBool) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; BUF_SIZE];
    let mut reader = FileAt::new(file);
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

// ---------------------------------------------------------------------------------------------
// Format detection and decoding

/// Opens the archive without blocking (a fifo would wait for a writer, past every deadline) and
/// refuses what is not a regular file, as opened (no window between a check and the open).
fn open_archive(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(
            "not a regular file (a fifo, a device or a directory): give an archive file",
        ));
    }
    Ok(file)
}

fn detect_format(file: &File, path: &Path) -> Result<Format, UnpackError> {
    let mut head = [0u8; 512];
    let mut len = 0;
    while len < head.len() {
        match file.read_at(&mut head[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(UnpackError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
    sniff(&head[..len]).ok_or_else(|| UnpackError::NotAnArchive {
        path: path.to_path_buf(),
        detail: describe_unknown(&head[..len]),
    })
}

fn sniff(head: &[u8]) -> Option<Format> {
    const MAGIC: &[(&[u8], Format)] = &[
        (&[0x1f, 0x8b], Format::TarGz),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], Format::TarXz),
        (&[0x28, 0xb5, 0x2f, 0xfd], Format::TarZst),
        (b"PK\x03\x04", Format::Zip),
        (b"PK\x05\x06", Format::Zip), // an empty zip: only the end of central directory
        (b"PK\x07\x08", Format::Zip), // spanned-archive marker before the first entry
    ];
    if let Some((_, format)) = MAGIC.iter().find(|(magic, _)| head.starts_with(magic)) {
        return Some(*format);
    }
    looks_tar(head).then_some(Format::Tar)
}

/// Whether a 512-byte block is a tar header (or the all-zero block of an empty archive).
fn looks_tar(block: &[u8]) -> bool {
    block.len() == 512
        && (&block[257..262] == b"ustar" || tar_checksum_ok(block) || block.iter().all(|&b| b == 0))
}

/// A pre-POSIX (v7) tar header has no magic: its checksum is the only sign.
fn tar_checksum_ok(header: &[u8]) -> bool {
    let field = &header[148..156];
    let digits = field
        .iter()
        .skip_while(|&&b| b == b' ')
        .take_while(|&&b| (b'0'..=b'7').contains(&b));
    let stored = digits.fold(0u32, |acc, &b| {
        acc.saturating_mul(8).saturating_add(u32::from(b - b'0'))
    });
    let sum: u32 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(b)
            }
        })
        .sum();
    stored != 0 && stored == sum
}

fn describe_unknown(head: &[u8]) -> String {
    let text = String::from_utf8_lossy(&head[..head.len().min(64)]).to_ascii_lowercase();
    if head.is_empty() {
        "the file is empty".into()
    } else if head.starts_with(b"BZh") {
        "bzip2 data, which is not supported: recompress with gzip, xz or zstd".into()
    } else if text.trim_start().starts_with('<') {
        "it looks like an HTML or XML page".into()
    } else {
        format!("it starts with bytes {}", hex(&head[..head.len().min(8)]))
    }
}

/// Reads a shared `File` with `pread`, so the hashing thread and the unpacker each keep their
/// own position.
struct FileAt<'f> {
    file: &'f File,
    pos: u64,
}

impl<'f> FileAt<'f> {
    fn new(file: &'f File) -> Self {
        FileAt { file, pos: 0 }
    }
}

impl Read for FileAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for FileAt<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.file.metadata()?.len().checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        Ok(self.pos)
    }
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

// ---------------------------------------------------------------------------------------------
// Entries, as both readers describe them

/// One archive entry, independent of the archive format.
#[derive(Debug)]
struct Head {
    name: Vec<u8>,
    kind: Kind,
    meta: Meta,
    /// Declared size of the entry's data: a file's content, or data that another kind of entry
    /// carries (read through and dropped, but decompressed all the same, so it counts too).
    size: u64,
}

impl Head {
    fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

#[derive(Debug)]
enum Kind {
    File,
    Dir,
    Symlink(Vec<u8>),
    Hardlink(Vec<u8>),
    /// Device nodes, fifos and sockets: refused.
    Special(&'static str),
    /// Anything else we will not unpack (sparse files, unknown types, encrypted zip entries).
    Unsupported(String),
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    mode: u32,
    mtime: Option<i64>,
    owner: Option<(u32, u32)>,
}

/// Why a path was refused by its name alone.
enum BadName {
    Absolute,
    ParentDir,
    Nul,
}

/// Splits an archive path into components: empty and `.` components vanish, an absolute path or
/// a `..` anywhere is refused (not normalised: such names only come from crafted archives).
fn components(raw: &[u8]) -> Result<Vec<&[u8]>, BadName> {
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
struct Limits<'o> {
    opts: &'o UnpackOptions,
    entries: u64,
    /// Bytes decompressed so far: a tar stream's headers, extension records, data and padding,
    /// or a zip's entry data.
    bytes: u64,
    /// Of those, bytes of extension records (pax, GNU long names), read into memory.
    metadata: u64,
}

impl<'o> Limits<'o> {
    fn new(opts: &'o UnpackOptions) -> Self {
        Limits {
            opts,
            entries: 0,
            bytes: 0,
            metadata: 0,
        }
    }

    /// Checks one entry's kind and name and returns its path components (before stripping).
    /// Its data is charged separately ([`Limits::reach`], [`Limits::charge`]).
    fn admit<'h>(&mut self, head: &'h Head) -> Result<Vec<&'h [u8]>, UnpackError> {
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
    fn charge(&mut self, size: u64, entry: impl FnOnce() -> String) -> Result<(), UnpackError> {
        self.reach(self.bytes.saturating_add(size), entry)
    }

    /// Records that the decompressed stream will have reached `total` bytes (a tar entry's end:
    /// header, data and padding), refusing before they are read if that passes the size cap.
    /// Every byte counts, whatever entry it belongs to: the cap bounds the work, not the files.
    fn reach(&mut self, total: u64, entry: impl FnOnce() -> String) -> Result<(), UnpackError> {
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
    fn charge_metadata(
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

    fn remaining(&self) -> u64 {
        self.opts.max_bytes.saturating_sub(self.bytes)
    }
}

/// The cap on extension records (pax, GNU long names) in total: a quarter of the size cap, at
/// most 64 MiB. Real archives carry a few hundred bytes per entry at most; these records are
/// read into memory and cost a header's parsing each, so a stream of them is a bomb of its own.
pub fn metadata_cap(max_bytes: u64) -> u64 {
    (max_bytes / 4).min(MAX_METADATA)
}

/// Watches entry names for a single shared top folder (GitHub's `repo-ref/`).
#[derive(Default)]
struct TopDir {
    name: Option<Vec<u8>>,
    several: bool,
    nested: bool,
}

impl TopDir {
    fn observe(&mut self, comps: &[&[u8]], is_dir: bool) {
        let Some(first) = comps.first() else { return };
        match &self.name {
            None => self.name = Some(first.to_vec()),
            Some(name) if name.as_slice() != *first => self.several = true,
            Some(_) => {}
        }
        // A file at the top level means there is no folder to strip.
        self.several |= comps.len() == 1 && !is_dir;
        self.nested |= comps.len() > 1;
    }

    fn strip(&self) -> u32 {
        match &self.name {
            Some(name)
                if !self.several && self.nested && !ROOTFS_DIRS.contains(&name.as_slice()) =>
            {
                1
            }
            _ => 0,
        }
    }
}

/// What the writing pass produced.
struct Done {
    strip: u32,
    stats: Stats,
}

#[derive(Debug, Default)]
struct Stats {
    files: u64,
    dirs: u64,
    symlinks: u64,
    hardlinks: u64,
    bytes: u64,
    owner_not_kept: u64,
}

struct Job<'a> {
    archive: &'a Path,
    file: &'a File,
    format: Format,
    opts: &'a UnpackOptions,
}

impl Job<'_> {
    fn read_error(&self, source: io::Error) -> UnpackError {
        UnpackError::Read {
            path: self.archive.to_path_buf(),
            source,
        }
    }

    fn corrupt(&self, detail: impl Into<String>) -> UnpackError {
        UnpackError::Corrupt {
            path: self.archive.to_path_buf(),
            detail: one_line(detail.into()),
        }
    }
}

/// The tar and zip crates quote an archive's raw bytes in their errors (a bad numeric field,
/// a name): control characters are escaped so that a hostile archive cannot break the one log
/// line its refusal is reported in, nor forge lines after it.
fn one_line(text: String) -> String {
    if !text.contains(char::is_control) {
        return text;
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn run(job: &Job<'_>, tree: &Tree) -> Result<Done, UnpackError> {
    match job.format {
        Format::Zip => unpack_zip(job, tree),
        _ => unpack_tar(job, tree),
    }
}

// ---------------------------------------------------------------------------------------------
// tar

fn unpack_tar(job: &Job<'_>, tree: &Tree) -> Result<Done, UnpackError> {
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

    let strip = job.opts.strip.unwrap_or_else(|| top.strip());
    let mut ex = Extractor::new(tree, job, strip);
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

/// Reads `source` on a scoped thread into a few large buffers handed over through a channel.
fn read_ahead<'scope, 'env>(
    scope: &'scope thread::Scope<'scope, 'env>,
    mut source: Box<dyn Read + Send + 'env>,
) -> ReadAhead {
    const CHUNK: usize = 512 * 1024;
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
    let (recycle, recycled) = mpsc::channel::<Vec<u8>>();
    scope.spawn(move || {
        loop {
            let mut buf = recycled.try_recv().unwrap_or_default();
            buf.resize(CHUNK, 0);
            let sent = match fill(&mut source, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    tx.send(Ok(buf))
                }
                Err(e) => tx.send(Err(e)),
            };
            // A closed channel means the reader stopped (an entry was refused): stop too.
            if sent.is_err() {
                break;
            }
        }
    });
    ReadAhead {
        rx,
        recycle,
        current: Vec::new(),
        pos: 0,
        failed: None,
    }
}

/// Reads until `buf` is full or the source ends.
fn fill(source: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

struct ReadAhead {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    recycle: mpsc::Sender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    /// After an error the stream must not look like a clean end.
    failed: Option<io::ErrorKind>,
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            if let Some(kind) = self.failed {
                return Err(io::Error::new(kind, "the stream failed earlier"));
            }
            match self.rx.recv() {
                Ok(Ok(next)) => {
                    let used = std::mem::replace(&mut self.current, next);
                    let _ = self.recycle.send(used);
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.failed = Some(e.kind());
                    return Err(e);
                }
                Err(mpsc::RecvError) => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
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

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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

// ---------------------------------------------------------------------------------------------
// zip

fn unpack_zip(job: &Job<'_>, tree: &Tree) -> Result<Done, UnpackError> {
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

    let strip = job.opts.strip.unwrap_or_else(|| top.strip());
    let mut ex = Extractor::new(tree, job, strip);
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

// ---------------------------------------------------------------------------------------------
// The destination tree: path resolution that never leaves it

/// Why a path could not be resolved inside the destination.
enum WalkError {
    Escape { link: Vec<u8>, target: Vec<u8> },
    Missing(Vec<u8>),
    NotDir(Vec<u8>),
    Loop(Vec<u8>),
    Io(Vec<u8>, Errno),
}

/// A resolved directory: an `O_PATH` fd and its real path below the root (no symlinks).
struct Walked {
    fd: OwnedFd,
    path: Vec<u8>,
}

struct Tree {
    root: OwnedFd,
    /// Canonical destination path: absolute symlink targets are resolved against it.
    dest: PathBuf,
    /// The topmost directory that opening the destination created, if it was missing: a
    /// failed unpack removes it.
    made: Option<PathBuf>,
}

impl Tree {
    /// Opens `dest`, creating what is missing, one component at a time from `/` with
    /// `O_NOFOLLOW`: a destination that is, or goes through, a symlink is refused rather than
    /// followed. The archive was meant for the path the operator wrote; where a link leads can
    /// change under them, and the real path is as easy to give (the error names it).
    fn open(dest: &Path) -> Result<Self, UnpackError> {
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

    fn display(&self, rel: &[u8]) -> PathBuf {
        self.dest.join(OsStr::from_bytes(rel))
    }

    /// After a failed unpack: removes the destination if opening it created it.
    fn discard(&self, error: UnpackError) -> UnpackError {
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
    fn walk(
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
    fn parent_dir<'c>(
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

    fn walk_error(&self, e: WalkError, entry: &str) -> UnpackError {
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

fn file_type(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits())
}

fn io_errno(e: &io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

fn join_path<'a>(parts: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(part);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Writing entries

/// The last parent directory used: archives list a folder's files together, so this saves
/// resolving the same path again and again.
struct Parent {
    key: Vec<u8>,
    fd: OwnedFd,
    /// Its real path below the destination.
    path: Vec<u8>,
    /// Whether this unpack created it.
    ours: bool,
}

impl Parent {
    fn spot<'p>(&'p self, name: &'p [u8]) -> Spot<'p> {
        Spot {
            dir: self.fd.as_fd(),
            dir_path: &self.path,
            ours: self.ours,
            name,
        }
    }
}

/// A directory we created, whose mode, owner and mtime are applied at the end (a read-only
/// directory must stay writable while its content is unpacked, and writing into a directory
/// changes its mtime).
struct LateDir {
    path: Vec<u8>,
    entry: String,
    meta: Meta,
}

struct Extractor<'t> {
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
    fn new(tree: &'t Tree, job: &Job<'t>, strip: u32) -> Self {
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

    fn entry(
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
    fn conclude(mut self, written: Result<(), UnpackError>) -> Result<Stats, UnpackError> {
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

enum ReplaceError {
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

/// Which of the archive's owner ids an entry really got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Applied {
    uid: bool,
    gid: bool,
}

impl Applied {
    fn both(self) -> bool {
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
fn set_meta(fd: BorrowedFd<'_>, meta: &Meta, same_owner: bool) -> nix::Result<Applied> {
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
fn symlink_meta(dir: BorrowedFd<'_>, name: &[u8], meta: &Meta, same_owner: bool) -> bool {
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
    use std::collections::BTreeMap;
    use std::io::Cursor;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
    use tar::{EntryType, Header};
    use tempfile::TempDir;

    const MTIME: u64 = 1_600_000_000;

    /// One archive member. Headers are written byte for byte because the tar and zip writers
    /// refuse the hostile names these tests need.
    #[derive(Clone, Copy)]
    enum Item<'a> {
        Dir(&'a str),
        File(&'a str, &'a [u8], u32),
        Symlink(&'a str, &'a str),
        Hardlink(&'a str, &'a str),
        Special(&'a str, EntryType),
        GlobalPax(&'a [u8]),
    }
    use Item::*;

    fn header(name: &str, kind: EntryType, size: u64, mode: u32, link: &str) -> Header {
        let mut header = Header::new_ustar();
        let ustar = header.as_ustar_mut().expect("ustar header");
        ustar.name[..name.len()].copy_from_slice(name.as_bytes());
        ustar.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(mode);
        header.set_mtime(MTIME);
        // Our own ids, so that keeping ownership works whether or not the tests run as root.
        header.set_uid(u64::from(nix::unistd::geteuid().as_raw()));
        header.set_gid(u64::from(nix::unistd::getegid().as_raw()));
        header.set_cksum();
        header
    }

    fn tar_of(items: &[Item<'_>]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for item in items {
            let (header, data): (Header, &[u8]) = match *item {
                Dir(name) => (header(name, EntryType::Directory, 0, 0o755, ""), b""),
                File(name, data, mode) => (
                    header(name, EntryType::Regular, data.len() as u64, mode, ""),
                    data,
                ),
                Symlink(name, target) => (header(name, EntryType::Symlink, 0, 0o777, target), b""),
                Hardlink(name, target) => (header(name, EntryType::Link, 0, 0o644, target), b""),
                Special(name, kind) => (header(name, kind, 0, 0o644, ""), b""),
                GlobalPax(records) => {
                    let size = records.len() as u64;
                    (
                        header(
                            "pax_global_header",
                            EntryType::XGlobalHeader,
                            size,
                            0o666,
                            "",
                        ),
                        records,
                    )
                }
            };
            builder.append(&header, data).expect("append");
        }
        builder.into_inner().expect("finish tar")
    }

    fn zip_of(items: &[Item<'_>]) -> Vec<u8> {
        use zip::write::SimpleFileOptions;
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        // MTIME as a DOS date; the zip writer would stamp 1980 otherwise.
        let mtime = zip::DateTime::from_date_and_time(2020, 9, 13, 12, 26, 40).expect("date");
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(mtime);
        for item in items {
            match *item {
                Dir(name) => zip.add_directory(name, opts).expect("dir"),
                File(name, data, mode) => {
                    zip.start_file(name, opts.unix_permissions(mode))
                        .expect("file");
                    zip.write_all(data).expect("write");
                }
                Symlink(name, target) => zip.add_symlink(name, target, opts).expect("symlink"),
                Special(name, _) => {
                    // A fifo, as Info-ZIP stores one: the mode in the external attributes.
                    let fifo = opts.external_attributes((0o010_644) << 16);
                    zip.start_file(name, fifo).expect("fifo");
                }
                Hardlink(..) | GlobalPax(_) => panic!("zip has no such member"),
            }
        }
        zip.finish().expect("finish zip").into_inner()
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).expect("gzip");
        encoder.finish().expect("gzip")
    }

    fn xz(data: &[u8]) -> Vec<u8> {
        let opts = lzma_rust2::XzOptions::with_preset(1);
        let mut writer = lzma_rust2::XzWriter::new(Vec::new(), opts).expect("xz");
        writer.write_all(data).expect("xz");
        writer.finish().expect("xz")
    }

    fn zst(data: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(data, 1).expect("zstd")
    }

    const GITHUB_PAX: &[u8] = b"52 comment=0123456789abcdef0123456789abcdef01234567\n";

    /// What `https://github.com/o/repo/archive/main.tar.gz` looks like.
    fn github_items() -> Vec<Item<'static>> {
        vec![
            GlobalPax(GITHUB_PAX),
            Dir("repo-main/"),
            Dir("repo-main/etc/"),
            File("repo-main/etc/app.conf", b"key = value\n", 0o644),
            Dir("repo-main/bin/"),
            File("repo-main/bin/run", b"#!/bin/sh\necho hi\n", 0o755),
            Symlink("repo-main/bin/go", "run"),
        ]
    }

    fn check_github_tree(dest: &Path, report: &UnpackReport) {
        assert_eq!(
            fs::read(dest.join("etc/app.conf")).expect("app.conf"),
            b"key = value\n"
        );
        let run = fs::metadata(dest.join("bin/run")).expect("bin/run");
        assert_eq!(run.mode() & 0o7777, 0o755);
        assert_eq!(
            fs::read_link(dest.join("bin/go")).expect("bin/go"),
            Path::new("run")
        );
        assert!(
            !dest.join("repo-main").exists(),
            "the top folder is stripped"
        );
        assert_eq!((report.strip, report.files, report.symlinks), (1, 2, 1));
    }

    /// A temp dir holding the target (`target/`), a bystander (`outside/keep`) and the
    /// archives, so that every test can check that nothing changed outside the target.
    struct Sandbox {
        tmp: TempDir,
        dest: PathBuf,
    }

    impl Sandbox {
        fn new() -> Self {
            let tmp = tempfile::tempdir().expect("tempdir");
            fs::create_dir(tmp.path().join("outside")).expect("outside");
            fs::write(tmp.path().join("outside/keep"), "keep").expect("keep");
            let dest = tmp.path().join("target");
            fs::create_dir(&dest).expect("target");
            Sandbox { tmp, dest }
        }

        fn write_archive(&self, bytes: &[u8]) -> PathBuf {
            let path = self.tmp.path().join("archive");
            fs::write(&path, bytes).expect("archive");
            path
        }

        /// Everything under the temp dir except the target: path, mode and size.
        fn outside(&self) -> Vec<String> {
            fn walk(dir: &Path, skip: &Path, out: &mut Vec<String>) {
                for entry in fs::read_dir(dir).expect("read_dir") {
                    let path = entry.expect("entry").path();
                    if path == skip {
                        continue;
                    }
                    let meta = fs::symlink_metadata(&path).expect("metadata");
                    out.push(format!(
                        "{} {:o} {}",
                        path.display(),
                        meta.mode(),
                        meta.len()
                    ));
                    if meta.is_dir() {
                        walk(&path, skip, out);
                    }
                }
            }
            let mut out = Vec::new();
            walk(self.tmp.path(), &self.dest, &mut out);
            out.sort();
            out
        }

        fn target_is_empty(&self) -> bool {
            fs::read_dir(&self.dest).expect("target").next().is_none()
        }

        /// Unpacks `bytes`, asserting that nothing outside the target changed either way.
        fn unpack(&self, bytes: &[u8], opts: &UnpackOptions) -> Result<UnpackReport, UnpackError> {
            let archive = self.write_archive(bytes);
            let before = self.outside();
            let result = unpack(&archive, &self.dest, opts);
            assert_eq!(
                self.outside(),
                before,
                "something changed outside the target"
            );
            result
        }

        fn refused(&self, bytes: &[u8], opts: &UnpackOptions) -> UnpackError {
            match self.unpack(bytes, opts) {
                Ok(report) => panic!("unpacked a hostile archive: {report}"),
                Err(e) => e,
            }
        }
    }

    fn defaults() -> UnpackOptions {
        UnpackOptions::default()
    }

    #[test]
    fn an_archive_that_is_a_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fix.tar");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let dest = dir.path().join("dest");
        fs::create_dir(&dest).unwrap();
        let err = unpack(&fifo, &dest, &UnpackOptions::default()).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert_eq!(fs::read_dir(&dest).unwrap().count(), 0);
    }

    #[test]
    fn tar_strips_github_top_folder() {
        let sb = Sandbox::new();
        let report = sb
            .unpack(&tar_of(&github_items()), &defaults())
            .expect("unpack");
        check_github_tree(&sb.dest, &report);
        assert_eq!(report.format, Format::Tar);
    }

    #[test]
    fn tar_gz_strips_github_top_folder() {
        let sb = Sandbox::new();
        let report = sb
            .unpack(&gz(&tar_of(&github_items())), &defaults())
            .expect("unpack");
        check_github_tree(&sb.dest, &report);
        assert_eq!(report.format, Format::TarGz);
    }

    #[test]
    fn tar_xz_strips_github_top_folder() {
        let sb = Sandbox::new();
        let report = sb
            .unpack(&xz(&tar_of(&github_items())), &defaults())
            .expect("unpack");
        check_github_tree(&sb.dest, &report);
        assert_eq!(report.format, Format::TarXz);
    }

    #[test]
    fn tar_zst_strips_github_top_folder() {
        let sb = Sandbox::new();
        let report = sb
            .unpack(&zst(&tar_of(&github_items())), &defaults())
            .expect("unpack");
        check_github_tree(&sb.dest, &report);
        assert_eq!(report.format, Format::TarZst);
    }

    #[test]
    fn zip_strips_github_top_folder() {
        let sb = Sandbox::new();
        let items: Vec<_> = github_items()
            .into_iter()
            .filter(|i| !matches!(i, GlobalPax(_)))
            .collect();
        let report = sb.unpack(&zip_of(&items), &defaults()).expect("unpack");
        check_github_tree(&sb.dest, &report);
        assert_eq!(report.format, Format::Zip);
    }

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
    fn explicit_strip_removes_that_many_levels() {
        let sb = Sandbox::new();
        let items = [
            Dir("a/"),
            File("a/top", b"gone", 0o644),
            File("a/b/etc/hosts", b"h", 0o644),
        ];
        let opts = UnpackOptions {
            strip: Some(2),
            ..defaults()
        };
        let report = sb.unpack(&tar_of(&items), &opts).expect("unpack");
        assert_eq!(fs::read(sb.dest.join("etc/hosts")).expect("hosts"), b"h");
        assert!(!sb.dest.join("top").exists() && !sb.dest.join("a").exists());
        assert_eq!((report.strip, report.files), (2, 1));
    }

    #[test]
    fn strip_zero_keeps_the_top_folder() {
        let sb = Sandbox::new();
        let opts = UnpackOptions {
            strip: Some(0),
            ..defaults()
        };
        sb.unpack(&tar_of(&github_items()), &opts).expect("unpack");
        assert!(sb.dest.join("repo-main/etc/app.conf").is_file());
    }

    #[test]
    fn a_rootfs_top_folder_is_not_stripped() {
        let sb = Sandbox::new();
        let items = [Dir("etc/"), File("etc/hosts", b"127.0.0.1 x\n", 0o644)];
        let report = sb.unpack(&tar_of(&items), &defaults()).expect("unpack");
        assert!(sb.dest.join("etc/hosts").is_file());
        assert_eq!(report.strip, 0);
    }

    #[test]
    fn several_top_folders_are_not_stripped() {
        let sb = Sandbox::new();
        let items = [File("app/x", b"x", 0o644), File("more/y", b"y", 0o644)];
        let report = sb.unpack(&tar_of(&items), &defaults()).expect("unpack");
        assert!(sb.dest.join("app/x").is_file() && sb.dest.join("more/y").is_file());
        assert_eq!(report.strip, 0);
    }

    #[test]
    fn sha256_pin_that_matches_unpacks() {
        let sb = Sandbox::new();
        let bytes = gz(&tar_of(&github_items()));
        let sha = hex(&Sha256::digest(&bytes));
        let opts = UnpackOptions {
            sha256: Some(format!("sha256:{}", sha.to_uppercase())),
            ..defaults()
        };
        let report = sb.unpack(&bytes, &opts).expect("unpack");
        assert_eq!(report.archive_sha256, sha);
        check_github_tree(&sb.dest, &report);
    }

    #[test]
    fn unpinned_report_carries_the_archive_sha256() {
        let sb = Sandbox::new();
        let bytes = tar_of(&github_items());
        let report = sb.unpack(&bytes, &defaults()).expect("unpack");
        assert_eq!(report.archive_sha256, hex(&Sha256::digest(&bytes)));
    }

    #[test]
    fn sha256_mismatch_writes_nothing() {
        let sb = Sandbox::new();
        let opts = UnpackOptions {
            sha256: Some("ab".repeat(32)),
            ..defaults()
        };
        let err = sb.refused(&gz(&tar_of(&github_items())), &opts);
        assert!(matches!(err, UnpackError::Sha256Mismatch { .. }), "{err}");
        assert!(sb.target_is_empty());
    }

    #[test]
    fn malformed_sha256_pin_is_refused() {
        let sb = Sandbox::new();
        let opts = UnpackOptions {
            sha256: Some("xyz".into()),
            ..defaults()
        };
        let err = sb.refused(&tar_of(&github_items()), &opts);
        assert!(matches!(err, UnpackError::BadSha256 { .. }), "{err}");
        assert!(sb.target_is_empty());
    }

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
    fn a_file_over_a_directory_is_refused() {
        let sb = Sandbox::new();
        fs::create_dir(sb.dest.join("d")).expect("d");
        let err = sb.refused(&tar_of(&[File("d", b"x", 0o644)]), &defaults());
        assert!(matches!(err, UnpackError::IsADirectory { .. }), "{err}");
    }

    #[test]
    fn empty_zip_unpacks_nothing() {
        let sb = Sandbox::new();
        let report = sb.unpack(&zip_of(&[]), &defaults()).expect("unpack");
        assert_eq!(report.files + report.dirs, 0);
    }

    #[test]
    fn report_is_one_line() {
        let sb = Sandbox::new();
        let report = sb
            .unpack(&gz(&tar_of(&github_items())), &defaults())
            .expect("unpack");
        let line = report.to_string();
        assert!(!line.contains('\n'));
        assert!(line.starts_with("unpacked 2 files (30 B), 2 dirs, 1 symlink, 0 hard links from archive (tar.gz, strip 1, sha256 "), "{line}");
    }

    // --- hostile archives: one per rule -------------------------------------------------------

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

    // --- all or nothing ------------------------------------------------------------------------

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
    fn refuses_random_garbage() {
        let sb = Sandbox::new();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let garbage: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let err = sb.refused(&garbage, &defaults());
        assert!(matches!(err, UnpackError::NotAnArchive { .. }), "{err}");
        let err = sb.refused(b"<!DOCTYPE html><html>404</html>", &defaults());
        assert!(err.to_string().contains("HTML"), "{err}");
        let err = sb.refused(&gz(&garbage), &defaults());
        assert!(matches!(err, UnpackError::Corrupt { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("no tar archive inside the tar.gz data"),
            "{err}"
        );
        let err = sb.refused(b"", &defaults());
        assert!(matches!(err, UnpackError::NotAnArchive { .. }), "{err}");
        assert!(sb.target_is_empty());
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

    fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let mut out = bytes.to_vec();
        let mut i = 0;
        while let Some(at) = out[i..].windows(from.len()).position(|w| w == from) {
            out[i + at..i + at + to.len()].copy_from_slice(to);
            i += at + to.len();
        }
        out
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

    #[test]
    fn sniffs_formats_by_content() {
        let tar = tar_of(&[File("a", b"a", 0o644)]);
        assert_eq!(sniff(&tar[..512]), Some(Format::Tar));
        assert_eq!(sniff(&gz(&tar)), Some(Format::TarGz));
        assert_eq!(sniff(&xz(&tar)), Some(Format::TarXz));
        assert_eq!(sniff(&zst(&tar)), Some(Format::TarZst));
        assert_eq!(sniff(&zip_of(&[])), Some(Format::Zip));
        // A v7 header has no "ustar" magic: the checksum decides.
        let mut v7 = tar[..512].to_vec();
        v7[257..265].fill(0);
        let sum: u32 = v7
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        v7[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        assert_eq!(sniff(&v7), Some(Format::Tar));
        v7[0] ^= 1;
        assert_eq!(sniff(&v7), None);
    }

    #[test]
    fn dos_dates_convert_to_unix_time() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        let t = zip::DateTime::from_date_and_time(2020, 9, 13, 12, 26, 40).expect("date");
        assert_eq!(dos_time(t), 1_600_000_000);
    }

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

    /// Found by fuzz/ (target `unpack`): the tar crate quotes a bad header field's bytes, here
    /// a newline, and the refusal went to the log as two lines, the second one the archive's.
    #[test]
    fn a_corrupt_header_is_reported_on_one_line() {
        let sb = Sandbox::new();
        let mut tar = tar_of(&[File("app.conf", b"x", 0o644)]);
        tar[148..156].copy_from_slice(b"sh\necho ");
        let err = sb.refused(&tar, &defaults());
        assert!(matches!(err, UnpackError::Corrupt { .. }), "{err}");
        let message = err.to_string();
        assert!(!message.contains('\n'), "{message:?}");
        assert!(message.contains("sh\\necho"), "{message:?}");
        assert!(sb.target_is_empty());
    }
}
