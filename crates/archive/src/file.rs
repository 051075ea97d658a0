//! The archive file: opened as a regular file only, then read by position so that the hashing
//! thread and the unpacker can share it.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Opens the archive without blocking (a fifo would wait for a writer, past every deadline) and
/// refuses what is not a regular file, as opened (no window between a check and the open).
pub(crate) fn open_archive(path: &Path) -> io::Result<File> {
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

/// Reads a shared `File` with `pread`, so the hashing thread and the unpacker each keep their
/// own position.
pub(crate) struct FileAt<'f> {
    file: &'f File,
    pos: u64,
}

impl<'f> FileAt<'f> {
    pub(crate) fn new(file: &'f File) -> Self {
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

#[cfg(test)]
mod tests {
    use crate::{UnpackOptions, unpack};
    use std::fs;

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
}
