//! Archive extraction (`services::unpack`) into a target directory under a temporary parent.
//!
//! The first byte picks the mode:
//! - even: the rest of the input is the archive file, as is (any format: tar, tar.gz, tar.xz,
//!   tar.zst, zip, or garbage); bits 1-3 of the first byte pick `strip` and `same_owner`;
//! - odd: the rest drives `arbitrary` to build a well-formed tar, tar.gz or zip whose entries
//!   have hostile names and link targets (`..`, absolute paths, the parent's own absolute path,
//!   symlinks to `/` or out of the target followed by entries through them, hard links out,
//!   GNU long names and pax paths), over a target that may already hold such symlinks.
//!
//! Each run makes `PARENT/{target/, outside/keep, outside/sub/, archive}` and checks that nothing
//! under PARENT but `target/` changed (path, type, mode, owner, size, link count, mtime, ctime,
//! content, link target), and that none of the absolute paths a hostile name here can spell
//! (`/a`, `/etc/a`, ...) appeared; and that the report or the error is one line. Whether the
//! unpack succeeds or is refused does not matter; a panic, an escape or a broken line is a crash.
//!
//! It also checks the issue-17 rules:
//! - all or nothing: a refused unpack leaves `target/` as it was (everything but times: type,
//!   mode, owner, inode, link count, content, link target), and no entry set aside
//!   (`.hookinit-undo-*`) is ever left behind;
//! - every decompressed byte counts: a structured tar is built with the size cap drawn small at
//!   times and global pax headers (archive comments) before entries; it is unpacked only if
//!   its whole tar stream fits the size cap and its extension records fit the metadata cap,
//!   and then it is never refused for either cap.
#![no_main]

use std::collections::BTreeMap;
use std::fs;
use std::io::{Cursor, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use arbitrary::{Arbitrary, Unstructured};
use hookinit_archive::metadata_cap;
use hookinit_archive::{UnpackError, UnpackOptions, unpack};
use libfuzzer_sys::fuzz_target;

/// Small caps so that a decompression bomb costs milliseconds, not seconds.
const MAX_BYTES: u64 = 4 << 20;
const MAX_ENTRIES: u64 = 512;

/// Names the structured mode uses. `etc` and `usr` exist at `/`, so `/etc/a` is spellable.
const NAMES: [&str; 9] = [
    "a", "b", "c", "etc", "usr", "keep", "outside", "target", "sub",
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let sandbox = Sandbox::new();
    let (archive, opts, pre, sizes) = if mode & 1 == 0 {
        let opts = UnpackOptions {
            strip: [None, Some(0), Some(1), Some(2)][usize::from((mode >> 1) & 3)],
            sha256: None,
            max_bytes: MAX_BYTES,
            max_entries: MAX_ENTRIES,
            same_owner: mode & 8 != 0,
        };
        (rest.to_vec(), opts, Vec::new(), None)
    } else {
        let Ok(plan) = Plan::arbitrary_take_rest(Unstructured::new(rest)) else {
            return;
        };
        if show() {
            eprintln!("{plan:#?}");
        }
        let Some((archive, sizes)) = plan.build(&sandbox) else {
            return;
        };
        let opts = UnpackOptions {
            strip: plan.strip.map(|s| u32::from(s % 4)),
            sha256: match plan.pin {
                Pin::None => None,
                Pin::Right => Some(sha256_of(&archive).parse().expect("a sha256")),
                Pin::Wrong => Some("0".repeat(64).parse().expect("a sha256")),
            },
            // Small at times: then headers alone can pass it.
            max_bytes: plan.cap.map_or(MAX_BYTES, |c| 512 * (u64::from(c) + 1)),
            max_entries: MAX_ENTRIES,
            same_owner: plan.same_owner,
        };
        (archive, opts, plan.pre, sizes)
    };
    sandbox.run(&archive, &opts, &pre, sizes);
});

// ---------------------------------------------------------------------------------------------
// The sandbox

/// `HOOKINIT_FUZZ_SHOW=1`: print each input's plan, the unpack's result and what the target
/// holds after it (to read what a crash or a corpus input does).
fn show() -> bool {
    static SHOW: OnceLock<bool> = OnceLock::new();
    *SHOW.get_or_init(|| std::env::var_os("HOOKINIT_FUZZ_SHOW").is_some())
}

