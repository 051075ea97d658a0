//! Shared harness for the end-to-end tests: the real hookinit binary, run as PID 1 of a new PID
//! namespace (`unshare --pid --fork --mount-proc`) or as a plain process (then a subreaper).
//!
//! Nothing here sleeps in place of synchronisation: tests wait for lines the processes print,
//! for exit, or for a state they can read in /proc, always with a deadline that fails loudly.

#![allow(dead_code)]

pub mod pty;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// The binary under test: this build's, or the one `HOOKINIT_TEST_BIN` names (the shipped dist
/// build, say, so that the suites prove that very file).
pub fn hookinit_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("HOOKINIT_TEST_BIN")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_hookinit").to_string())
    })
}
pub const PYTHON: &str = "/usr/bin/python3";
/// Generous: CI machines are small and busy. Tests that pass normally finish far sooner.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// How hookinit is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// PID 1 of a new PID namespace, like in a container.
    Pid1,
    /// A plain process: hookinit registers itself as a child subreaper.
    Plain,
}

pub const MODES: [Mode; 2] = [Mode::Pid1, Mode::Plain];

/// A command line that runs hookinit with `args` in `mode`.
pub fn command(mode: Mode, args: &[&str]) -> Command {
    let mut cmd = match mode {
        Mode::Pid1 => {
            let mut c = Command::new("unshare");
            c.args([
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
                hookinit_bin(),
            ]);
            c
        }
        Mode::Plain => Command::new(hookinit_bin()),
    };
    cmd.args(args);
    default_signals(&mut cmd);
    // Tests must not depend on the developer's environment.
    for var in [
        "DEBUG",
        "HOOKINIT_DEBUG",
        "HOOKINIT_VERBOSITY",
        "HOOKINIT_CONFIG",
    ] {
        cmd.env_remove(var);
    }
    // An empty configuration, so that a developer's /etc/hookinit.toml cannot change results.
    cmd.env("HOOKINIT_CONFIG", "/dev/null");
    cmd
}

/// Starts `cmd` with every signal at its default disposition and none blocked, whatever the test
/// run was started with (`nohup` ignores SIGHUP, a CI runner may block signals): hookinit hands
/// the dispositions it was given to the main process, and the tests rely on the defaults. A test
/// that needs another disposition sets it after this.
pub fn default_signals(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only async-signal-safe calls (signal, sigprocmask) on
    // local data.
    unsafe {
        cmd.pre_exec(|| {
            for sig in 1..=libc::SIGRTMAX() {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
            let mut none = std::mem::zeroed::<libc::sigset_t>();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            Ok(())
        });
    }
}

/// A running hookinit with its output read line by line in background threads.
pub struct Running {
    pub child: Child,
    mode: Mode,
    pid: Option<i32>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    pub stdout_seen: Vec<String>,
    pub stderr_seen: Vec<String>,
}

pub fn start(cmd: Command, mode: Mode) -> Running {
    start_with_stderr(cmd, mode, Stdio::piped())
}

/// [`start`] with hookinit's stderr going to `stderr` (then no stderr lines are seen unless it
/// is piped).
pub fn start_with_stderr(mut cmd: Command, mode: Mode, stderr: Stdio) -> Running {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    let mut child = cmd.spawn().expect("spawn hookinit");
    let stdout = lines(child.stdout.take().unwrap());
    let stderr = match child.stderr.take() {
        Some(err) => lines_err(err),
        None => channel().1,
    };
    Running {
        child,
        mode,
        pid: None,
        stdout,
        stderr,
        stdout_seen: Vec::new(),
        stderr_seen: Vec::new(),
    }
}

fn lines(out: ChildStdout) -> Receiver<String> {
    read_lines(out)
}

fn lines_err(err: ChildStderr) -> Receiver<String> {
    read_lines(err)
}

fn read_lines(reader: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first child of `parent`, read from /proc once it exists (unshare forks hookinit).
pub fn wait_for_child_of(parent: i32) -> i32 {
    wait_until("unshare to fork hookinit", || {
        children_of(parent).into_iter().next()
    })
}

/// The children of `parent`, oldest first.
pub fn children_of(parent: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The name the kernel shows for `pid` (`/proc/PID/comm`), if it is still there.
pub fn comm_of(pid: i32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end().to_string())
}

/// What hookinit's plugin process calls itself.
pub const PLUGIN_PROCESS: &str = "hookinit-plugin";

/// hookinit's child named `name` (its plugin process), once it exists.
pub fn wait_for_named_child(hookinit: i32, name: &str) -> i32 {
    wait_until(&format!("hookinit to start {name}"), || {
        children_of(hookinit)
            .into_iter()
            .find(|&c| comm_of(c).as_deref() == Some(name))
    })
}

/// hookinit's main process (its child that is not the plugin process), once it exists.
pub fn wait_for_main_process(hookinit: i32) -> i32 {
    wait_until("hookinit to start the main process", || {
        children_of(hookinit)
            .into_iter()
            .find(|&c| comm_of(c).is_some_and(|n| n != PLUGIN_PROCESS))
    })
}

/// Polls `check` until it returns Some, failing the test after DEADLINE. Used only for states
/// that can be observed (a file in /proc), never as a stand-in for an event.
pub fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Running {
    /// The host pid of hookinit itself (for Pid1, the child of unshare). Looked up on first use,
    /// while hookinit is known to be running.
    pub fn pid(&mut self) -> i32 {
        let mode = self.mode;
        let id = self.child.id() as i32;
        *self.pid.get_or_insert_with(|| match mode {
            Mode::Plain => id,
            Mode::Pid1 => wait_for_child_of(id),
        })
    }

    /// Waits for a stdout line containing `needle`; returns it.
    pub fn expect_stdout(&mut self, needle: &str) -> String {
        expect(&self.stdout, &mut self.stdout_seen, needle, "stdout")
    }

    /// Waits for a stderr line containing `needle`; returns it.
    pub fn expect_stderr(&mut self, needle: &str) -> String {
        expect(&self.stderr, &mut self.stderr_seen, needle, "stderr")
    }

    pub fn signal(&mut self, sig: i32) {
        let pid = self.pid();
        // SAFETY: kill(2) on the pid of a process this test started.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig})");
    }

    /// Waits for exit and drains the rest of the output.
    pub fn wait(self) -> Finished {
        self.wait_at_most(DEADLINE)
    }

    /// [`Running::wait`] for a test that expects hookinit to take longer than [`DEADLINE`].
    pub fn wait_at_most(mut self, deadline: Duration) -> Finished {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > deadline {
                let _ = self.child.kill();
                panic!(
                    "hookinit did not exit; stdout {:?} stderr {:?}",
                    self.stdout_seen, self.stderr_seen
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        self.stdout_seen.extend(self.stdout.iter());
        self.stderr_seen.extend(self.stderr.iter());
        Finished {
            status,
            stdout: std::mem::take(&mut self.stdout_seen),
            stderr: std::mem::take(&mut self.stderr_seen),
        }
    }
}

/// A test that fails (or returns) while hookinit still runs must not leave it running for the
/// rest of the suite: SIGKILL (for `Mode::Pid1` that is unshare, whose `--kill-child` takes the
/// whole namespace down), then reap.
impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn expect(rx: &Receiver<String>, seen: &mut Vec<String>, needle: &str, name: &str) -> String {
    let start = Instant::now();
    loop {
        let left = DEADLINE.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(needle) {
                    return line;
                }
            }
            Err(_) => panic!("no {name} line containing {needle:?}; saw {seen:?}"),
        }
    }
}

pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl Finished {
    /// hookinit's log lines that contain `needle`.
    pub fn stderr_lines_with(&self, needle: &str) -> Vec<&String> {
        self.stderr.iter().filter(|l| l.contains(needle)).collect()
    }

    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("hookinit itself died: {:?}", self.status))
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.join("\n")
    }
}

