//! Archives built byte for byte and a sandboxed destination, for the unit tests of every module.

use std::fs;
use std::io::{Cursor, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};
use tempfile::TempDir;

use crate::{UnpackError, UnpackOptions, UnpackReport, unpack};

pub(crate) const MTIME: u64 = 1_600_000_000;

/// One archive member. Headers are written byte for byte because the tar and zip writers
/// refuse the hostile names these tests need.
#[derive(Clone, Copy)]
pub(crate) enum Item<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Special(&'a str, EntryType),
    GlobalPax(&'a [u8]),
}

pub(crate) use Item::*;

pub(crate) fn header(name: &str, kind: EntryType, size: u64, mode: u32, link: &str) -> Header {
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

pub(crate) fn tar_of(items: &[Item<'_>]) -> Vec<u8> {
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

pub(crate) fn zip_of(items: &[Item<'_>]) -> Vec<u8> {
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

pub(crate) fn gz(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

pub(crate) fn xz(data: &[u8]) -> Vec<u8> {
    let opts = lzma_rust2::XzOptions::with_preset(1);
    let mut writer = lzma_rust2::XzWriter::new(Vec::new(), opts).expect("xz");
    writer.write_all(data).expect("xz");
    writer.finish().expect("xz")
}

pub(crate) fn zst(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 1).expect("zstd")
}

const GITHUB_PAX: &[u8] = b"52 comment=0123456789abcdef0123456789abcdef01234567\n";

/// What `https://github.com/o/repo/archive/main.tar.gz` looks like.
pub(crate) fn github_items() -> Vec<Item<'static>> {
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

pub(crate) fn check_github_tree(dest: &Path, report: &UnpackReport) {
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
pub(crate) struct Sandbox {
    pub(crate) tmp: TempDir,
    pub(crate) dest: PathBuf,
}

impl Sandbox {
    pub(crate) fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        fs::create_dir(tmp.path().join("outside")).expect("outside");
        fs::write(tmp.path().join("outside/keep"), "keep").expect("keep");
        let dest = tmp.path().join("target");
        fs::create_dir(&dest).expect("target");
        Sandbox { tmp, dest }
    }

    pub(crate) fn write_archive(&self, bytes: &[u8]) -> PathBuf {
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

    pub(crate) fn target_is_empty(&self) -> bool {
        fs::read_dir(&self.dest).expect("target").next().is_none()
    }

    /// Unpacks `bytes`, asserting that nothing outside the target changed either way.
    pub(crate) fn unpack(
        &self,
        bytes: &[u8],
        opts: &UnpackOptions,
    ) -> Result<UnpackReport, UnpackError> {
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

    pub(crate) fn refused(&self, bytes: &[u8], opts: &UnpackOptions) -> UnpackError {
        match self.unpack(bytes, opts) {
            Ok(report) => panic!("unpacked a hostile archive: {report}"),
            Err(e) => e,
        }
    }
}

pub(crate) fn defaults() -> UnpackOptions {
    UnpackOptions::default()
}

pub(crate) fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = bytes.to_vec();
    let mut i = 0;
    while let Some(at) = out[i..].windows(from.len()).position(|w| w == from) {
        out[i + at..i + at + to.len()].copy_from_slice(to);
        i += at + to.len();
    }
    out
}