/// Absolute paths (and whether each existed at the start) that an escape through `/` could
/// create with the names above.
fn root_probes() -> &'static Vec<(PathBuf, bool)> {
    static PROBES: OnceLock<Vec<(PathBuf, bool)>> = OnceLock::new();
    PROBES.get_or_init(|| {
        let mut paths = Vec::new();
        for name in NAMES {
            paths.push(Path::new("/").join(name));
            for dir in ["etc", "usr"] {
                paths.push(Path::new("/").join(dir).join(name));
            }
        }
        paths
            .into_iter()
            .map(|p| {
                let existed = p.symlink_metadata().is_ok();
                (p, existed)
            })
            .collect()
    })
}

/// Where the per-run parents live: `$HOOKINIT_FUZZ_TMP`, else /dev/shm (no disk I/O), else the
/// system's temp dir; a folder per fuzzing process, canonical (symlink targets are compared
/// with the destination's real path).
fn base() -> &'static PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let root = std::env::var_os("HOOKINIT_FUZZ_TMP")
            .map(PathBuf::from)
            .or_else(|| {
                let shm = Path::new("/dev/shm");
                shm.is_dir().then(|| shm.to_path_buf())
            })
            .unwrap_or_else(std::env::temp_dir);
        let base = root.join(format!("hookinit-fuzz-{}", std::process::id()));
        let _ = remove_all(&base);
        fs::create_dir_all(&base).expect("fuzz temp base");
        fs::canonicalize(&base).expect("canonical fuzz temp base")
    })
}

struct Sandbox {
    parent: PathBuf,
    target: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let parent = base().join(NEXT.fetch_add(1, Ordering::Relaxed).to_string());
        let _ = remove_all(&parent);
        fs::create_dir(&parent).expect("parent");
        let target = parent.join("target");
        fs::create_dir(&target).expect("target");
        fs::create_dir_all(parent.join("outside/sub")).expect("outside");
        fs::write(parent.join("outside/keep"), "keep").expect("keep");
        Sandbox { parent, target }
    }

    /// The parent's absolute path without its leading `/`, as path components.
    fn parent_rel(&self) -> String {
        self.parent.to_str().expect("UTF-8 temp path")[1..].to_owned()
    }

    fn run(self, archive: &[u8], opts: &UnpackOptions, pre: &[Pre], sizes: Option<TarSizes>) {
        let archive_path = self.parent.join("archive");
        fs::write(&archive_path, archive).expect("archive");
        for p in pre {
            p.make(&self);
        }
        let before = self.snapshot();
        let target_before = self.target_state();
        let result = unpack(&archive_path, &self.target, opts);
        if show() {
            eprintln!("unpack: {opts:?}\n  -> {result:?}");
            let mut inside = BTreeMap::new();
            walk(&self.target, &self.target, &self.parent, &mut inside);
            for (path, what) in inside {
                eprintln!("  target/{path}: {what}");
            }
        }
        let after = self.snapshot();
        if before != after {
            let changed: Vec<_> = after
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(v))
                .map(|(k, v)| format!("{k}: {v}"))
                .chain(
                    before
                        .keys()
                        .filter(|k| !after.contains_key(*k))
                        .map(|k| format!("{k}: removed")),
                )
                .collect();
            panic!("something changed outside the target: {changed:#?}\nunpack said: {result:?}");
        }
        for (path, existed) in root_probes() {
            if !existed && path.symlink_metadata().is_ok() {
                panic!(
                    "{} appeared outside the target\nunpack said: {result:?}",
                    path.display()
                );
            }
        }
        let target_after = self.target_state();
        if result.is_err() && target_after != target_before {
            panic!(
                "a refused unpack changed the target: {}\nunpack said: {result:?}",
                diff(&target_before, &target_after)
            );
        }
        if let Some(aside) = target_after.keys().find(|k| k.contains(".hookinit-undo-")) {
            panic!("{aside} was left in the target\nunpack said: {result:?}");
        }
        if let Some(sizes) = sizes {
            sizes.check(opts, &result);
        }
        // The caller logs the report or the error as one line (services/mod.rs).
        let line = match &result {
            Ok(report) => report.to_string(),
            Err(e) => e.to_string(),
        };
        assert!(
            !line.is_empty() && !line.contains('\n'),
            "not one line: {line:?}"
        );
        remove_all(&self.parent).expect("remove the run's parent");
        // (Dropping `self` now finds nothing left.)
    }

    /// Everything under the target but times, which a refused unpack may change on the
    /// directories that existed.
    fn target_state(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        walk_state(&self.target, &self.target, &mut out);
        out
    }

    /// Everything under the parent except the target's content.
    fn snapshot(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        walk(&self.parent, &self.parent, &self.target, &mut out);
        out
    }
}

