//! The built-in plugins (`DEBUG=verbose`, `DEBUG=fstree=...`) and the coredump example plugin,
//! through the real binary, with a loopback HTTP server started by each test.
//!
//! fstree unpacks into a temporary root (`dest=`), except in the DEBUG chain test, which patches
//! a file under a fresh /tmp directory through the default destination `/`. Every refused
//! archive is checked for: exit status 2, the main process not started, and nothing written
//! outside the target.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use hookinit_test_http::{HttpServer, Reply, closed_port};

/// What the main process prints when it runs; never seen when fstree refuses the start.
const RAN: &str = "MAIN-PROCESS-RAN";

// ---------------------------------------------------------------------------------------------
// Archives

/// One tar member, written raw so that hostile names and types can be expressed.
struct Member<'a> {
    name: &'a str,
    kind: u8,
    link: &'a str,
    data: &'a [u8],
    mode: u32,
    /// Owner and group (0 unless a test says otherwise).
    owner: u64,
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> Member<'a> {
    Member {
        name,
        kind: b'0',
        link: "",
        data,
        mode: 0o644,
        owner: 0,
    }
}

fn dir(name: &str) -> Member<'_> {
    Member {
        name,
        kind: b'5',
        link: "",
        data: b"",
        mode: 0o755,
        owner: 0,
    }
}

fn special<'a>(name: &'a str, kind: u8, link: &'a str) -> Member<'a> {
    Member {
        name,
        kind,
        link,
        data: b"",
        mode: 0o644,
        owner: 0,
    }
}

fn octal(field: &mut [u8], value: u64) {
    let n = field.len() - 1;
    if value >= 1 << (3 * n) {
        // GNU's base-256 form for what octal cannot hold (uid 4294967295).
        field.fill(0);
        let bytes = value.to_be_bytes();
        let len = field.len();
        field[len - 8..].copy_from_slice(&bytes);
        field[0] |= 0x80;
        return;
    }
    let text = format!("{value:0n$o}");
    field[..n].copy_from_slice(text.as_bytes());
    field[n] = 0;
}

/// A ustar archive of `members` (names up to 100 bytes).
fn tar(members: &[Member<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let mut h = [0u8; 512];
        assert!(
            m.name.len() <= 100 && m.link.len() <= 100,
            "name too long for this writer"
        );
        h[..m.name.len()].copy_from_slice(m.name.as_bytes());
        octal(&mut h[100..108], u64::from(m.mode));
        octal(&mut h[108..116], m.owner);
        octal(&mut h[116..124], m.owner);
        octal(&mut h[124..136], m.data.len() as u64);
        octal(&mut h[136..148], 1_600_000_000);
        h[156] = m.kind;
        h[157..157 + m.link.len()].copy_from_slice(m.link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let text = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(text.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(m.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut w =
        lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in files {
        if name.ends_with('/') {
            z.add_directory(*name, opts).unwrap();
        } else {
            z.start_file(*name, opts.unix_permissions(0o644)).unwrap();
            z.write_all(data).unwrap();
        }
    }
    z.finish().unwrap().into_inner()
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Running hookinit

/// hookinit with `debug` in DEBUG and the plugin compile cache of the test run.
fn hookinit(mode: Mode, debug: &str, args: &[&str]) -> Command {
    let mut cmd = command(mode, args);
    cmd.env("DEBUG", debug)
        .env("HOOKINIT_CACHE_DIR", plugin_cache());
    cmd
}

fn run_debug(mode: Mode, debug: &str, args: &[&str]) -> Finished {
    start(hookinit(mode, debug, args), mode).wait()
}

/// A temporary root: `target` (where fstree unpacks) next to `outside` (where nothing may land).
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        let root = Root { dir: tempdir() };
        std::fs::create_dir(root.target()).unwrap();
        std::fs::create_dir(root.outside()).unwrap();
        std::fs::write(root.outside().join("secret.txt"), "outside\n").unwrap();
        root
    }
    fn target(&self) -> PathBuf {
        self.dir.path().join("target")
    }
    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }
    fn t(&self) -> String {
        self.target().to_str().unwrap().to_string()
    }
    /// Every path under the temporary root, relative to it (for "nothing appeared" checks).
    fn listing(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                out.push(path.strip_prefix(base).unwrap().display().to_string());
                if entry.file_type().unwrap().is_dir() {
                    walk(base, &path, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out.sort();
        out
    }
    fn outside_untouched(&self) {
        let entries: Vec<_> = std::fs::read_dir(self.outside())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            entries,
            vec![std::ffi::OsString::from("secret.txt")],
            "outside changed"
        );
        let secret = self.outside().join("secret.txt");
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "outside\n");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            std::fs::metadata(&secret).unwrap().nlink(),
            1,
            "a hard link to the outside file was made"
        );
        let top: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            top.len(),
            2,
            "something appeared next to target: {:?}",
            self.listing()
        );
    }
}

