//! The report of an unpack ([`UnpackReport`]) and the one line it is logged as.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hookinit_values::Sha256Pin;
use hookinit_values::show::{human_bytes, human_duration};

use crate::Format;

/// What an unpack did; its `Display` is the one summary line the caller logs.
#[derive(Debug, Clone)]
pub struct UnpackReport {
    pub archive: PathBuf,
    pub dest: PathBuf,
    pub format: Format,
    /// The strip level applied (explicit or automatic).
    pub strip: u32,
    /// The top folder stripped automatically (a source archive's `NAME-REF/`), if one was.
    pub auto_stripped: Option<String>,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    /// Entries whose archive ownership the kernel refused (see [`UnpackOptions::same_owner`]).
    ///
    /// [`UnpackOptions::same_owner`]: crate::UnpackOptions::same_owner
    pub owner_not_kept: u64,
    pub archive_sha256: Sha256Pin,
    pub elapsed: Duration,
}

impl fmt::Display for UnpackReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.archive.file_name().unwrap_or(self.archive.as_os_str());
        write!(
            f,
            "unpacked {} ({}), {}, {}, {} from {} ({}, strip {}{}, sha256 {}) into {} in {}",
            plural(self.files, "file"),
            human_bytes(self.bytes),
            plural(self.dirs, "dir"),
            plural(self.symlinks, "symlink"),
            plural(self.hardlinks, "hard link"),
            Path::new(name).display(),
            self.format,
            self.strip,
            match &self.auto_stripped {
                Some(top) => format!(": the archive's one top folder `{top}/`"),
                None => String::new(),
            },
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

#[cfg(test)]
mod tests {
    use crate::test_support::*;

    #[test]
    fn report_is_one_line() {
        let sb = Sandbox::new();
        let report = sb
            .unpack(&gz(&tar_of(&github_items())), &defaults())
            .expect("unpack");
        let line = report.to_string();
        assert!(!line.contains('\n'));
        assert!(line.starts_with("unpacked 2 files (30 B), 2 dirs, 1 symlink, 0 hard links from archive (tar.gz, strip 1: the archive's one top folder `repo-main/`, sha256 "), "{line}");
    }
}
