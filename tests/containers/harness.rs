//! Harness for the container tests: the static hookinit (built once per run), root filesystems
//! from busybox-static, podman images and containers, runc bundles, a pseudo-terminal, and
//! tarballs to serve from the loopback HTTP server (hookinit-test-http).
//!
//! Every image, container and bundle is owned by a guard whose `Drop` removes it, so a failing
//! assertion leaves nothing behind. Names carry the test process's pid
//! (`hookinit-e2e-PID-N-TAG`); [`static_hookinit`] also sweeps what a killed earlier run left
//! (names whose pid is no longer running).
//!
//! Nothing sleeps in place of synchronisation: waits poll observable state (`podman inspect`,
//! `podman logs`, `runc state`, a log file, pty output) against `common::DEADLINE` and fail loudly.

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::common::DEADLINE;
pub use crate::common::pty::Pty;

// ---------------------------------------------------------------------------------------------
// Tools

/// podman with the settings that work on these machines (see ../shared/containers.md): vfs
/// storage, runc, cgroupfs.
pub const PODMAN_GLOBAL: [&str; 6] = [
    "--storage-driver",
    "vfs",
    "--runtime",
    "runc",
    "--cgroup-manager",
    "cgroupfs",
];
/// The open-file limit podman asks for by default is refused here.
pub const PODMAN_ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=1000:1000",
];
/// Where hookinit lives in the test images, as in examples/Dockerfile.add-to-image.
pub const HOOKINIT_IN_IMAGE: &str = "/usr/local/bin/hookinit";
pub const BUSYBOX: &str = "/bin/busybox";
pub const PYTHON: &str = "/usr/bin/python3";

/// The target and cargo profile of the static binary built when the tests themselves were not
/// built for musl (`cargo test` without `--target`).
pub const MUSL: &str = "x86_64-unknown-linux-musl";
pub const PROFILE: &str = "dev";

/// Fails the test loudly if `tool` is not installed: these tests never skip silently.
pub fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is required by tests/containers.rs and is not installed \
         (apt-get install -y podman runc busybox-static musl-tools; `bash .ci/run` does it)"
    );
}

pub fn podman() -> Command {
    require("podman");
    let mut cmd = Command::new("podman");
    cmd.args(PODMAN_GLOBAL).stdin(Stdio::null());
    cmd
}

pub fn runc() -> Command {
    require("runc");
    let mut cmd = Command::new("runc");
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to completion (with a deadline) and returns its output.
pub fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = describe(cmd);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    // Read both pipes in threads so that a chatty command cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let status = wait_child(&mut child, &what);
    Output {
        status,
        stdout: out_thread.join().unwrap(),
        stderr: err_thread.join().unwrap(),
    }
}