/// `echo RAN` as the main process: seen only if the start went on.
const MAIN: [&str; 3] = ["sh", "-c", "echo MAIN-PROCESS-RAN"];

fn assert_started(f: &Finished) {
    assert_eq!(f.code(), 0, "stderr: {}", f.stderr_text());
    assert!(
        f.stdout.iter().any(|l| l == RAN),
        "main process did not run: {:?}",
        f.stdout
    );
}

fn assert_refused(f: &Finished, why: &str) {
    let text = f.stderr_text();
    assert_eq!(f.code(), 2, "stderr: {text}");
    assert!(
        !f.stdout.iter().any(|l| l.contains(RAN)),
        "the main process ran: {:?}",
        f.stdout
    );
    assert!(text.contains("plugin fstree: pre-exec"), "{text}");
    assert!(text.contains(why), "expected {why:?} in: {text}");
    assert!(text.contains("the main process was not started"), "{text}");
}

fn no_scratch_left(f: &Finished) {
    for line in &f.stderr {
        if let Some(i) = line.find("scratch=") {
            let dir = line[i + "scratch=".len()..]
                .split_whitespace()
                .next()
                .unwrap();
            assert!(!Path::new(dir).exists(), "scratch {dir} left behind");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// fstree: formats, strip, sha256

fn github_tree(top: &str) -> Vec<u8> {
    let a = format!("{top}/");
    let b = format!("{top}/etc/");
    let c = format!("{top}/etc/app.conf");
    let d = format!("{top}/bin/run.sh");
    tar(&[
        dir(&a),
        dir(&b),
        file(&c, b"patched=yes\n"),
        Member {
            mode: 0o755,
            ..file(&d, b"#!/bin/sh\necho run\n")
        },
    ])
}

#[test]
fn fstree_tar_gz_with_a_github_top_folder_is_stripped() {
    let server = HttpServer::start();
    let root = Root::new();
    std::fs::create_dir_all(root.target().join("etc")).unwrap();
    std::fs::write(root.target().join("etc/app.conf"), "patched=no\n").unwrap();
    let url = server.route(
        "/repo-main.tar.gz",
        Reply::ok(gz(&github_tree("repo-main"))),
    );
    let debug = format!("fstree={url},dest={}", root.t());
    let f = run_debug(
        Mode::Pid1,
        &debug,
        &["--", "cat", &format!("{}/etc/app.conf", root.t())],
    );
    assert_eq!(f.code(), 0, "{}", f.stderr_text());
    assert_eq!(
        f.stdout,
        vec!["patched=yes"],
        "the main process saw the patched file"
    );
    let summary = f
        .stderr
        .iter()
        .find(|l| l.contains("[fstree] unpacked"))
        .expect("summary line");
    let sha = sha256(&gz(&github_tree("repo-main")));
    for part in ["2 files", "tar.gz", "strip 1", &sha, " ms"] {
        assert!(summary.contains(part), "{part:?} not in {summary}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.target().join("bin/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755, "modes kept");
    root.outside_untouched();
}

#[test]
fn fstree_tar_xz_and_explicit_strip() {
    let server = HttpServer::start();
    let root = Root::new();
    let archive = xz(&tar(&[
        file("a/b/deep.txt", b"deep\n"),
        file("a/b/c/deeper.txt", b"deeper\n"),
    ]));
    let url = server.route("/t.txz", Reply::ok(archive));
    let f = run_debug(
        Mode::Plain,
        &format!("fstree={url},strip=2,dest={}", root.t()),
        &MAIN,
    );
    assert_started(&f);
    assert_eq!(
        std::fs::read_to_string(root.target().join("deep.txt")).unwrap(),
        "deep\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.target().join("c/deeper.txt")).unwrap(),
        "deeper\n"
    );
    assert!(
        f.stderr_text().contains("tar.xz, strip 2"),
        "{}",
        f.stderr_text()
    );
}

#[test]
fn fstree_zip_with_a_github_top_folder() {
    let server = HttpServer::start();
    let root = Root::new();
    let archive = zip(&[
        ("proj-v1.2/", b""),
        ("proj-v1.2/srv/index.html", b"<h1>fixed</h1>\n"),
    ]);
    let url = server.route("/v1.2.zip", Reply::ok(archive));
    let f = run_debug(
        Mode::Plain,
        &format!("fstree={url},dest={}", root.t()),
        &MAIN,
    );
    assert_started(&f);
    assert_eq!(
        std::fs::read_to_string(root.target().join("srv/index.html")).unwrap(),
        "<h1>fixed</h1>\n"
    );
    assert!(
        f.stderr_text().contains("zip, strip 1"),
        "{}",
        f.stderr_text()
    );
}

#[test]
fn fstree_sha256_match_and_mismatch() {
    let server = HttpServer::start();
    let archive = gz(&tar(&[file("x.txt", b"x\n")]));
    let url = server.route("/x.tgz", Reply::ok(archive.clone()));
    let root = Root::new();
    let good = format!("fstree={url},sha256={},dest={}", sha256(&archive), root.t());
    assert_started(&run_debug(Mode::Plain, &good, &MAIN));
    assert!(root.target().join("x.txt").exists());

    let root = Root::new();
    let wrong = "0".repeat(64);
    let bad = format!("fstree={url},sha256={wrong},dest={}", root.t());
    let f = run_debug(Mode::Plain, &bad, &MAIN);
    assert_refused(&f, "sha256");
    assert!(
        f.stderr_text().contains(&sha256(&archive)),
        "the actual sha256 is named"
    );
    assert!(
        root.listing() == ["outside", "outside/secret.txt", "target"],
        "{:?}",
        root.listing()
    );
}

#[test]
fn fstree_local_path_and_file_url_with_sha256() {
    let root = Root::new();
    let archive = gz(&tar(&[file("local.txt", b"from a file\n")]));
    let store = tempdir();
    let path = store.path().join("fix.tar.gz");
    std::fs::write(&path, &archive).unwrap();
    let p = path.to_str().unwrap();
    let f = run_debug(
        Mode::Plain,
        &format!("fstree={p},sha256={},dest={}", sha256(&archive), root.t()),
        &MAIN,
    );
    assert_started(&f);
    assert_eq!(
        std::fs::read_to_string(root.target().join("local.txt")).unwrap(),
        "from a file\n"
    );
    assert!(f.stderr_text().contains(&sha256(&archive)));

    let root = Root::new();
    let f = run_debug(
        Mode::Plain,
        &format!(
            "fstree=file://{p},sha256={},dest={}",
            "1".repeat(64),
            root.t()
        ),
        &MAIN,
    );
    assert_refused(&f, "sha256");
    assert!(!root.target().join("local.txt").exists());
}

/// A local source that is a fifo would hold the start until pre-exec's 600 s deadline: it is
/// refused at once, in one line, and nothing starts.
#[test]
fn fstree_local_fifo_is_refused_at_once() {
    let root = Root::new();
    let store = tempdir();
    let fifo = store.path().join("fix.tar.gz");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let asked = std::time::Instant::now();
    let f = run_debug(
        Mode::Pid1,
        &format!("fstree={},dest={}", fifo.display(), root.t()),
        &MAIN,
    );
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert_refused(&f, "not a regular file");
}

// ---------------------------------------------------------------------------------------------
// fstree: network failures

#[test]
fn fstree_404_is_refused_with_status_and_url() {
    let server = HttpServer::start();
    let root = Root::new();
    let url = server.url("missing.tar.gz");
    let f = run_debug(
        Mode::Pid1,
        &format!("fstree={url},dest={}", root.t()),
        &MAIN,
    );
    assert_refused(&f, "HTTP 404");
    assert!(f.stderr_text().contains(&url));
    root.outside_untouched();
    assert!(
        std::fs::read_dir(root.target()).unwrap().next().is_none(),
        "the HTML error page was not unpacked"
    );
    no_scratch_left(&f);
}

#[test]
fn fstree_connection_refused() {
    let root = Root::new();
    let url = format!("http://127.0.0.1:{}/x.tar.gz", closed_port());
    let f = run_debug(
        Mode::Plain,
        &format!("fstree={url},dest={}", root.t()),
        &MAIN,
    );
    assert_refused(&f, "Connection refused");
}

#[test]
fn fstree_slow_server_past_the_timeout() {
    let server = HttpServer::start();
    let root = Root::new();
    let url = server.route(
        "/slow.tar.gz",
        Reply::ok(b"x").content_length(1000).then_stall(),
    );
    let started = std::time::Instant::now();
    let f = run_debug(
        Mode::Plain,
        &format!("fstree={url},timeout=1s,dest={}", root.t()),
        &MAIN,
    );
    assert_refused(&f, "timed out");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(server.requests(), ["GET /slow.tar.gz HTTP/1.1"]);
    assert!(std::fs::read_dir(root.target()).unwrap().next().is_none());
}

#[test]
fn fstree_that_cannot_even_load_still_stops_the_start() {
    // The destination cannot be resolved (a path through a regular file): the plugin fails to
    // load, and the start is refused all the same rather than going on unpatched.
    let server = HttpServer::start();
    let root = Root::new();
    let url = server.route("/x.tgz", Reply::ok(gz(&tar(&[file("x.txt", b"x")]))));
    let dest = root.outside().join("secret.txt/sub");
    let f = run_debug(
        Mode::Plain,
        &format!("fstree={url},dest={}", dest.display()),
        &MAIN,
    );
    assert_refused(&f, "could not be loaded");
    root.outside_untouched();
}

// ---------------------------------------------------------------------------------------------
// fstree: hostile archives, one per rule

fn refused_archive(archive: Vec<u8>, extra: &str, why: &str) -> Root {
    let server = HttpServer::start();
    let root = Root::new();
    let url = server.route("/evil.tar.gz", Reply::ok(archive));
    let f = run_debug(
        Mode::Plain,
        &format!("fstree={url},dest={}{extra}", root.t()),
        &MAIN,
    );
    assert_refused(&f, why);
    root.outside_untouched();
    no_scratch_left(&f);
    root
}

#[test]
fn hostile_dot_dot() {
    let root = refused_archive(
        gz(&tar(&[
            file("ok.txt", b"1"),
            file("../outside/evil.txt", b"x"),
        ])),
        "",
        "`..`",
    );
    assert!(
        !root.target().join("ok.txt").exists(),
        "refused before anything was written"
    );
}

#[test]
fn hostile_absolute_name() {
    let probe = tempdir();
    let name = format!("{}/abs.txt", probe.path().display());
    refused_archive(gz(&tar(&[file(&name, b"x")])), "", "absolute");
    assert!(!Path::new(&name).exists());
}

#[test]
fn hostile_symlink_escape() {
    let probe = Root::new();
    let outside = probe.outside();
    let target = outside.to_str().unwrap();
    let archive = gz(&tar(&[
        special("link", b'2', target),
        file("link/pwned.txt", b"x"),
    ]));
    refused_archive(archive, "", "leads outside");
    assert!(!outside.join("pwned.txt").exists());
    probe.outside_untouched();
}

#[test]
fn hostile_hardlink_outside() {
    let probe = Root::new();
    let secret = probe.outside().join("secret.txt");
    let archive = gz(&tar(&[special("h", b'1', secret.to_str().unwrap())]));
    refused_archive(archive, "", "hard link");
    probe.outside_untouched();
    let archive = gz(&tar(&[special("h", b'1', "../outside/secret.txt")]));
    refused_archive(archive, "", "refused");
}

#[test]
fn hostile_device_node_and_fifo() {
    refused_archive(
        gz(&tar(&[special("dev/null2", b'3', "")])),
        "",
        "entries are never unpacked",
    );
    refused_archive(
        gz(&tar(&[special("fifo", b'6', "")])),
        "",
        "entries are never unpacked",
    );
}

#[test]
fn hostile_past_the_size_cap() {
    let big = vec![b'a'; 64 << 10];
    let root = refused_archive(
        gz(&tar(&[file("small.txt", b"s"), file("big.bin", &big)])),
        ",max-size=16K",
        "cap",
    );
    assert!(!root.target().join("small.txt").exists());
}

#[test]
fn hostile_corrupt_and_truncated() {
    let archive = gz(&tar(&[file("a.txt", &[7u8; 100_000]), file("b.txt", b"b")]));
    let truncated = archive[..archive.len() / 2].to_vec();
    let root = refused_archive(truncated, "", "corrupt or truncated");
    assert!(!root.target().join("a.txt").exists());
    let mut garbage = gz(b"not a tar at all, just text\n");
    garbage.extend_from_slice(b"trailing junk");
    refused_archive(garbage, "", "corrupt or truncated");
}

// ---------------------------------------------------------------------------------------------
// fstree: issue 17 (headers count, all or nothing, dest symlinks)

/// Eight 1 MiB pax global headers before each of `files` empty files, as zstd frames (they
/// concatenate into one stream, so the 8 MiB of headers are compressed once): about 100 KB
/// that decompress to gigabytes of headers.
fn pax_bomb(files: usize) -> Vec<u8> {
    const RECORD: usize = 1 << 20;
    let mut record = format!("{RECORD} comment=").into_bytes();
    record.resize(RECORD - 1, b'x');
    record.push(b'\n');
    let zst = |data: &[u8]| zstd::stream::encode_all(data, 3).unwrap();
    let global = Member {
        name: "pax_global_header",
        kind: b'g',
        link: "",
        data: &record,
        mode: 0o644,
        owner: 0,
    };
    // `tar` ends its output with the end-of-archive marker: cut it off the members.
    let unmarked = |members: &[Member<'_>]| {
        let mut out = tar(members);
        out.truncate(out.len() - 1024);
        out
    };
    let eight = zst(&unmarked(&[global]).repeat(8));
    let mut bomb = Vec::new();
    for i in 0..files {
        bomb.extend_from_slice(&eight);
        bomb.extend(zst(&unmarked(&[file(&format!("f{i}"), b"")])));
    }
    bomb.extend(zst(&[0; 1024]));
    bomb
}

#[test]
fn fstree_refuses_an_extension_header_bomb() {
    let bomb = pax_bomb(256);
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let root = refused_archive(bomb, ",max-size=1M", "extended headers");
    assert!(std::fs::read_dir(root.target()).unwrap().next().is_none());
}

/// A populated target, its listing and contents: what a refused archive must leave as is.
fn populated_root() -> Root {
    let root = Root::new();
    let t = root.target();
    std::fs::create_dir(t.join("etc")).unwrap();
    std::fs::write(t.join("etc/app.conf"), "old\n").unwrap();
    std::fs::write(t.join("keep.txt"), "keep\n").unwrap();
    root
}

fn contents(root: &Root) -> Vec<(String, Option<Vec<u8>>)> {
    root.listing()
        .into_iter()
        .map(|p| {
            let data = std::fs::read(root.dir.path().join(&p)).ok();
            (p, data)
        })
        .collect()
}

fn refused_over(root: &Root, name: &str, archive: Vec<u8>, why: &str) {
    let before = contents(root);
    let server = HttpServer::start();
    let url = server.route(name, Reply::ok(archive));
    let f = run_debug(
        Mode::Plain,
        &format!("fstree={url},strip=0,dest={}", root.t()),
        &MAIN,
    );
    assert_refused(&f, why);
    assert_eq!(contents(root), before, "the target changed");
    root.outside_untouched();
    no_scratch_left(&f);
}

#[test]
fn fstree_all_or_nothing_after_good_entries() {
    let root = populated_root();
    // A zip whose last entry fails its CRC, after entries that replace and add files.
    let bad: &[u8] = b"this entry's checksum is wrong";
    let archive = zip(&[
        ("etc/app.conf", &b"new\n"[..]),
        ("added.txt", &b"added\n"[..]),
        ("new/", &b""[..]),
        ("bad.txt", bad),
    ]);
    let mut crc = flate2::Crc::new();
    crc.update(bad);
    let (right, wrong) = (crc.sum().to_le_bytes(), (crc.sum() ^ 1).to_le_bytes());
    let mut corrupt = archive.clone();
    for at in 0..corrupt.len() - 3 {
        if corrupt[at..at + 4] == right {
            corrupt[at..at + 4].copy_from_slice(&wrong);
        }
    }
    refused_over(&root, "fix.zip", corrupt, "corrupt or truncated");
    // A tar whose last entry writes through a symlink leading out.
    let outside = root.outside();
    let archive = gz(&tar(&[
        file("etc/app.conf", b"new\n"),
        file("added.txt", b"added\n"),
        special("out", b'2', outside.to_str().unwrap()),
        file("out/pwned.txt", b"x"),
    ]));
    refused_over(&root, "fix.tar.gz", archive, "leads outside");
}

/// Set-id bits stay only where the owner they were meant for was applied: uid/gid 4294967295
/// is chown's "no change", so the file would stay root's, and setuid root it must not be.
#[test]
fn fstree_drops_set_id_bits_whose_owner_was_not_applied() {
    use std::os::unix::fs::MetadataExt;
    let server = HttpServer::start();
    let root = Root::new();
    let mut suid = file("suid", b"#!/bin/sh\n");
    suid.mode = 0o6755;
    suid.owner = 4_294_967_295;
    let mut kept = file("kept", b"#!/bin/sh\n");
    kept.mode = 0o4755;
    kept.owner = 0;
    let url = server.route("/ids.tgz", Reply::ok(gz(&tar(&[suid, kept]))));
    let f = run_debug(
        Mode::Pid1,
        &format!("fstree={url},dest={}", root.t()),
        &MAIN,
    );
    assert_started(&f);
    let meta = std::fs::metadata(root.target().join("suid")).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o755, "{:o}", meta.mode());
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    let meta = std::fs::metadata(root.target().join("kept")).unwrap();
    assert_eq!(
        meta.mode() & 0o7777,
        0o4755,
        "root's own setuid, applied: kept"
    );
}

/// A zip naming one path twice (two spellings of it here) is refused before anything is
/// written: which copy wins would depend on the tool.
#[test]
fn fstree_refuses_a_zip_that_names_a_file_twice() {
    let archive = zip(&[("etc/a.conf", &b"one"[..]), ("etc//a.conf", &b"two"[..])]);
    let server = HttpServer::start();
    let root = Root::new();
    let url = server.route("/twice.zip", Reply::ok(archive));
    let f = run_debug(
        Mode::Pid1,
        &format!("fstree={url},dest={}", root.t()),
        &MAIN,
    );
    assert_refused(&f, "twice");
    assert!(!root.target().join("etc").exists());
}

#[test]
fn fstree_refuses_a_dest_through_a_symlink() {
    let server = HttpServer::start();
    let root = Root::new();
    let url = server.route("/x.tgz", Reply::ok(gz(&tar(&[file("x.txt", b"x")]))));
    let link = root.dir.path().join("link");
    std::os::unix::fs::symlink("target", &link).unwrap();
    let f = run_debug(
        Mode::Plain,
        &format!("fstree={url},dest={}", link.display()),
        &MAIN,
    );
    assert_refused(&f, "is a symlink (to target), which is not followed");
    assert!(
        f.stderr_text().contains("give the real path"),
        "{}",
        f.stderr_text()
    );
    assert!(!root.target().join("x.txt").exists());
    std::fs::remove_file(&link).unwrap();
    root.outside_untouched();
}

// ---------------------------------------------------------------------------------------------
// verbose

const SECRET: &str = "s3cr3t-value-never-printed";

fn verbose(mode: Mode, args: &[&str], cwd: &Path, path: Option<&str>) -> Finished {
    let mut cmd = hookinit(mode, "verbose", args);
    cmd.current_dir(cwd)
        .env("API_TOKEN", SECRET)
        .env("DB_PASSWORD", SECRET)
        .env_remove("PS4")
        .env_remove("BASH_ENV");
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    let f = start(cmd, mode).wait();
    let all = format!("{}\n{}", f.stdout.join("\n"), f.stderr_text());
    assert!(!all.contains(SECRET), "a secret value was printed:\n{all}");
    assert!(
        f.stderr.iter().any(|l| l.contains("API_TOKEN=<hidden>")),
        "{all}"
    );
    f
}

fn has(f: &Finished, needle: &str) -> bool {
    f.stderr.iter().any(|l| l.contains(needle))
}

/// Whether the shell's trace (stderr without hookinit's own lines) has `needle`. A line that
/// hookinit writes while the main process runs (a plugin's output, say) may land in the middle
/// of a trace line (the shell writes its PS4 and the command separately), so hookinit's lines
/// are cut out wherever they start.
fn traced(f: &Finished, needle: &str) -> bool {
    let mut text = f.stderr.join("\n");
    text.push('\n');
    let mut shell = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("hookinit: ") {
        shell.push_str(&rest[..i]);
        rest = rest[i..].split_once('\n').map_or("", |(_, r)| r);
    }
    shell.push_str(rest);
    shell.contains(needle)
}

#[test]
fn verbose_bash_script_traced_with_file_and_line() {
    let dir = tempdir();
    let script = write_script(
        dir.path(),
        "entrypoint.sh",
        "#!/bin/bash\necho hello\nx=$((40 + 2))\necho \"x=$x\"\n",
    );
    let s = script.to_str().unwrap();
    for mode in MODES {
        let f = verbose(mode, &["--", s], dir.path(), None);
        assert_eq!(f.code(), 0, "{}", f.stderr_text());
        assert_eq!(f.stdout, ["hello", "x=42"]);
        assert!(
            has(&f, &format!("tracing bash script {s}")),
            "{}",
            f.stderr_text()
        );
        assert!(
            traced(&f, &format!("+ {s}:2: echo hello")),
            "{}",
            f.stderr_text()
        );
        assert!(traced(&f, &format!("+ {s}:3: x=42")), "{}", f.stderr_text());
        no_scratch_left(&f);
    }
}

#[test]
fn verbose_env_bash_found_in_path() {
    let dir = tempdir();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let script = write_script(
        &bin,
        "start-app",
        "#!/usr/bin/env bash\nset -e\necho started\n",
    );
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());
    let f = verbose(Mode::Plain, &["--", "start-app"], dir.path(), Some(&path));
    assert_eq!(f.code(), 0, "{}", f.stderr_text());
    let s = script.to_str().unwrap();
    assert!(
        has(&f, &format!("tracing bash script {s}")),
        "{}",
        f.stderr_text()
    );
    assert!(
        traced(&f, &format!("+ {s}:3: echo started")),
        "{}",
        f.stderr_text()
    );

    let script = write_script(&bin, "split", "#!/usr/bin/env -S bash -e\necho split\n");
    let f = verbose(Mode::Plain, &["--", "split"], dir.path(), Some(&path));
    let s = script.to_str().unwrap();
    assert!(
        traced(&f, &format!("+ {s}:2: echo split")),
        "{}",
        f.stderr_text()
    );
}

#[test]
fn verbose_bash_c_and_bash_script() {
    let dir = tempdir();
    let f = verbose(
        Mode::Plain,
        &["--", "bash", "-c", "echo one; echo two"],
        dir.path(),
        None,
    );
    assert_eq!(f.stdout, ["one", "two"]);
    assert!(has(&f, "tracing bash -c command"), "{}", f.stderr_text());
    assert!(traced(&f, "+ bash:1: echo one"), "{}", f.stderr_text());

    let script = write_script(dir.path(), "lib.sh", "echo from-lib\n");
    let f = verbose(Mode::Plain, &["--", "bash", "lib.sh"], dir.path(), None);
    assert_eq!(f.stdout, ["from-lib"]);
    assert!(has(&f, "tracing bash script lib.sh"), "{}", f.stderr_text());
    assert!(
        traced(&f, "+ lib.sh:1: echo from-lib"),
        "{}",
        f.stderr_text()
    );
    drop(script);
}

#[test]
fn verbose_posix_sh_script_runs_as_sh_x() {
    let dir = tempdir();
    // dash (Debian's /bin/sh) has no LINENO: the trace names the file.
    let script = write_script(dir.path(), "entry.sh", "#!/bin/sh\necho posix\ny=2\n");
    let s = script.to_str().unwrap();
    let f = verbose(Mode::Pid1, &["--", s], dir.path(), None);
    assert_eq!(f.code(), 0, "{}", f.stderr_text());
    assert_eq!(f.stdout, ["posix"]);
    assert!(
        has(&f, &format!("tracing sh script {s} as `/bin/sh -x {s}`")),
        "{}",
        f.stderr_text()
    );
    assert!(has(&f, &format!("starting main process: /bin/sh -x {s}")));
    assert!(
        traced(&f, &format!("+ {s}: echo posix")) || traced(&f, &format!("+ {s}:2: echo posix")),
        "{}",
        f.stderr_text()
    );

    // `sh script`: -x is added to the shell named on the command line.
    let f = verbose(Mode::Plain, &["--", "sh", "entry.sh"], dir.path(), None);
    assert_eq!(f.stdout, ["posix"]);
    assert!(has(&f, "tracing sh script entry.sh"), "{}", f.stderr_text());
    assert!(traced(&f, "+ entry.sh"), "{}", f.stderr_text());
}

#[test]
fn verbose_busybox_sh_script_has_file_and_line() {
    if !Path::new("/bin/busybox").exists() {
        eprintln!("skipped: no /bin/busybox (apt-get install busybox-static)");
        return;
    }
    let dir = tempdir();
    let script = write_script(dir.path(), "bb.sh", "#!/bin/busybox sh\necho bb\ny=3\n");
    let s = script.to_str().unwrap();
    let f = verbose(Mode::Plain, &["--", s], dir.path(), None);
    assert_eq!(f.stdout, ["bb"], "{}", f.stderr_text());
    assert!(
        traced(&f, &format!("+ {s}:2: echo bb")),
        "{}",
        f.stderr_text()
    );
    assert!(traced(&f, &format!("+ {s}:3: y=3")), "{}", f.stderr_text());
}

#[test]
fn verbose_leaves_a_binary_alone_and_never_blocks_the_start() {
    let dir = tempdir();
    let f = verbose(Mode::Plain, &["--", "true"], dir.path(), None);
    assert_eq!(f.code(), 0);
    assert!(
        has(&f, "is not a script (no #! line): nothing to trace"),
        "{}",
        f.stderr_text()
    );
    let f = verbose(
        Mode::Plain,
        &["--", "no-such-program-here"],
        dir.path(),
        None,
    );
    assert_eq!(f.code(), 127, "{}", f.stderr_text());
    no_scratch_left(&f);
}

// ---------------------------------------------------------------------------------------------
// The DEBUG chain: verbose,stayalive,fstree=URL

#[test]
fn debug_chain_verbose_stayalive_fstree() {
    let server = HttpServer::start();
    // The patch goes over `/` (the default destination) into a fresh directory under /tmp.
    let patched = tempfile::Builder::new()
        .prefix("hookinit-chain-")
        .tempdir_in("/tmp")
        .unwrap();
    let rel = patched
        .path()
        .strip_prefix("/")
        .unwrap()
        .display()
        .to_string();
    let fixed = format!("{rel}/config.sh");
    let archive = gz(&tar(&[Member {
        mode: 0o644,
        ..file(&fixed, b"GREETING=patched\n")
    }]));
    let url = server.route("/fix.tar.gz", Reply::ok(archive));
    let work = tempdir();
    let entry = write_script(
        work.path(),
        "entrypoint.sh",
        &format!(
            "#!/bin/bash\n. {}/config.sh\necho \"greeting=$GREETING\"\n",
            patched.path().display()
        ),
    );
    let e = entry.to_str().unwrap();
    let run_dir = tempdir();
    let debug = format!("verbose,stayalive,fstree={url}");
    let mut cmd = hookinit(Mode::Pid1, &debug, &["--", e]);
    cmd.env("HOOKINIT_RUN_DIR", run_dir.path());
    let f = start(cmd, Mode::Pid1).wait();
    assert_eq!(f.code(), 0, "{}", f.stderr_text());
    assert_eq!(
        f.stdout,
        ["greeting=patched"],
        "the entrypoint used the patched file"
    );
    let text = f.stderr_text();
    assert!(text.contains("[fstree] unpacked"), "{text}");
    assert!(
        traced(&f, &format!("+ {e}:3: echo greeting=patched")),
        "the trace is visible: {text}"
    );
    assert!(
        !text.contains("stayalive: staying up"),
        "a success does not stay"
    );

    // The same chain with a patch that cannot be fetched: not started, and it stays.
    let missing = server.url("gone.tar.gz");
    let mut cmd = hookinit(
        Mode::Pid1,
        &format!("verbose,stayalive,fstree={missing}"),
        &["--", e],
    );
    cmd.env("HOOKINIT_RUN_DIR", run_dir.path());
    let mut r = start(cmd, Mode::Pid1);
    r.expect_stderr("HTTP 404");
    r.expect_stderr("stayalive: staying up");
    r.signal(libc::SIGTERM);
    let f = r.wait();
    assert_eq!(f.code(), 2, "{}", f.stderr_text());
    assert!(
        f.stdout.is_empty(),
        "the entrypoint did not run: {:?}",
        f.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// coredump

fn coredump_wasm() -> String {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| build_plugins(&["coredump"]));
    dir.join("coredump.wasm").to_str().unwrap().to_string()
}

fn core_pattern() -> String {
    std::fs::read_to_string("/proc/sys/kernel/core_pattern")
        .unwrap()
        .trim_end()
        .to_string()
}

const DUMP: [&str; 4] = ["--", "sh", "-c", "kill -ABRT $$"];

#[test]
fn coredump_collects_the_core_where_core_pattern_puts_it() {
    let pattern = core_pattern();
    // A pipe goes to the host (tested below with a pattern seen through a bind mount); an
    // absolute pattern may point anywhere on the host: only `core`-like relative patterns put
    // the core where this test can grant it. Never a silent skip: say how to set it.
    assert!(
        !pattern.starts_with('|') && !pattern.starts_with('/'),
        "this test needs a relative core_pattern (it is {pattern:?}): \
         echo core > /proc/sys/kernel/core_pattern"
    );
    let cwd = tempdir();
    let out = tempdir();
    let debug = format!(
        "plugin={},write={},read={}",
        coredump_wasm(),
        out.path().display(),
        cwd.path().display()
    );
    let mut cmd = hookinit(Mode::Pid1, &debug, &DUMP);
    cmd.current_dir(cwd.path());
    let f = start(cmd, Mode::Pid1).wait();
    assert_eq!(f.code(), 128 + 6, "{}", f.stderr_text());
    let text = f.stderr_text();
    assert!(
        text.contains("core dumped"),
        "the plugin raised RLIMIT_CORE: {text}"
    );
    let (core, summary) = collected_core(out.path(), &text);
    let size = std::fs::metadata(&core).unwrap().len();
    assert!(size > 0);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&core).unwrap().permissions().mode() & 0o077,
        0,
        "the copy is private like the core"
    );
    for part in [
        "program: sh",
        "signal: 6",
        "killed by SIGABRT",
        "time: ",
        &format!("core_size: {size}"),
    ] {
        assert!(summary.contains(part), "{part:?} not in {summary}");
    }
    assert!(
        text.contains(&format!("core ({size} bytes) copied from")),
        "{text}"
    );

    // Without a grant on the directory where the core lands, it says what to grant.
    let out2 = tempdir();
    let debug = format!("plugin={},write={}", coredump_wasm(), out2.path().display());
    let mut cmd = hookinit(Mode::Plain, &debug, &DUMP);
    cmd.current_dir(cwd.path());
    let f = start(cmd, Mode::Plain).wait();
    assert_eq!(f.code(), 134);
    assert!(
        f.stderr_text()
            .contains(&format!("read={}", cwd.path().display())),
        "{}",
        f.stderr_text()
    );
}

#[test]
fn coredump_says_plainly_when_cores_go_to_a_host_helper() {
    // core_pattern is machine-wide and must not be changed: this test shows hookinit a pipe
    // pattern through a bind mount in a mount namespace of its own (the kernel keeps its own).
    let fake_dir = tempdir();
    let fake = fake_dir.path().join("core_pattern");
    std::fs::write(
        &fake,
        "|/usr/lib/systemd/systemd-coredump %P %u %g %s %t 9223372036854775808 %h\n",
    )
    .unwrap();
    let out = tempdir();
    let cwd = tempdir();
    let debug = format!("plugin={},write={}", coredump_wasm(), out.path().display());
    let mut cmd = Command::new("unshare");
    default_signals(&mut cmd);
    cmd.args([
        "--mount",
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
        "sh",
        "-c",
    ])
    .arg("mount --bind \"$0\" /proc/sys/kernel/core_pattern && exec \"$@\"")
    .arg(&fake)
    .arg(hookinit_bin())
    .args(DUMP)
    .current_dir(cwd.path())
    .env("DEBUG", debug)
    .env("HOOKINIT_CACHE_DIR", plugin_cache())
    .env("HOOKINIT_CONFIG", "/dev/null")
    .env_remove("HOOKINIT_DEBUG")
    .env_remove("HOOKINIT_VERBOSITY");
    let f = start(cmd, Mode::Plain).wait();
    let text = f.stderr_text();
    assert_eq!(f.code(), 134, "{text}");
    assert!(
        text.contains(
            "core_pattern sends cores to a program on the host (/usr/lib/systemd/systemd-coredump)"
        ),
        "{text}"
    );
    assert!(
        text.contains("cannot be collected from the container"),
        "{text}"
    );
    let summary = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "txt"))
        .expect("a summary");
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(
        summary.contains(
            "core: not collected: the kernel piped it to /usr/lib/systemd/systemd-coredump"
        ),
        "{summary}"
    );
}

#[test]
fn coredump_without_a_write_grant_says_what_to_grant() {
    let debug = format!("plugin={}", coredump_wasm());
    let f = run_debug(Mode::Plain, &debug, &["--", "true"]);
    assert_eq!(f.code(), 0);
    assert!(
        f.stderr_text().contains("grant one with `write=DIR`"),
        "{}",
        f.stderr_text()
    );
}
