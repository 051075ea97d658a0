//! The archive's sha256: a pin is checked before anything is written; without one the hash is
//! computed on another thread while the unpack runs, for the report.

use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use sha2::{Digest, Sha256};

use hookinit_values::Sha256Pin;

use crate::UnpackError;
use crate::file::FileAt;
use crate::tree::Tree;
use crate::unpack::{BUF_SIZE, Done, Job, run};

pub(crate) fn verify_pin(job: &Job<'_>, expected: Sha256Pin) -> Result<Sha256Pin, UnpackError> {
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
pub(crate) fn run_hashing(job: &Job<'_>, tree: &Tree) -> Result<(Done, Sha256Pin), UnpackError> {
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

fn sha256_file(file: &File, stop: &AtomicBool) -> io::Result<Sha256Pin> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; BUF_SIZE];
    let mut reader = FileAt::new(file);
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(Sha256Pin::from_digest(hasher.finalize().into()));
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UnpackOptions;
    use crate::test_support::*;

    #[test]
    fn sha256_pin_that_matches_unpacks() {
        let sb = Sandbox::new();
        let bytes = gz(&tar_of(&github_items()));
        let sha = Sha256Pin::from_digest(Sha256::digest(&bytes).into());
        let opts = UnpackOptions {
            sha256: Some(sha),
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
        assert_eq!(
            report.archive_sha256.to_string(),
            hookinit_values::show::hex(&Sha256::digest(&bytes))
        );
    }

    #[test]
    fn sha256_mismatch_writes_nothing() {
        let sb = Sandbox::new();
        let opts = UnpackOptions {
            sha256: Some("ab".repeat(32).parse().unwrap()),
            ..defaults()
        };
        let err = sb.refused(&gz(&tar_of(&github_items())), &opts);
        assert!(matches!(err, UnpackError::Sha256Mismatch { .. }), "{err}");
        assert!(sb.target_is_empty());
    }
}