/// An input that builds no archive returns early: its parent goes all the same.
impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = remove_all(&self.parent);
    }
}

fn walk(root: &Path, dir: &Path, skip: &Path, out: &mut BTreeMap<String, String>) {
    let meta = fs::symlink_metadata(dir).expect("metadata");
    let rel = dir
        .strip_prefix(root)
        .expect("under root")
        .display()
        .to_string();
    if dir == skip {
        // The target's own mode and times change legitimately; what it is must not.
        out.insert(rel, format!("{:?}", meta.file_type()));
        return;
    }
    out.insert(rel, describe(dir, &meta));
    if meta.is_dir() {
        for entry in fs::read_dir(dir).expect("read_dir") {
            walk(root, &entry.expect("entry").path(), skip, out);
        }
    }
}

fn walk_state(root: &Path, path: &Path, out: &mut BTreeMap<String, String>) {
    let meta = fs::symlink_metadata(path).expect("metadata");
    let extra = if meta.file_type().is_symlink() {
        format!("-> {:?}", fs::read_link(path).expect("read_link"))
    } else if meta.is_file() {
        format!("{:?}", fs::read(path).expect("read"))
    } else {
        String::new()
    };
    let rel = path
        .strip_prefix(root)
        .expect("under root")
        .display()
        .to_string();
    let line = format!(
        "{:?} {:o} {}:{} ino {} links {} {extra}",
        meta.file_type(),
        meta.mode(),
        meta.uid(),
        meta.gid(),
        meta.ino(),
        meta.nlink(),
    );
    out.insert(rel, line);
    if meta.is_dir() {
        for entry in fs::read_dir(path).expect("read_dir") {
            walk_state(root, &entry.expect("entry").path(), out);
        }
    }
}

fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> String {
    let changed: Vec<String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: {v}"))
        .chain(
            before
                .iter()
                .filter(|(k, _)| !after.contains_key(*k))
                .map(|(k, v)| format!("{k}: removed (was {v})")),
        )
        .collect();
    format!("{changed:#?}")
}

/// What a structured tar holds, to check the caps against.
#[derive(Debug, Clone, Copy)]
struct TarSizes {
    /// The whole tar stream: headers, records, data, padding, end marker.
    stream: u64,
    /// Data of extension headers (pax, global pax, GNU long names).
    metadata: u64,
}

impl TarSizes {
    /// Refused for a cap exactly when the archive passes it.
    fn check(
        self,
        opts: &UnpackOptions,
        result: &Result<hookinit_archive::UnpackReport, UnpackError>,
    ) {
        let fits = self.stream <= opts.max_bytes && self.metadata <= metadata_cap(opts.max_bytes);
        let capped = matches!(
            result,
            Err(UnpackError::TooLarge { .. } | UnpackError::TooMuchMetadata { .. })
        );
        if result.is_ok() && !fits {
            panic!("{self:?} passes the caps of {opts:?}, and was unpacked: {result:?}");
        }
        if capped && fits {
            panic!("{self:?} fits the caps of {opts:?}, and was refused: {result:?}");
        }
    }
}

fn describe(path: &Path, meta: &fs::Metadata) -> String {
    let extra = if meta.file_type().is_symlink() {
        format!("-> {:?}", fs::read_link(path).expect("read_link"))
    } else if meta.is_file() {
        format!("{:?}", fs::read(path).expect("read"))
    } else {
        String::new()
    };
    format!(
        "{:?} {:o} {}:{} {} bytes {} links mtime {}.{} ctime {}.{} {extra}",
        meta.file_type(),
        meta.mode(),
        meta.uid(),
        meta.gid(),
        meta.len(),
        meta.nlink(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    )
}

/// `remove_dir_all`, after making every directory writable (an archive may leave a directory
/// read-only, which stops a non-root user from emptying it).
fn remove_all(path: &Path) -> std::io::Result<()> {
    if fs::remove_dir_all(path).is_ok() || !path.exists() {
        return Ok(());
    }
    fn open_up(dir: &Path) {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    open_up(&entry.path());
                }
            }
        }
    }
    open_up(path);
    fs::remove_dir_all(path)
}