/// Runs `cmd`, asserts success, returns its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let what = describe(cmd);
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{what} failed with {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits for `child` with the deadline; kills it and fails if it does not end.
pub fn wait_child(child: &mut Child, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Polls `check` every 50 ms (each poll runs a podman or runc command) until it returns Some.
pub fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// Names

static COUNTER: AtomicUsize = AtomicUsize::new(0);
const PREFIX: &str = "hookinit-e2e-";

/// A name no other test (or concurrent run) uses: `hookinit-e2e-PID-N-TAG`.
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{PREFIX}{}-{n}-{tag}", std::process::id())
}

/// The pid in a name made by [`unique_name`], if `name` is one.
fn owner_pid(name: &str) -> Option<u32> {
    let name = name.rsplit('/').next()?; // localhost/hookinit-e2e-...:latest
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

fn owner_is_gone(name: &str) -> bool {
    owner_pid(name).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
}

/// Removes containers, images and runc containers left by earlier runs that were killed before
/// their guards ran (their owner pid is gone). Concurrent runs are left alone.
fn sweep_leftovers() {
    if let Ok(out) = Command::new("podman")
        .args(PODMAN_GLOBAL)
        .args(["ps", "-a", "--format", "{{.Names}}"])
        .output()
    {
        for name in String::from_utf8_lossy(&out.stdout).lines() {
            if owner_is_gone(name) {
                let _ = podman()
                    .args(["rm", "-f", "-t", "0", name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
    if let Ok(out) = Command::new("podman")
        .args(PODMAN_GLOBAL)
        .args(["images", "--format", "{{.Repository}}"])
        .output()
    {
        for name in String::from_utf8_lossy(&out.stdout).lines() {
            if owner_is_gone(name) {
                let _ = podman()
                    .args(["rmi", "-f", name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
    if let Ok(out) = Command::new("runc").args(["list", "-q"]).output() {
        for id in String::from_utf8_lossy(&out.stdout).lines() {
            if owner_is_gone(id) {
                let _ = runc()
                    .args(["delete", "-f", id])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The static binary

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// The static hookinit, built once per test run:
/// `cargo build --profile dist --target x86_64-unknown-linux-musl -p hookinit`.
///
/// It gets a target dir of its own (`target/containers`): `cargo test` holds the lock on the
/// workspace's target dir while tests run, so a nested build there would wait forever. The first
/// build takes minutes; later runs are incremental.
///
/// `HOOKINIT_TEST_STATIC_BIN=PATH` uses that binary instead (a CI artifact, or a build of another
/// tree); it is checked the same way.
pub fn static_hookinit() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        require("podman");
        require("runc");
        sweep_leftovers();
        if let Some(given) = std::env::var_os("HOOKINIT_TEST_STATIC_BIN").filter(|p| !p.is_empty())
        {
            let bin = PathBuf::from(given);
            require_static_executable(&bin);
            return bin;
        }
        // `cargo test --target x86_64-unknown-linux-musl` (what .ci/run does) builds the binary
        // under test static already: the containers run the very binary the other tests run.
        let under_test = PathBuf::from(env!("CARGO_BIN_EXE_hookinit"));
        let bytes =
            std::fs::read(&under_test).unwrap_or_else(|e| panic!("{}: {e}", under_test.display()));
        if check_static_executable(&bytes).is_ok() {
            return under_test;
        }
        require("musl-gcc");
        let root = workspace_root();
        let target_dir = root.join("target").join("containers");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&root)
            .args(["build", "--quiet", "--locked", "--profile", PROFILE])
            .args(["--target", MUSL, "-p", "hookinit", "--target-dir"])
            .arg(&target_dir);
        // Settings meant for the outer build must not redirect this one.
        for var in [
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "CARGO_BUILD_TARGET_DIR",
        ] {
            cmd.env_remove(var);
        }
        // Straight to stderr, past the test harness's capture: the first build takes minutes.
        let _ = writeln!(
            std::io::stderr(),
            "tests/containers.rs: building the static hookinit ({PROFILE} profile, {MUSL}) in {}",
            target_dir.display()
        );
        let started = Instant::now();
        let status = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .expect("cannot run cargo");
        assert!(
            status.success(),
            "building the static hookinit failed ({status}; cargo's errors are above); is the \
             target installed? (rustup target add {MUSL}; apt-get install musl-tools)"
        );
        let _ = writeln!(
            std::io::stderr(),
            "tests/containers.rs: static hookinit ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let bin = target_dir.join(MUSL).join("debug").join("hookinit");
        require_static_executable(&bin);
        bin
    })
}

/// What the ELF header and program headers say about linking.
#[derive(Debug)]
pub struct ElfLinking {
    /// Position independent (ET_DYN).
    pub pie: bool,
    /// Has a program interpreter (PT_INTERP): dynamically linked.
    pub interpreter: bool,
    /// Needs shared libraries (DT_NEEDED).
    pub needs_libraries: bool,
}

impl ElfLinking {
    pub fn is_static(&self) -> bool {
        !self.interpreter && !self.needs_libraries
    }
}

/// Reads the linking facts of a 64-bit little-endian x86-64 ELF file.
pub fn elf_linking(elf: &[u8]) -> Result<ElfLinking, String> {
    let bytes = |o: usize, n: usize| elf.get(o..o + n).ok_or_else(|| "truncated ELF".to_string());
    let u16_at = |o| bytes(o, 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o| bytes(o, 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()));
    let u64_at = |o| bytes(o, 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
    if elf.get(..6) != Some(b"\x7fELF\x02\x01") {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    if u16_at(18)? != 62 {
        return Err("not x86-64".into());
    }
    let pie = u16_at(16)? == 3;
    let phoff = u64_at(32)? as usize;
    let phentsize = u16_at(54)? as usize;
    let phnum = u16_at(56)? as usize;
    let mut interpreter = false;
    let mut needs_libraries = false;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        match u32_at(ph)? {
            3 => interpreter = true,
            2 => {
                let (offset, size) = (u64_at(ph + 8)? as usize, u64_at(ph + 32)? as usize);
                for entry in (offset..offset + size).step_by(16) {
                    match u64_at(entry)? {
                        0 => break,
                        1 => needs_libraries = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(ElfLinking {
        pie,
        interpreter,
        needs_libraries,
    })
}

/// Panics unless `bin` is what hookinit ships (see [`check_static_executable`]).
fn require_static_executable(bin: &Path) {
    let bytes = std::fs::read(bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    if let Err(why) = check_static_executable(&bytes) {
        panic!(
            "{} is not a static, non-PIE executable: {why}",
            bin.display()
        );
    }
}

/// Checks that `elf` is what hookinit ships: a static executable (no program interpreter, no
/// shared library) linked without PIE (.cargo/config.toml: no relocations to apply at start).
pub fn check_static_executable(elf: &[u8]) -> Result<(), String> {
    let linking = elf_linking(elf)?;
    if linking.is_static() && !linking.pie {
        Ok(())
    } else {
        Err(format!("{linking:?}"))
    }
}

fn check_static(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let linking = elf_linking(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        linking.is_static(),
        "{} is dynamically linked ({linking:?}); install busybox-static (not busybox)",
        path.display()
    );
}

// ---------------------------------------------------------------------------------------------
// Root filesystems

/// A root filesystem being assembled in a temporary directory (`DIR/rootfs`; `DIR` doubles as a
/// runc bundle and holds the tarball for `podman import`).
pub struct Rootfs {
    dir: tempfile::TempDir,
}

impl Rootfs {
    /// Nothing at all, not even hookinit: `FROM scratch`.
    pub fn scratch() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hookinit-e2e-")
            .tempdir()
            .expect("tempdir");
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        Rootfs { dir }
    }

    /// A small distribution with hookinit: [`Rootfs::busybox_only`] plus the static hookinit in
    /// /usr/local/bin.
    pub fn busybox() -> Self {
        Rootfs::busybox_only().with_hookinit()
    }

    /// A small distribution: busybox-static with every applet linked in /bin, and the
    /// directories a runtime expects.
    pub fn busybox_only() -> Self {
        let rootfs = Rootfs::scratch();
        rootfs.copy(BUSYBOX, "/bin/busybox", 0o755);
        check_static(Path::new(BUSYBOX));
        let list = run_ok(Command::new(BUSYBOX).arg("--list"));
        for applet in list.lines().map(str::trim).filter(|a| !a.is_empty()) {
            if applet != "busybox" {
                rootfs.symlink("busybox", &format!("/bin/{applet}"));
            }
        }
        for dir in ["/proc", "/sys", "/dev", "/tmp", "/run", "/etc", "/root"] {
            rootfs.mkdir(dir);
        }
        std::fs::set_permissions(rootfs.path("/tmp"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        rootfs.file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644);
        rootfs.file("/etc/group", "root:x:0:\n", 0o644);
        rootfs
    }

    /// Adds the static hookinit as /usr/local/bin/hookinit.
    pub fn with_hookinit(self) -> Self {
        self.copy(static_hookinit(), HOOKINIT_IN_IMAGE, 0o755);
        self
    }

    /// The host path of `path` inside the root filesystem.
    pub fn path(&self, path: &str) -> PathBuf {
        self.root().join(path.trim_start_matches('/'))
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// The directory around the root filesystem (the runc bundle).
    pub fn bundle(&self) -> &Path {
        self.dir.path()
    }

    pub fn mkdir(&self, path: &str) -> &Self {
        std::fs::create_dir_all(self.path(path)).unwrap();
        self
    }

    fn parent_of(&self, path: &str) -> PathBuf {
        let host = self.path(path);
        std::fs::create_dir_all(host.parent().unwrap()).unwrap();
        host
    }

    /// Writes a file (e.g. an entrypoint script) with `mode`.
    pub fn file(&self, path: &str, contents: impl AsRef<[u8]>, mode: u32) -> &Self {
        let host = self.parent_of(path);
        std::fs::write(&host, contents).unwrap();
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    /// Copies a host file in.
    pub fn copy(&self, from: impl AsRef<Path>, path: &str, mode: u32) -> &Self {
        let host = self.parent_of(path);
        std::fs::copy(from.as_ref(), &host)
            .unwrap_or_else(|e| panic!("copy {} to {path}: {e}", from.as_ref().display()));
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    pub fn symlink(&self, target: &str, path: &str) -> &Self {
        let host = self.parent_of(path);
        std::os::unix::fs::symlink(target, host).unwrap();
        self
    }

    /// The root filesystem as a tarball (owned by root), for `podman import`.
    pub fn tarball(&self) -> PathBuf {
        let tar = self.dir.path().join("rootfs.tar");
        run_ok(
            Command::new("tar")
                .arg("-C")
                .arg(self.root())
                .args(["--numeric-owner", "--owner=0", "--group=0", "-cf"])
                .arg(&tar)
                .arg("."),
        );
        tar
    }
}

// ---------------------------------------------------------------------------------------------
// podman images

/// A podman image, removed on drop.
pub struct Image {
    pub name: String,
}

impl Image {
    /// `podman import` of the root filesystem, with hookinit as ENTRYPOINT (like
    /// examples/Dockerfile.add-to-image) and `cmd` as CMD (none if empty).
    pub fn import(rootfs: &Rootfs, tag: &str, cmd: &[&str]) -> Image {
        let mut changes = vec![format!(
            "ENTRYPOINT {}",
            json_array(&[HOOKINIT_IN_IMAGE, "--"])
        )];
        if !cmd.is_empty() {
            changes.push(format!("CMD {}", json_array(cmd)));
        }
        Image::import_with(rootfs, tag, &changes)
    }

    /// `podman import` with Dockerfile instructions (`--change "CMD [...]"`).
    pub fn import_with(rootfs: &Rootfs, tag: &str, changes: &[String]) -> Image {
        let name = format!("localhost/{}:latest", unique_name(tag));
        let tar = rootfs.tarball();
        let mut import = podman();
        import.arg("import");
        for change in changes {
            import.args(["--change", change]);
        }
        import.arg(&tar).arg(&name);
        let image = Image { name };
        run_ok(&mut import);
        image
    }

    /// `podman image inspect --format FORMAT` (trimmed).
    pub fn inspect(&self, format: &str) -> String {
        run_ok(podman().args(["image", "inspect", "--format", format, &self.name]))
            .trim()
            .to_string()
    }

    /// `podman build -f CONTAINERFILE CONTEXT` with `--build-arg`s.
    pub fn build(containerfile: &Path, context: &Path, args: &[(&str, &str)], tag: &str) -> Image {
        let name = format!("localhost/{}:latest", unique_name(tag));
        let mut build = podman();
        build.arg("build").arg("-f").arg(containerfile);
        for (key, value) in args {
            build.args(["--build-arg", &format!("{key}={value}")]);
        }
        build.args(["-t", &name]).arg(context);
        let image = Image { name };
        run_ok(&mut build);
        image
    }

    /// A `podman run` of this image, to be configured.
    pub fn run(&self) -> Run<'_> {
        Run {
            image: self,
            network: "none".into(),
            args: Vec::new(),
        }
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = podman()
            .args(["rmi", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

pub fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn json_array(items: &[&str]) -> String {
    let items: Vec<String> = items.iter().map(|s| json_string(s)).collect();
    format!("[{}]", items.join(","))
}

// ---------------------------------------------------------------------------------------------
// podman containers

/// `podman run` options: `--network none` unless told otherwise, the ulimits, a unique name.
pub struct Run<'a> {
    image: &'a Image,
    network: String,
    args: Vec<OsString>,
}

impl Run<'_> {
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.args.push("-e".into());
        self.args.push(format!("{name}={value}").into());
        self
    }

    /// `--network host`: the container's 127.0.0.1 is the test's (for an `HttpServer`).
    pub fn host_network(mut self) -> Self {
        self.network = "host".into();
        self
    }

    /// `-v HOST:CTR[:OPTIONS]`, e.g. a plugin directory mounted read-only.
    pub fn volume(mut self, host: &Path, ctr: &str, options: &str) -> Self {
        let mut spec = host.as_os_str().to_owned();
        spec.push(format!(":{ctr}"));
        if !options.is_empty() {
            spec.push(format!(":{options}"));
        }
        self.args.push("-v".into());
        self.args.push(spec);
        self
    }

    /// Any other `podman run` option.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    fn command(self, mode: &[&str], cmd: &[&str], tag: &str) -> (Container, Command) {
        let container = Container {
            name: unique_name(tag),
        };
        let mut run = podman();
        run.arg("run")
            .args(mode)
            .args(["--name", &container.name, "--network", &self.network])
            .args(PODMAN_ULIMITS)
            .args(&self.args)
            .arg(&self.image.name)
            .args(cmd);
        (container, run)
    }

    /// `podman run -d`: returns once the container is running.
    pub fn detached(self, tag: &str, cmd: &[&str]) -> Container {
        let (container, mut run) = self.command(&["-d"], cmd, tag);
        run_ok(&mut run);
        container
    }

    /// `podman run` in the foreground, to completion: the container's output and status.
    pub fn foreground(self, tag: &str, cmd: &[&str]) -> (Container, Output) {
        let (container, mut run) = self.command(&[], cmd, tag);
        let out = output(&mut run);
        (container, out)
    }

    /// `podman run -it` on a new pseudo-terminal (the test plays the user's terminal).
    pub fn interactive(self, tag: &str, cmd: &[&str]) -> (Container, Pty) {
        let (container, run) = self.command(&["-i", "-t"], cmd, tag);
        (container, Pty::spawn(run))
    }
}

/// A podman container, removed (`rm -f -t 0`) on drop.
pub struct Container {
    pub name: String,
}

impl Container {
    /// `podman logs`: stdout and stderr.
    pub fn logs(&self) -> String {
        let out = output(podman().args(["logs", &self.name]));
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        text
    }

    /// Waits until the logs have a line containing `needle`; returns that line.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let logs = self.logs();
            if let Some(line) = logs.lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{}: no log line containing {needle:?} after {DEADLINE:?}; status {}; logs:\n{logs}",
                self.name,
                self.inspect("{{.State.Status}}")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `podman inspect --format FORMAT` (trimmed).
    pub fn inspect(&self, format: &str) -> String {
        run_ok(podman().args(["inspect", "--format", format, &self.name]))
            .trim()
            .to_string()
    }

    /// `running`, `exited`, ...
    pub fn status(&self) -> String {
        self.inspect("{{.State.Status}}")
    }

    pub fn exit_code(&self) -> i32 {
        let code = self.inspect("{{.State.ExitCode}}");
        code.parse()
            .unwrap_or_else(|_| panic!("{}: exit code {code:?}", self.name))
    }

    /// Waits until `podman inspect` reports `status`.
    pub fn wait_status(&self, status: &str) {
        poll(&format!("{} to be {status}", self.name), || {
            (self.status() == status).then_some(())
        });
    }

    /// `podman exec NAME ARGS...` to completion.
    pub fn exec(&self, args: &[&str]) -> Output {
        output(podman().args(["exec", &self.name]).args(args))
    }

    /// `podman exec`, asserting success; returns stdout.
    pub fn exec_ok(&self, args: &[&str]) -> String {
        run_ok(podman().args(["exec", &self.name]).args(args))
    }

    /// `podman stop -t TIMEOUT`: returns how long it took.
    pub fn stop(&self, timeout_s: u32) -> Duration {
        let started = Instant::now();
        run_ok(podman().args(["stop", "-t", &timeout_s.to_string(), &self.name]));
        started.elapsed()
    }

    /// `podman kill -s SIGNAL`.
    pub fn kill(&self, signal: &str) {
        run_ok(podman().args(["kill", "-s", signal, &self.name]));
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman()
            .args(["rm", "-f", "-t", "0", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

// ---------------------------------------------------------------------------------------------
// runc

/// The role containerd-shim plays for Docker: a child subreaper that starts `runc run -d` (whose
/// container init is then reparented to it) and reports the init's exit status, which runc
/// itself does not keep for detached containers. Prints `started PID`, then `exit CODE`.
const SHIM: &str = r#"
import ctypes, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    sys.exit("shim: prctl(PR_SET_CHILD_SUBREAPER) failed")
bundle, cid, log = sys.argv[1:4]
pid_file = os.path.join(bundle, "init.pid")
with open(log, "ab") as out:
    rc = subprocess.call(["runc", "run", "-d", "--bundle", bundle, "--pid-file", pid_file, cid],
                         stdin=subprocess.DEVNULL, stdout=out, stderr=out)
if rc != 0:
    print("runc-failed", rc, flush=True)
    sys.exit(1)
pid = int(open(pid_file).read())
print("started", pid, flush=True)
while True:
    try:
        child, status = os.waitpid(-1, 0)
    except ChildProcessError:
        print("lost", flush=True)
        sys.exit(1)
    if child == pid:
        break
code = os.waitstatus_to_exitcode(status)
print("exit", code if code >= 0 else 128 - code, flush=True)
"#;

/// A container run by plain runc (`runc run -d`), deleted (`runc delete -f`) on drop.
pub struct RuncContainer {
    pub id: String,
    rootfs: Rootfs,
    log: PathBuf,
    shim: Child,
    shim_lines: Receiver<String>,
    exit: Option<i32>,
}

impl RuncContainer {
    /// `runc run -d` of `rootfs` with `args` as the process (args[0] is PID 1) and `env` added to
    /// the default PATH and TERM. Not a terminal; the root filesystem is writable.
    pub fn run_detached(rootfs: Rootfs, tag: &str, args: &[&str], env: &[&str]) -> RuncContainer {
        require("runc");
        let id = unique_name(tag);
        let bundle = rootfs.bundle().to_path_buf();
        run_ok(runc().arg("spec").arg("--bundle").arg(&bundle));
        let config_path = bundle.join("config.json");
        let config = std::fs::read_to_string(&config_path).unwrap();
        let config = replace_once(&config, "\"terminal\": true", "\"terminal\": false");
        let config = replace_once(&config, "\"readonly\": true", "\"readonly\": false");
        let config = replace_once(
            &config,
            "\"hostname\": \"runc\"",
            &format!("\"hostname\": {}", json_string(&id)),
        );
        let config = replace_string_array(&config, "args", args.iter().copied());
        let mut full_env = vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
        ];
        full_env.extend_from_slice(env);
        let config = replace_string_array(&config, "env", full_env.into_iter());
        std::fs::write(&config_path, config).unwrap();

        let log = bundle.join("container.log");
        std::fs::write(&log, b"").unwrap();
        let mut shim = Command::new(PYTHON)
            .arg("-c")
            .arg(SHIM)
            .arg(&bundle)
            .arg(&id)
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the runc shim (python3)");
        let (tx, shim_lines) = channel();
        let stdout = shim.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut container = RuncContainer {
            id,
            rootfs,
            log,
            shim,
            shim_lines,
            exit: None,
        };
        let line = container.shim_line();
        assert!(
            line.starts_with("started "),
            "runc run -d {} failed: {line}\n{}",
            container.id,
            container.log()
        );
        container
    }

    fn shim_line(&mut self) -> String {
        self.shim_lines.recv_timeout(DEADLINE).unwrap_or_else(|_| {
            panic!("runc shim for {}: no answer; log:\n{}", self.id, self.log())
        })
    }

    /// What the container wrote to stdout and stderr.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// Waits until the log has a line containing `needle`; returns that line.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| l.contains(needle)) {
                return line.to_string();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{}: no log line containing {needle:?}; state {}; log:\n{log}",
                self.id,
                self.state()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `runc state`'s status: `created`, `running`, `paused`, `stopped`.
    pub fn state(&self) -> String {
        let out = output(runc().args(["state", &self.id]));
        let text = String::from_utf8_lossy(&out.stdout);
        json_field(&text, "status")
            .unwrap_or_else(|| format!("unknown ({})", String::from_utf8_lossy(&out.stderr).trim()))
    }

    /// `runc exec ID ARGS...` to completion.
    pub fn exec(&self, args: &[&str]) -> Output {
        output(runc().args(["exec", &self.id]).args(args))
    }

    pub fn exec_ok(&self, args: &[&str]) -> String {
        run_ok(runc().args(["exec", &self.id]).args(args))
    }

    /// `runc kill ID SIGNAL`.
    pub fn kill(&self, signal: &str) {
        run_ok(runc().args(["kill", &self.id, signal]));
    }

    /// The container init's exit status (what `docker wait` reports), waiting for it.
    pub fn wait_exit(&mut self) -> i32 {
        if let Some(code) = self.exit {
            return code;
        }
        let line = self.shim_line();
        let code = line
            .strip_prefix("exit ")
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or_else(|| panic!("runc shim for {}: {line}", self.id));
        self.exit = Some(code);
        code
    }

    pub fn rootfs(&self) -> &Rootfs {
        &self.rootfs
    }
}

impl Drop for RuncContainer {
    fn drop(&mut self) {
        let _ = runc()
            .args(["delete", "-f", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.shim.kill();
        let _ = self.shim.wait();
    }
}

fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "`runc spec` output has no {from:?}: this runc writes another format"
    );
    text.replacen(from, to, 1)
}

/// Replaces the JSON array of strings under `"key": [` (the first one) with `items`.
fn replace_string_array<'a>(json: &str, key: &str, items: impl Iterator<Item = &'a str>) -> String {
    let open = format!("\"{key}\": [");
    let start = json
        .find(&open)
        .unwrap_or_else(|| panic!("`runc spec` output has no {open:?}"));
    let end = start + json[start..].find(']').expect("array end");
    let items: Vec<String> = items.map(json_string).collect();
    format!(
        "{}\"{key}\": [{}{}",
        &json[..start],
        items.join(", "),
        &json[end..]
    )
}

/// The string value of `"key": "value"` in a JSON text (enough for `runc state`).
fn json_field(json: &str, key: &str) -> Option<String> {
    let open = format!("\"{key}\": \"");
    let start = json.find(&open)? + open.len();
    let end = start + json[start..].find('"')?;
    Some(json[start..end].to_string())
}

// ---------------------------------------------------------------------------------------------
// Archives (for fstree=...)

/// A gzip-compressed tarball of `files` (path inside the archive, contents, mode), owned by root,
/// as an operator would serve to `fstree=`.
pub fn tar_gz(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, contents, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(*mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, *contents)
            .unwrap_or_else(|e| panic!("tar {path}: {e}"));
    }
    tar.into_inner()
        .and_then(|gz| gz.finish())
        .expect("finish the tarball")
}
