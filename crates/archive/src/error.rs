//! Why an unpack failed ([`UnpackError`]), and the text helpers that keep an archive's bytes
//! from breaking the one log line a refusal is reported in.

use std::io;
use std::path::PathBuf;

use hookinit_values::Sha256Pin;
use hookinit_values::show::human_bytes;

/// Why an unpack failed. Each message names the archive or the entry and says what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
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
        expected: Sha256Pin,
        actual: Sha256Pin,
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

/// The tar and zip crates quote an archive's raw bytes in their errors (a bad numeric field,
/// a name): control characters are escaped so that a hostile archive cannot break the one log
/// line its refusal is reported in, nor forge lines after it.
pub(crate) fn one_line(text: String) -> String {
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

pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use crate::UnpackError;
    use crate::test_support::*;

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