fn sha256_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The structured mode

#[derive(Arbitrary, Debug)]
struct Plan {
    container: Container,
    /// A size cap of 512 * (N + 1) bytes instead of MAX_BYTES.
    cap: Option<u8>,
    strip: Option<u8>,
    pin: Pin,
    same_owner: bool,
    /// Made in the target before the unpack.
    pre: Vec<Pre>,
    entries: Vec<Entry>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Container {
    Tar,
    TarGz,
    Zip,
}

#[derive(Debug, Clone, Copy)]
enum Pin {
    None,
    Right,
    Wrong,
}

impl<'a> Arbitrary<'a> for Pin {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        // A wrong pin ends the run before anything is written: rarely.
        Ok(match u8::arbitrary(u)? {
            0..=219 => Pin::None,
            220..=249 => Pin::Right,
            _ => Pin::Wrong,
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Comp {
    Name(usize),
    Dot,
    DotDot,
    Empty,
    /// The parent's absolute path, without its leading `/` (so `/` + this reaches it).
    Parent,
    /// A name longer than tar's 100-byte field.
    Long,
}

/// A path: an entry's name or a link's target. Entry names are mostly plain (one `..` or
/// absolute name has the whole archive refused before anything is written, which ends the run
/// early), link targets mostly hostile (a symlink may point anywhere; what matters is that
/// nothing is written through it).
#[derive(Debug, Clone)]
struct PathSpec {
    absolute: bool,
    comps: Vec<Comp>,
    trailing_slash: bool,
}

impl PathSpec {
    fn arbitrary_with(u: &mut Unstructured<'_>, hostile: bool) -> arbitrary::Result<Self> {
        let absolute = u.int_in_range(0..=31u8)? < if hostile { 12 } else { 1 };
        let len = u.int_in_range(if hostile { 0..=4 } else { 1..=4 })?;
        let mut comps = Vec::with_capacity(len);
        for _ in 0..len {
            let x = u8::arbitrary(u)?;
            let (names, dots, up, parent) = if hostile {
                (150, 170, 220, 245)
            } else {
                (215, 230, 238, 248)
            };
            comps.push(match x {
                _ if x < names => Comp::Name(usize::from(x) % NAMES.len()),
                _ if x < dots => {
                    if x % 2 == 0 {
                        Comp::Dot
                    } else {
                        Comp::Empty
                    }
                }
                _ if x < up => Comp::DotDot,
                _ if x < parent => Comp::Parent,
                _ => Comp::Long,
            });
        }
        let trailing_slash = u.ratio(1u8, 8)?;
        Ok(PathSpec {
            absolute,
            comps,
            trailing_slash,
        })
    }

    fn render(&self, sb: &Sandbox) -> String {
        let comps: Vec<String> = self
            .comps
            .iter()
            .map(|c| match *c {
                Comp::Name(n) => NAMES[n].to_owned(),
                Comp::Dot => ".".into(),
                Comp::DotDot => "..".into(),
                Comp::Empty => String::new(),
                Comp::Parent => sb.parent_rel(),
                Comp::Long => "l".repeat(120),
            })
            .collect();
        let mut path = comps.join("/");
        if self.absolute {
            path.insert(0, '/');
        }
        if self.trailing_slash {
            path.push('/');
        }
        path
    }
}

/// A link's target: hostile more often than not.
#[derive(Debug, Clone)]
struct LinkTarget(PathSpec);

impl<'a> Arbitrary<'a> for LinkTarget {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        PathSpec::arbitrary_with(u, true).map(LinkTarget)
    }
}

/// An entry's name: plain more often than not.
#[derive(Debug, Clone)]
struct EntryName(PathSpec);

impl<'a> Arbitrary<'a> for EntryName {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        PathSpec::arbitrary_with(u, false).map(EntryName)
    }
}

/// Something already in the target.
#[derive(Arbitrary, Debug)]
struct Pre {
    name: u8,
    kind: PreKind,
}

#[derive(Arbitrary, Debug)]
enum PreKind {
    Dir,
    File,
    /// `../outside`, the parent's `outside` by absolute path, `/`, or any spelled path.
    UpLink,
    AbsLink,
    RootLink,
    Link(LinkTarget),
}

impl Pre {
    fn make(&self, sb: &Sandbox) {
        let path = sb.target.join(NAMES[usize::from(self.name) % NAMES.len()]);
        if path.symlink_metadata().is_ok() {
            return;
        }
        let _ = match &self.kind {
            PreKind::Dir => fs::create_dir(&path),
            PreKind::File => fs::write(&path, "pre"),
            PreKind::UpLink => symlink("../outside", &path),
            PreKind::AbsLink => symlink(sb.parent.join("outside"), &path),
            PreKind::RootLink => symlink("/", &path),
            PreKind::Link(LinkTarget(spec)) => {
                let target = spec.render(sb);
                if target.is_empty() {
                    return;
                }
                symlink(target, &path)
            }
        };
    }
}

#[derive(Arbitrary, Debug)]
struct Entry {
    name: EntryName,
    kind: Kind,
    /// How a tar stores the name: the header field, a GNU long name, or a pax `path` record.
    via: Via,
    /// A global pax header (an archive comment of that many bytes) before the entry, in a tar.
    comment: Option<u16>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Via {
    Header,
    GnuLong,
    Pax,
}

#[derive(Debug)]
enum Kind {
    Dir,
    File { data: Vec<u8>, mode: u16 },
    Symlink(LinkTarget),
    Hardlink(EntryName),
    Fifo,
    CharDevice,
}

impl<'a> Arbitrary<'a> for Kind {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match u8::arbitrary(u)? {
            0..=79 => {
                let len = u.int_in_range(0..=64usize)?;
                Kind::File {
                    data: u.bytes(len)?.to_vec(),
                    mode: u16::arbitrary(u)?,
                }
            }
            80..=129 => Kind::Dir,
            130..=199 => Kind::Symlink(LinkTarget::arbitrary(u)?),
            200..=247 => Kind::Hardlink(EntryName::arbitrary(u)?),
            248..=251 => Kind::Fifo,
            _ => Kind::CharDevice,
        })
    }
}

impl Plan {
    fn build(&self, sb: &Sandbox) -> Option<(Vec<u8>, Option<TarSizes>)> {
        let entries = &self.entries[..self.entries.len().min(16)];
        match self.container {
            Container::Tar => tar_of(entries, sb).map(|(tar, sizes)| (tar, Some(sizes))),
            Container::TarGz => {
                let (tar, sizes) = tar_of(entries, sb)?;
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(&tar).ok()?;
                Some((gz.finish().ok()?, Some(sizes)))
            }
            Container::Zip => zip_of(entries, sb).map(|zip| (zip, None)),
        }
    }
}

fn tar_of(entries: &[Entry], sb: &Sandbox) -> Option<(Vec<u8>, TarSizes)> {
    use tar::{EntryType, Header};
    let uid = u64::from(own_ids().0);
    let gid = u64::from(own_ids().1);
    let mut builder = tar::Builder::new(Vec::new());
    let mut metadata = 0u64;
    let header = |name: &[u8], kind: EntryType, size: u64, mode: u32, link: &[u8]| {
        let mut h = Header::new_gnu();
        {
            let gnu = h.as_gnu_mut().expect("gnu header");
            let n = name.len().min(gnu.name.len());
            gnu.name[..n].copy_from_slice(&name[..n]);
            let l = link.len().min(gnu.linkname.len());
            gnu.linkname[..l].copy_from_slice(&link[..l]);
        }
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(1_600_000_000);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_cksum();
        h
    };
    // An extension record (pax, GNU long name or link): its header, then its data, which counts
    // as metadata.
    let extension = |builder: &mut tar::Builder<Vec<u8>>,
                     metadata: &mut u64,
                     name: &[u8],
                     kind: EntryType,
                     data: &[u8]| {
        let h = header(name, kind, data.len() as u64, 0o644, b"");
        *metadata += data.len() as u64;
        builder.append(&h, data).ok()
    };
    for entry in entries {
        if let Some(len) = entry.comment {
            let comment = pax_record("comment", &"c".repeat(usize::from(len)));
            let kind = EntryType::XGlobalHeader;
            extension(
                &mut builder,
                &mut metadata,
                b"pax_global_header",
                kind,
                &comment,
            )?;
        }
        let name = entry.name.0.render(sb);
        let (kind, data, mode, link): (EntryType, Vec<u8>, u32, String) = match &entry.kind {
            Kind::Dir => (EntryType::Directory, Vec::new(), 0o755, String::new()),
            Kind::File { data, mode } => (
                EntryType::Regular,
                data.clone(),
                u32::from(*mode) & 0o7777,
                String::new(),
            ),
            Kind::Symlink(t) => (EntryType::Symlink, Vec::new(), 0o777, t.0.render(sb)),
            Kind::Hardlink(t) => (EntryType::Link, Vec::new(), 0o644, t.0.render(sb)),
            Kind::Fifo => (EntryType::Fifo, Vec::new(), 0o644, String::new()),
            Kind::CharDevice => (EntryType::Char, Vec::new(), 0o644, String::new()),
        };
        let long_name = name.len() > 100 || matches!(entry.via, Via::GnuLong);
        let long_link = link.len() > 100;
        let mut pax = Vec::new();
        if matches!(entry.via, Via::Pax) {
            pax.extend(pax_record("path", &name));
            if !link.is_empty() {
                pax.extend(pax_record("linkpath", &link));
            }
        } else {
            if long_name {
                let mut n = name.clone().into_bytes();
                n.push(0);
                let kind = EntryType::GNULongName;
                extension(&mut builder, &mut metadata, b"././@LongLink", kind, &n)?;
            }
            if long_link {
                let mut l = link.clone().into_bytes();
                l.push(0);
                let kind = EntryType::GNULongLink;
                extension(&mut builder, &mut metadata, b"././@LongLink", kind, &l)?;
            }
        }
        if !pax.is_empty() {
            extension(
                &mut builder,
                &mut metadata,
                b"PaxHeaders/x",
                EntryType::XHeader,
                &pax,
            )?;
        }
        // With a long name or pax path the header's own field holds a decoy, like tar's
        // truncated copy.
        let field = if matches!(entry.via, Via::Header) && !long_name {
            name.as_bytes()
        } else {
            b"decoy"
        };
        let h = header(field, kind, data.len() as u64, mode, link.as_bytes());
        builder.append(&h, &data[..]).ok()?;
    }
    let tar = builder.into_inner().ok()?;
    let sizes = TarSizes {
        stream: tar.len() as u64,
        metadata,
    };
    Some((tar, sizes))
}

/// One pax record: `LEN key=value\n`, LEN counting itself.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while len.to_string().len() + body.len() != len {
        len = len.to_string().len() + body.len();
    }
    format!("{len}{body}").into_bytes()
}