/// Runs to completion with no interaction.
pub fn run(mode: Mode, args: &[&str]) -> Finished {
    start(command(mode, args), mode).wait()
}

/// Python that defines `wait_for_signals()`, a loop that lets the Python signal handlers run and
/// never returns on its own. Not `signal.pause()`: a signal that arrives after the interpreter
/// last checked for pending handlers but before pause() blocks has already run its C handler,
/// so pause() sleeps on with the Python handler never run (seen as a rare hang). Every signal
/// writes a byte to the wakeup pipe, so the blocking read returns however late the signal came.
pub const PY_WAIT_FOR_SIGNALS: &str = r#"
import os as _os, signal as _signal
def wait_for_signals():
    r, w = _os.pipe()
    _os.set_blocking(w, False)
    _signal.set_wakeup_fd(w)
    while True:
        _os.read(r, 512)
"#;

/// A Python child that prints the name of every signal in `names` it receives, after "ready".
/// It exits 0 on SIGUSR2 unless USR2 is being watched, in which case it exits on SIGALRM.
pub fn signal_printer(names: &[&str]) -> String {
    let list = names
        .iter()
        .map(|n| format!("signal.SIG{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
import signal, sys, os
watched = [{list}]
def show(n, f):
    print(signal.Signals(n).name, flush=True)
for s in watched:
    signal.signal(s, show)
stopper = signal.SIGALRM if signal.SIGUSR2 in watched else signal.SIGUSR2
signal.signal(stopper, lambda n, f: sys.exit(0))
{PY_WAIT_FOR_SIGNALS}
print("ready", os.getpid(), os.getpgrp(), flush=True)
wait_for_signals()
"#
    )
}

/// The state letter of process `pid` (`R`, `S`, `Z`, ...); None once it is gone.
pub fn process_state(pid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().next().map(str::to_string)
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

pub fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

pub fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Builds plugin crates of the `plugins/` workspace for wasm32-wasip2 (release) and returns the
/// directory holding the `.wasm` files. Cargo keeps them up to date; the outer cargo's variables
/// are cleared so that the nested build is an ordinary one.
pub fn build_plugins(packages: &[&str]) -> PathBuf {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("plugins");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&plugins)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"]);
    for package in packages {
        cmd.args(["-p", package]);
    }
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if (key.starts_with("CARGO_") && key != "CARGO_HOME")
            || key.starts_with("RUSTC")
            || key == "RUSTFLAGS"
        {
            cmd.env_remove(&*key);
        }
    }
    let status = cmd.status().expect("run cargo for the plugins");
    assert!(
        status.success(),
        "building plugins {packages:?} failed (rustup target add wasm32-wasip2?)"
    );
    plugins.join("target/wasm32-wasip2/release")
}

/// A compile cache shared by the tests of one run (content-addressed, so sharing is safe).
pub fn plugin_cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("plugins/target/hookinit-test-cache")
}

/// The core copy and the text of its summary that the coredump plugin left in `dir`.
pub fn collected_core(dir: &Path, context: &str) -> (PathBuf, String) {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let find = |ext: &str| {
        files
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .cloned()
            .unwrap_or_else(|| panic!("no .{ext} file in {}: {files:?}\n{context}", dir.display()))
    };
    let summary = std::fs::read_to_string(find("txt")).unwrap();
    (find("core"), summary)
}
