//! Local sources (`file://` URLs and paths): copied to the destination through the same
//! [`Sink`](crate::sink::Sink) as a download, after the checks a download gets.

use std::fs::{self};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::Instant;

use crate::sink::Sink;
use crate::{FetchError, FetchOptions, FetchReport};

pub(crate) fn fetch_local(
    path: &Path,
    url: &str,
    dest: &Path,
    opts: &FetchOptions,
    start: Instant,
    deadline: Instant,
) -> Result<FetchReport, FetchError> {
    let io_err = |source| FetchError::Io {
        url: url.to_string(),
        path: path.to_path_buf(),
        source,
    };
    // Opened without blocking (a fifo would wait for a writer), then checked as opened: a path
    // swapped between a check and the open cannot slip a fifo or a device in.
    let opened = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(FetchError::NotFound {
                url: url.to_string(),
                what: "no such file".into(),
            });
        }
        Err(e) => return Err(io_err(e)),
    };
    let meta = file.metadata().map_err(io_err)?;
    let invalid = |detail: &str| FetchError::InvalidSource {
        url: url.to_string(),
        detail: detail.into(),
    };
    if !meta.is_file() {
        // A fifo or device would block or never end.
        return Err(invalid(
            "not a regular file (a fifo, a device or a directory)",
        ));
    }
    if fs::metadata(dest).is_ok_and(|d| (d.dev(), d.ino()) == (meta.dev(), meta.ino())) {
        return Err(invalid("the source is the destination file itself"));
    }
    if meta.len() > opts.max_bytes {
        return Err(FetchError::TooLarge {
            url: url.to_string(),
            limit: opts.max_bytes,
        });
    }
    let sink = Sink {
        url,
        dest,
        max_bytes: opts.max_bytes,
        deadline,
        total: opts.total_timeout,
    };
    let (bytes, sha256) = sink.save(&mut file, io_err)?;
    Ok(FetchReport {
        url: url.to_string(),
        bytes,
        sha256,
        elapsed: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::{FetchError, FetchOptions, fetch_to_file};
    use sha2::{Digest, Sha256};

    use hookinit_values::show::hex;

    #[test]
    fn file_urls_and_plain_paths_are_copied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("my tree.tar");
        let data = body(5000);
        fs::write(&file, &data).expect("source");
        let plain = file.to_str().expect("utf-8").to_string();
        let url = format!("file://{}", plain.replace(' ', "%20"));
        for (i, src) in [plain, url].iter().enumerate() {
            let dest = dir.path().join(format!("copy{i}"));
            let report =
                fetch_to_file(&source(src), &dest, &FetchOptions::default()).expect("fetch");
            assert_eq!(fs::read(&dest).expect("dest"), data);
            assert_eq!(report.sha256.to_string(), hex(&Sha256::digest(&data)));
        }
    }

    #[test]
    fn local_sources_fail_clearly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.tar");
        let err = fetch_to_file(
            &source(missing.to_str().expect("utf-8")),
            &dest_in(&dir),
            &FetchOptions::default(),
        )
        .expect_err("missing");
        assert!(matches!(err, FetchError::NotFound { .. }), "{err}");
        let err = fetch_to_file(
            &source(dir.path().to_str().expect("utf-8")),
            &dest_in(&dir),
            &FetchOptions::default(),
        )
        .expect_err("a directory");
        assert!(matches!(err, FetchError::InvalidSource { .. }), "{err}");
        // A fifo with no writer: refused at once, never waited on.
        let fifo = dir.path().join("fifo.tar");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("fifo");
        let err = fetch_to_file(
            &source(fifo.to_str().expect("utf-8")),
            &dest_in(&dir),
            &FetchOptions::default(),
        )
        .expect_err("a fifo");
        assert!(err.to_string().contains("not a regular file"), "{err}");
        fs::write(dest_in(&dir), "x").expect("dest");
        let same = dest_in(&dir).to_str().expect("utf-8").to_string();
        let err = fetch_to_file(&source(&same), &dest_in(&dir), &FetchOptions::default())
            .expect_err("itself");
        assert!(matches!(err, FetchError::InvalidSource { .. }), "{err}");
        let opts = FetchOptions {
            allow_local: false,
            ..FetchOptions::default()
        };
        let err = fetch_to_file(&source("file:///etc/hostname"), &dest_in(&dir), &opts)
            .expect_err("denied");
        assert!(matches!(err, FetchError::Denied { .. }), "{err}");
    }
}