fn zip_of(entries: &[Entry], sb: &Sandbox) -> Option<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for entry in entries {
        let name = entry.name.0.render(sb);
        match &entry.kind {
            Kind::Dir => zip.add_directory(name, opts).ok()?,
            Kind::File { data, mode } => {
                zip.start_file(name, opts.unix_permissions(u32::from(*mode) & 0o7777))
                    .ok()?;
                zip.write_all(data).ok()?;
            }
            Kind::Symlink(target) => zip.add_symlink(name, target.0.render(sb), opts).ok()?,
            // Zip has no hard links; a fifo and a device as Info-ZIP stores them.
            Kind::Hardlink(_) => continue,
            Kind::Fifo => zip
                .start_file(name, opts.external_attributes(0o010_644 << 16))
                .ok()?,
            Kind::CharDevice => zip
                .start_file(name, opts.external_attributes(0o020_644 << 16))
                .ok()?,
        }
    }
    zip.finish().ok().map(Cursor::into_inner)
}

/// Our own uid and gid, so that keeping ownership works as root or not.
fn own_ids() -> (u32, u32) {
    static IDS: OnceLock<(u32, u32)> = OnceLock::new();
    *IDS.get_or_init(|| {
        let meta = fs::metadata(base()).expect("base metadata");
        (meta.uid(), meta.gid())
    })
}
