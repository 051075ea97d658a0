//! Format detection: an archive's first bytes say what it is; anything else is refused with a
//! word on what it looks like (an HTML page, bzip2 data).

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use hookinit_values::show::hex;

use crate::UnpackError;

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

pub(crate) fn detect_format(file: &File, path: &Path) -> Result<Format, UnpackError> {
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
pub(crate) fn looks_tar(block: &[u8]) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

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
}
