//! Writing a body: streamed to the destination file, hashed and counted as it goes.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use hookinit_values::Sha256Pin;

use crate::{BUF_SIZE, FetchError};

/// Streams a body to the destination file, hashing and counting as it goes.
pub(crate) struct Sink<'a> {
    pub(crate) url: &'a str,
    pub(crate) dest: &'a Path,
    pub(crate) max_bytes: u64,
    pub(crate) deadline: Instant,
    pub(crate) total: Duration,
}

impl Sink<'_> {
    pub(crate) fn save(
        &self,
        body: &mut dyn Read,
        read_err: impl Fn(io::Error) -> FetchError,
    ) -> Result<(u64, Sha256Pin), FetchError> {
        let write_err = |source| FetchError::Io {
            url: self.url.to_string(),
            path: self.dest.to_path_buf(),
            source,
        };
        let mut file = File::create(self.dest).map_err(write_err)?;
        let copied = self.copy(body, &mut file, read_err);
        if copied.is_err() {
            drop(file);
            let _ = fs::remove_file(self.dest);
        }
        copied
    }

    fn copy(
        &self,
        body: &mut dyn Read,
        file: &mut File,
        read_err: impl Fn(io::Error) -> FetchError,
    ) -> Result<(u64, Sha256Pin), FetchError> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; BUF_SIZE];
        let mut total = 0u64;
        loop {
            // ureq enforces the deadline on the network; this covers slow local files too.
            if Instant::now() > self.deadline {
                let detail = "while reading the data".to_string();
                return Err(FetchError::Timeout {
                    url: self.url.to_string(),
                    after: self.total,
                    detail,
                });
            }
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(e)),
            };
            total += n as u64;
            if total > self.max_bytes {
                return Err(FetchError::TooLarge {
                    url: self.url.to_string(),
                    limit: self.max_bytes,
                });
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(|source| FetchError::Io {
                url: self.url.to_string(),
                path: self.dest.to_path_buf(),
                source,
            })?;
        }
        Ok((total, Sha256Pin::from_digest(hasher.finalize().into())))
    }
}
